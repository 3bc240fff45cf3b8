//! Incremental local search over a selection: switch one class to another of its e-nodes when
//! the DAG cost drops. Reference counts keep the DAG cost up to date in time proportional to
//! the part of the graph that changes, and a topological position of every selected class makes
//! the cycle check cheap (a full search only when the positions cannot decide).

use egg::{Id, Language};
use rustc_hash::FxHashMap as HashMap;

use crate::egraph::{FxEGraph, Lang};

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

    /// Post-order positions of the selected DAG (children before parents).
    pub(super) fn renumber(&mut self, roots: &[Id]) {
        self.pos.clear();
        let mut stack: Vec<(Id, bool)> = roots
            .iter()
            .rev()
            .map(|&r| (self.eg.find(r), false))
            .collect();
        let mut n = 0;
        while let Some((id, done)) = stack.pop() {
            if done {
                if let std::collections::hash_map::Entry::Vacant(e) = self.pos.entry(id) {
                    e.insert(n);
                    n += 1;
                }
                continue;
            }
            if self.pos.contains_key(&id) {
                continue;
            }
            stack.push((id, true));
            for &c in self.children(id).iter().rev() {
                let c = self.eg.find(c);
                if !self.pos.contains_key(&c) {
                    stack.push((c, false));
                }
            }
        }
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
                    self.renumber(roots);
                    break;
                }
                self.switch(class, current);
                self.cost = before;
            }
        }
        improved
    }
}
