//! The crate's one error type.
//!
//! Every message names where the problem is: the file, the node and the field for graph
//! input, `file:line:col` for rule files.
//!
//! Errors are of three kinds ([`Error::kind`]): the input or the request is bad (the caller
//! can fix it; `fxsat` exits 2), fxsat failed on its own (a condition that cannot happen
//! with correct code: [`Error::Internal`]; exit 1), or an output could not be written
//! ([`Error::Write`]; exit 1).

use std::path::PathBuf;

/// Everything that can go wrong in fxsat.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is not JSON at all (or not the JSON shape FX-JSON requires).
    #[error("{file}: malformed JSON: {msg}")]
    Json {
        /// The file (or `<input>`).
        file: String,
        /// What the JSON parser said, with line and column.
        msg: String,
    },
    /// A document-level field is missing or wrong (`format`, `version`, `kind`, ...).
    #[error("{file}: field `{field}`: {msg}")]
    Document {
        /// The file (or `<input>`).
        file: String,
        /// The field.
        field: String,
        /// What is wrong.
        msg: String,
    },
    /// A node is malformed: missing field, bad value, undefined reference, duplicate name...
    #[error("{file}: node `{node}`, field `{field}`: {msg}")]
    Node {
        /// The file (or `<input>`).
        file: String,
        /// The node's name (or its index when it has none).
        node: String,
        /// The field.
        field: String,
        /// What is wrong.
        msg: String,
    },
    /// A node's recorded `val` contradicts its op's shape/dtype rule.
    #[error("{file}: node `{node}` ({op}): `val` says {recorded} but the op's rule gives {inferred} (use --trust-meta to keep the graph's val)")]
    MetaMismatch {
        /// The file (or `<input>`).
        file: String,
        /// The node's name.
        node: String,
        /// The aten target.
        op: String,
        /// What the graph recorded.
        recorded: String,
        /// What the op's rule inferred.
        inferred: String,
    },
    /// A rule file could not be loaded; one entry per problem, each `file:line:col: message`.
    #[error("{}", .0.join("\n"))]
    Rules(Vec<String>),
    /// A rule made two e-classes equal whose metadata (shape, dtype, value) disagree.
    #[error("rule `{rule}` merged e-classes whose metadata disagree: {left} vs {right}")]
    UnsoundMerge {
        /// The rule's name.
        rule: String,
        /// Meta of the matched class.
        left: String,
        /// Meta of the rule's right side.
        right: String,
    },
    /// A device profile is missing or malformed.
    #[error("device profile `{name}`: {msg}")]
    Profile {
        /// Profile name or path.
        name: String,
        /// What is wrong.
        msg: String,
    },
    /// The graph cannot be processed as asked (e.g. partition of a non-joint graph), or a
    /// request is invalid (an option out of range).
    #[error("{0}")]
    Invalid(String),
    /// Reading an input file (graph, rules, profile) failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Writing an output failed (the previous file, if any, is left as it was).
    #[error("{path}: cannot write: {source}")]
    Write {
        /// The path (`<stdout>` for standard output).
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A condition that cannot happen with correct code (an extracted term with a cycle, a
    /// lost region output...): fxsat's own failure, not the input's.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input or the request is bad: JSON, document, node, meta mismatch, rules,
    /// profile, an invalid request, an unreadable input file.
    BadInput,
    /// fxsat's own failure ([`Error::Internal`]).
    Internal,
    /// Writing an output failed ([`Error::Write`]).
    Write,
}

impl Error {
    /// The kind of failure.
    ///
    /// [`Error::UnsoundMerge`] counts as bad input (the rules given are wrong); with the
    /// compiled-in rules it is fxsat's own failure, which only the caller that chose the
    /// rules knows.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Internal(_) => ErrorKind::Internal,
            Error::Write { .. } => ErrorKind::Write,
            Error::Json { .. }
            | Error::Document { .. }
            | Error::Node { .. }
            | Error::MetaMismatch { .. }
            | Error::Rules(_)
            | Error::UnsoundMerge { .. }
            | Error::Profile { .. }
            | Error::Invalid(_)
            | Error::Io { .. } => ErrorKind::BadInput,
        }
    }

    /// Whether the input or the request is at fault (`fxsat` exits 2), not fxsat (exit 1).
    pub fn is_bad_input(&self) -> bool {
        self.kind() == ErrorKind::BadInput
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
