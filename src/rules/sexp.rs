//! A tiny s-expression reader that remembers where everything is (line:col), for rule files.
//!
//! Why not the `symbolic_expressions` crate (egg prints and parses terms with it, so term
//! dumps such as `check-rules`' counterexamples already go through it): its parser keeps no
//! positions (its `Sexp` has no spans, so an error inside a form, e.g. an unknown condition at
//! `t.rules:1:30`, could only point at the form's start), knows no `;` comments (the rule
//! comment above a form is the rule's identity), makes a tab part of an atom, and recurses
//! without a depth limit (a file nested a million parentheses deep overflows the stack;
//! [`MAX_DEPTH`] refuses it with `file:line:col: nesting deeper than 256`). Splitting the file
//! into top-level forms and handing each to the crate would keep the first two only for the
//! form's start, so this reader stays.

/// A position in a file (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Line.
    pub line: usize,
    /// Column (characters).
    pub col: usize,
}

/// An s-expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Sexp {
    /// An atom (symbol, number, `?var`, `:keyword`).
    Atom(String, Span),
    /// A parenthesised list.
    List(Vec<Sexp>, Span),
}

impl Sexp {
    /// Where it starts.
    pub fn span(&self) -> Span {
        match self {
            Sexp::Atom(_, s) | Sexp::List(_, s) => *s,
        }
    }
}

/// The deepest nesting of parentheses a rule file may have (rules nest a dozen levels; the
/// limit keeps the reader and everything that walks its result off the end of the stack).
pub const MAX_DEPTH: usize = 256;

/// A top-level form with the `;` comment lines right above it.
#[derive(Debug, Clone)]
pub struct Form {
    /// The form.
    pub sexp: Sexp,
    /// Comment text directly above it (without the `;`s), lines joined by `\n`.
    pub comment: String,
}

/// Reads every top-level form; errors are `(span, message)`.
pub fn read_forms(text: &str) -> Result<Vec<Form>, (Span, String)> {
    let chars: Vec<char> = text.chars().collect();
    let mut p = Reader {
        chars: &chars,
        pos: 0,
        line: 1,
        col: 1,
        comment: Vec::new(),
    };
    let mut forms = Vec::new();
    loop {
        let blank_lines = p.skip_ws_collect_comments();
        let _ = blank_lines;
        if p.pos >= chars.len() {
            return Ok(forms);
        }
        let comment = std::mem::take(&mut p.comment).join("\n");
        let sexp = p.read(0)?;
        forms.push(Form { sexp, comment });
    }
}

struct Reader<'a> {
    chars: &'a [char],
    pos: usize,
    line: usize,
    col: usize,
    comment: Vec<String>,
}

impl Reader<'_> {
    fn span(&self) -> Span {
        Span {
            line: self.line,
            col: self.col,
        }
    }

    fn bump(&mut self) -> char {
        let c = self.chars[self.pos];
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        c
    }

    /// Skips white space and comments; comments directly above a form are kept, a blank line
    /// drops those gathered so far.
    fn skip_ws_collect_comments(&mut self) -> bool {
        let mut newlines = 0;
        while self.pos < self.chars.len() {
            match self.chars[self.pos] {
                ';' => {
                    let mut s = String::new();
                    while self.pos < self.chars.len() && self.chars[self.pos] != '\n' {
                        s.push(self.bump());
                    }
                    self.comment
                        .push(s.trim_start_matches(';').trim().to_string());
                    newlines = 0;
                }
                '\n' => {
                    self.bump();
                    newlines += 1;
                    if newlines > 1 {
                        self.comment.clear();
                    }
                }
                c if c.is_whitespace() => {
                    self.bump();
                }
                _ => break,
            }
        }
        newlines > 1
    }

    fn skip_ws(&mut self) {
        while self.pos < self.chars.len() {
            match self.chars[self.pos] {
                ';' => {
                    while self.pos < self.chars.len() && self.chars[self.pos] != '\n' {
                        self.bump();
                    }
                }
                c if c.is_whitespace() => {
                    self.bump();
                }
                _ => break,
            }
        }
    }

    /// Reads one s-expression nested `depth` lists deep (recursion bounded by [`MAX_DEPTH`]).
    fn read(&mut self, depth: usize) -> Result<Sexp, (Span, String)> {
        self.skip_ws();
        let start = self.span();
        if self.pos >= self.chars.len() {
            return Err((start, "unexpected end of file".into()));
        }
        match self.chars[self.pos] {
            '(' if depth >= MAX_DEPTH => Err((start, format!("nesting deeper than {MAX_DEPTH}"))),
            '(' => {
                self.bump();
                let mut items = Vec::new();
                loop {
                    self.skip_ws();
                    if self.pos >= self.chars.len() {
                        return Err((start, "unclosed `(`".into()));
                    }
                    if self.chars[self.pos] == ')' {
                        self.bump();
                        return Ok(Sexp::List(items, start));
                    }
                    items.push(self.read(depth + 1)?);
                }
            }
            ')' => Err((start, "unexpected `)`".into())),
            _ => {
                let mut s = String::new();
                while self.pos < self.chars.len() {
                    let c = self.chars[self.pos];
                    if c.is_whitespace() || c == '(' || c == ')' || c == ';' {
                        break;
                    }
                    s.push(self.bump());
                }
                Ok(Sexp::Atom(s, start))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_comments() {
        let forms = read_forms(";; first\n(a (b c))\n\n; dropped\n\n(d)").unwrap();
        assert_eq!(forms.len(), 2);
        assert_eq!(forms[0].comment, "first");
        assert_eq!(forms[1].comment, "");
        match &forms[0].sexp {
            Sexp::List(items, span) => {
                assert_eq!(*span, Span { line: 2, col: 1 });
                assert_eq!(items[1].span(), Span { line: 2, col: 4 });
            }
            _ => panic!(),
        }
        assert_eq!(read_forms("(a").unwrap_err().1, "unclosed `(`");
    }
}
