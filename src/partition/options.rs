//! The partitioner's options: the budget, the min-cut's bans, the target and cost profile,
//! CSE, and the [peak rule](PeakRule) that relates budgets.

use super::network::MinCutOptions;
use crate::cost::{Model, Profile};
use crate::error::Result;
use crate::target::Target;

/// Options of [`partition`](super::partition).
#[derive(Debug, Clone)]
pub struct PartitionOptions {
    /// Memory budget in [0, 1]: 1 = the runtime-optimised cut, 0 = save only inputs.
    pub budget: f64,
    /// The min-cut's bans and biases.
    pub mincut: MinCutOptions,
    /// Target device (picks the default cost profile).
    pub target: Target,
    /// Cost-model profile (defaults to the target's).
    pub profile: Option<Profile>,
    /// Merge duplicate calls first, as PyTorch does (`functorch.config.cse`).
    pub cse: bool,
    /// How the choice at one budget relates to the peak memory of the others (see
    /// [`PeakRule`]).
    pub peak_rule: PeakRule,
}

/// How budgets below 1 trade recompute time, activation bytes and peak memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeakRule {
    /// The budgets of a 20-point grid, 0 and the asked one are solved together (one pool of
    /// candidates); walking down from budget 1, each takes the least recompute time among the
    /// solutions within its budget whose peak is not above the previous budget's choice; when
    /// every solution within the budget raises the peak, one is repaired (more values saved
    /// within the budget until the peak is back down, see
    /// [`Solver::repair`](super::solve::Solver::repair)), else the lowest peak among them.
    /// The budget is always honoured (where any solution meets it); the peak is
    /// non-increasing wherever the repair finds a way. See [`choose`](super::policy::choose).
    #[default]
    WithinBudget,
    /// The same pool, but peak memory never rises as the budget decreases: where every
    /// solution within the budget would raise it, the fewest bytes among those that do not,
    /// above the budget.
    Strict,
    /// Each budget alone: the least recompute time among its own candidates that fit.
    Off,
}

impl Default for PartitionOptions {
    fn default() -> Self {
        PartitionOptions {
            budget: 1.0,
            mincut: MinCutOptions::default(),
            target: Target::Cpu,
            profile: None,
            cse: true,
            peak_rule: PeakRule::WithinBudget,
        }
    }
}

impl PartitionOptions {
    pub(super) fn model(&self) -> Result<Model> {
        Model::for_target(self.target, self.profile.as_ref())
    }
}
