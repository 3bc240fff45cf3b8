//! Incremental local search over a selection: switch one class to another of its e-nodes when
//! the DAG cost drops. Reference counts keep the DAG cost up to date in time proportional to
//! the part of the graph that changes, and a topological position of every selected class makes
//! the cycle check cheap (a full search only when the positions cannot decide).

use egg::{Id, Language};
use rustc_hash::FxHashMap as HashMap;

use crate::egraph::{FxEGraph, Lang};

/// How many labels a repair may raise before relabelling everything instead.
const RAISE_BUDGET: usize = 256;

/// Labels are heights times this: the slack lets a repair that raises a class by a few
/// levels stop after a few parents instead of running up the whole graph.
const LABEL_GAP: usize = 16;

/// The state of the search.
pub(super) struct Dag<'a> {
    eg: &'a FxEGraph,
    /// Chosen node index per class.
    pub choice: HashMap<Id, usize>,
    cost_of: &'a dyn Fn(Id, usize) -> f64,
    refc: HashMap<Id, u32>,
    /// Current DAG cost.
    pub cost: f64,
    pos: HashMap<Id, usize>,
    /// How many times the order was rebuilt (a statistic for the log).
    pub renumbered: usize,
    /// How many times part of it was raised instead.
    pub raised: usize,
    /// No move after this instant.
    pub deadline: Option<std::time::Instant>,
    /// The deadline stopped the search.
    pub timed_out: bool,
}

impl<'a> Dag<'a> {
    pub(super) fn new(
        eg: &'a FxEGraph,
        choice: HashMap<Id, usize>,
        cost_of: &'a dyn Fn(Id, usize) -> f64,
        roots: &[Id],
    ) -> Self {
        let mut d = Dag {
            eg,
            choice,
            cost_of,
            refc: HashMap::default(),
            cost: 0.0,
            pos: HashMap::default(),
            renumbered: 0,
            raised: 0,
            deadline: None,
            timed_out: false,
        };
        for &r in roots {
            d.add_ref(eg.find(r));
        }
        d.renumber(roots);
        d
    }

    fn children(&self, id: Id) -> &'a [Id] {
        self.eg[id].nodes[self.choice[&id]].children()
    }

    fn add_ref(&mut self, id: Id) {
        let mut stack = vec![id];
        while let Some(id) = stack.pop() {
            let r = self.refc.entry(id).or_insert(0);
            *r += 1;
            if *r == 1 {
                self.cost += (self.cost_of)(id, self.choice[&id]);
                stack.extend(self.children(id).iter().map(|&c| self.eg.find(c)));
            }
        }
    }

    fn del_ref(&mut self, id: Id) {
        let mut stack = vec![id];
        while let Some(id) = stack.pop() {
            let r = self.refc.get_mut(&id).expect("referenced class");
            *r -= 1;
            if *r == 0 {
                self.refc.remove(&id);
                self.cost -= (self.cost_of)(id, self.choice[&id]);
                stack.extend(self.children(id).iter().map(|&c| self.eg.find(c)));
            }
        }
    }

    /// Labels of every class with a choice, following the chosen nodes: [`LABEL_GAP`] times
    /// the height (a child is always lower than its parents). Such a topological labelling lets [`Self::creates_cycle`]
    /// prune; heights rather than post-order positions, so that a switch to a node whose
    /// children are lower keeps it valid (see [`Self::keeps_order`]) without renumbering.
    pub(super) fn renumber(&mut self, roots: &[Id]) {
        self.pos.clear();
        let mut starts: Vec<Id> = roots.iter().map(|&r| self.eg.find(r)).collect();
        let mut rest: Vec<Id> = self.choice.keys().copied().collect();
        rest.sort();
        starts.extend(rest);
        let mut stack: Vec<(Id, bool)> = Vec::new();
        // Entered but not numbered: guards against looping on a cycle of choices (which the
        // cycle checks rule out; then the order is simply not topological there).
        let mut open = rustc_hash::FxHashSet::default();
        for s in starts {
            if self.pos.contains_key(&s) {
                continue;
            }
            stack.push((s, false));
            while let Some((id, done)) = stack.pop() {
                if done {
                    // The height (in steps of LABEL_GAP) above the highest chosen child.
                    let h = self
                        .children(id)
                        .iter()
                        .filter_map(|&c| self.pos.get(&self.eg.find(c)))
                        .max()
                        .map_or(0, |&h| h + LABEL_GAP);
                    self.pos.insert(id, h);
                    continue;
                }
                if self.pos.contains_key(&id) || !open.insert(id) {
                    continue;
                }
                stack.push((id, true));
                for &c in self.children(id).iter().rev() {
                    let c = self.eg.find(c);
                    if !self.pos.contains_key(&c)
                        && !open.contains(&c)
                        && self.choice.contains_key(&c)
                    {
                        stack.push((c, false));
                    }
                }
            }
        }
        self.renumbered += 1;
    }

    /// Whether `class`'s chosen children all come before it in the current order (so the
    /// order is still topological after `class` switched).
    fn keeps_order(&self, class: Id) -> bool {
        let Some(&p) = self.pos.get(&class) else {
            return false;
        };
        self.children(class)
            .iter()
            .all(|&c| self.pos.get(&self.eg.find(c)).is_some_and(|&q| q < p))
    }

    /// Restores the labelling after `class` switched: when a new child is not lower, raise
    /// `class` above its children and then every chosen parent that is no longer above it
    /// (time proportional to the raised part).
    fn repair_order(&mut self, class: Id, roots: &[Id]) {
        if self.keeps_order(class) {
            return;
        }
        let mut work = vec![class];
        let mut steps = 0usize;
        while let Some(id) = work.pop() {
            let h = self
                .children(id)
                .iter()
                .map(|&c| self.pos.get(&self.eg.find(c)).map(|&h| h + 1))
                .try_fold(0usize, |m, h| h.map(|h| m.max(h)));
            let Some(h) = h else {
                // A child without a label: start over.
                self.renumber(roots);
                return;
            };
            if self.pos.get(&id).is_some_and(|&old| old >= h) {
                continue;
            }
            self.pos.insert(id, h);
            steps += 1;
            if steps > RAISE_BUDGET {
                // A raise that reaches far up (or, never, around a cycle of choices) costs
                // more than labelling everything again.
                self.renumber(roots);
                return;
            }
            for p in self.eg[id].parents() {
                let p = self.eg.find(p);
                if self.choice.contains_key(&p)
                    && self.pos.get(&p).is_some_and(|&hp| hp <= h)
                    && self.children(p).iter().any(|&c| self.eg.find(c) == id)
                {
                    work.push(p);
                }
            }
        }
        self.raised += 1;
    }

    /// Would choosing `node` for `class` close a cycle (does a child reach `class`)?
    fn creates_cycle(&self, class: Id, node: &Lang) -> bool {
        let target = self.pos.get(&class).copied();
        let mut stack = Vec::new();
        for &c in node.children() {
            let c = self.eg.find(c);
            if c == class {
                return true;
            }
            match (self.pos.get(&c), target) {
                (Some(&pc), Some(pt)) if pc < pt => {}
                _ => stack.push(c),
            }
        }
        let mut seen = rustc_hash::FxHashSet::default();
        while let Some(id) = stack.pop() {
            if id == class {
                return true;
            }
            if !seen.insert(id) {
                continue;
            }
            for &c in self.children(id) {
                let c = self.eg.find(c);
                match (self.pos.get(&c), target) {
                    (Some(&pc), Some(pt)) if pc < pt && self.refc.contains_key(&c) => {}
                    _ => stack.push(c),
                }
            }
        }
        false
    }

    fn switch(&mut self, class: Id, to: usize) {
        let from = self.choice[&class];
        let new_children: Vec<Id> = self.eg[class].nodes[to]
            .children()
            .iter()
            .map(|&c| self.eg.find(c))
            .collect();
        let old_children: Vec<Id> = self
            .children(class)
            .iter()
            .map(|&c| self.eg.find(c))
            .collect();
        self.cost += (self.cost_of)(class, to) - (self.cost_of)(class, from);
        self.choice.insert(class, to);
        for c in new_children {
            self.add_ref(c);
        }
        for c in old_children {
            self.del_ref(c);
        }
    }

    /// Whether the deadline has passed (and remembers it).
    pub(super) fn out_of_time(&mut self) -> bool {
        if !self.timed_out && self.deadline.is_some_and(|d| std::time::Instant::now() > d) {
            self.timed_out = true;
        }
        self.timed_out
    }

    /// One pass over the selected classes; returns whether anything improved. `report(done,
    /// total)` is called every few hundred classes.
    pub(super) fn improve(&mut self, roots: &[Id], report: &dyn Fn(usize, usize)) -> bool {
        let mut classes: Vec<Id> = self
            .refc
            .keys()
            .copied()
            .filter(|&id| self.eg[id].nodes.len() > 1)
            .collect();
        classes.sort();
        let mut improved = false;
        let total = classes.len();
        for (k, class) in classes.into_iter().enumerate() {
            if k % 256 == 0 {
                report(k, total);
            }
            // Between moves the selection is complete and acyclic: stopping here is safe.
            if self.out_of_time() {
                break;
            }
            if !self.refc.contains_key(&class) {
                continue;
            }
            let current = self.choice[&class];
            for i in 0..self.eg[class].nodes.len() {
                if i == current {
                    continue;
                }
                let node = &self.eg[class].nodes[i];
                if node
                    .children()
                    .iter()
                    .any(|c| !self.choice.contains_key(&self.eg.find(*c)))
                    || self.creates_cycle(class, node)
                {
                    continue;
                }
                let before = self.cost;
                self.switch(class, i);
                if self.cost < before - 1e-15 * before.abs().max(1e-12) {
                    improved = true;
                    self.repair_order(class, roots);
                    break;
                }
                self.switch(class, current);
                self.cost = before;
            }
        }
        improved
    }

    /// Group moves for multi-output ops: a fused kernel (e.g. SDPA's forward and backward)
    /// only pays when every class that can read one of its outputs switches to it at once, and
    /// no single switch pays on its own. For each tuple-valued class, switch together all
    /// classes that have a `getitem` of it (and of the tuples it reads, whole or through
    /// `getitem`s); then, one at a time, the selected classes with a node reading one of those classes
    /// (e.g. a transpose of a gradient), each kept only if it lowers the cost. The whole
    /// group is kept when the DAG cost drops.
    pub(super) fn improve_groups(&mut self, roots: &[Id]) -> bool {
        let mut improved = false;
        for group in self.tuple_groups() {
            if self.out_of_time() {
                break;
            }
            let before = self.cost;
            // (class, previous choice, was referenced)
            let mut done: Vec<(Id, usize, bool)> = Vec::new();
            for &(class, i) in &group {
                if self.choice[&class] == i || !self.can_choose(class, i) {
                    continue;
                }
                let referenced = self.refc.contains_key(&class);
                done.push((class, self.choice[&class], referenced));
                if referenced {
                    self.switch(class, i);
                } else {
                    // Not in the DAG: choosing costs nothing until a parent reads it.
                    self.choice.insert(class, i);
                }
                self.repair_order(class, roots);
            }
            if done.is_empty() {
                continue;
            }
            // Parents that could read the switched classes instead of their own subgraph.
            let members: std::collections::HashSet<Id> = group.iter().map(|p| p.0).collect();
            let mut parents: Vec<(Id, usize)> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for &m in &members {
                for p in self.eg[m].parents() {
                    let class = self.eg.find(p);
                    if members.contains(&class)
                        || !self.refc.contains_key(&class)
                        || !seen.insert(class)
                    {
                        continue;
                    }
                    let cur = self.choice[&class];
                    if self
                        .children(class)
                        .iter()
                        .any(|c| members.contains(&self.eg.find(*c)))
                    {
                        continue;
                    }
                    if let Some(i) = self.eg[class].nodes.iter().position(|n| {
                        n.children()
                            .iter()
                            .any(|c| members.contains(&self.eg.find(*c)))
                    }) {
                        if i != cur {
                            parents.push((class, i));
                        }
                    }
                }
            }
            parents.sort();
            for (class, i) in parents {
                if !self.refc.contains_key(&class) || !self.can_choose(class, i) {
                    continue;
                }
                let (from, here) = (self.choice[&class], self.cost);
                self.switch(class, i);
                if self.cost < here - 1e-15 * here.abs().max(1e-12) {
                    done.push((class, from, true));
                    self.repair_order(class, roots);
                } else {
                    self.switch(class, from);
                    self.cost = here;
                }
            }
            if self.cost < before - 1e-15 * before.abs().max(1e-12) {
                improved = true;
            } else {
                for &(class, from, referenced) in done.iter().rev() {
                    if referenced {
                        self.switch(class, from);
                    } else {
                        self.choice.insert(class, from);
                    }
                }
                self.cost = before;
                for &(class, _, _) in done.iter().rev() {
                    self.repair_order(class, roots);
                }
            }
        }
        improved
    }

    /// Whether `class` may choose node `i`: its children have choices and no cycle closes.
    fn can_choose(&self, class: Id, i: usize) -> bool {
        let node = &self.eg[class].nodes[i];
        !node
            .children()
            .iter()
            .any(|c| !self.choice.contains_key(&self.eg.find(*c)))
            && !self.creates_cycle(class, node)
    }

    /// For each tuple-valued class (in id order): the `(class, node)` pairs that are a
    /// `getitem` of it or of a tuple its nodes read (whole or through a `getitem`), forward
    /// tuples first.
    fn tuple_groups(&self) -> Vec<Vec<(Id, usize)>> {
        use crate::ops::{Meta, Op};
        let getitem_of = |n: &Lang| -> Option<Id> {
            match n {
                Lang::Call(op, c) if *op == Op::GETITEM => Some(self.eg.find(c[0])),
                _ => None,
            }
        };
        let mut readers: std::collections::BTreeMap<Id, Vec<(Id, usize)>> = Default::default();
        for class in self.eg.classes() {
            for (i, n) in class.nodes.iter().enumerate() {
                if let Some(t) = getitem_of(n) {
                    readers.entry(t).or_default().push((class.id, i));
                }
            }
        }
        let mut groups = Vec::new();
        for (&t, own) in &readers {
            if !matches!(self.eg[t].data.meta, Meta::Tuple(_)) {
                continue;
            }
            // Tuples that `t`'s nodes read, through getitems or whole (a neutral backward
            // reads its forward whole), come first.
            let mut group: Vec<(Id, usize)> = Vec::new();
            for n in &self.eg[t].nodes {
                for &c in n.children() {
                    let c = self.eg.find(c);
                    let whole = matches!(self.eg[c].data.meta, Meta::Tuple(_)).then_some(c);
                    let inner = self.eg[c].nodes.iter().filter_map(getitem_of);
                    for inner in whole.into_iter().chain(inner) {
                        if let Some(r) = readers.get(&inner) {
                            group.extend(r.iter().copied());
                        }
                    }
                }
            }
            group.extend(own.iter().copied());
            let mut seen = std::collections::HashSet::new();
            group.retain(|p| seen.insert(*p));
            groups.push(group);
        }
        groups
    }
}
