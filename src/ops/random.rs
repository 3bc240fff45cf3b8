//! The random ops: the one list every part of fxsat reads (the e-graph builder keeps them
//! opaque and in order, CSE never merges them, the partitioner never recomputes them, regions
//! never split a graph with them).
//!
//! None of them is in the op table (they are opaque to the rules), so the flag is a lookup by
//! target string: the op name between the namespace and the overload (`aten.bernoulli.p` →
//! `bernoulli`), any overload, any namespace (`aten`, `prims`, `rngprims`, `higher_order`,
//! `inductor`...), in-place spellings (`bernoulli_`, `uniform_`) included.
//!
//! ```
//! use fxsat::ops::is_random;
//! assert!(is_random("aten.bernoulli.p"));
//! assert!(is_random("aten.uniform_.default"));
//! assert!(is_random("rngprims.philox_rand.default"));
//! assert!(!is_random("aten.native_dropout_backward.default"));
//! assert!(!is_random("aten.add.Tensor"));
//! ```

/// Op names (without namespace and overload) whose results are random: PyTorch's random aten
/// ops (`torch._ops` tagged `nondeterministic_seeded`), the prims/rngprims ones and the
/// higher-order RNG-state ops of AOTAutograd's functionalized RNG.
pub const RANDOM_OPS: &[&str] = &[
    // factories
    "rand",
    "rand_like",
    "randn",
    "randn_like",
    "randint",
    "randint_like",
    "randperm",
    // samplers of a tensor's distribution parameters
    "bernoulli",
    "binomial",
    "multinomial",
    "poisson",
    "normal",
    "normal_functional",
    "uniform",
    "exponential",
    "geometric",
    "cauchy",
    "log_normal",
    "random",
    "_standard_gamma",
    "_sample_dirichlet",
    // dropouts and noise
    "dropout",
    "native_dropout",
    "_fused_dropout",
    "feature_dropout",
    "alpha_dropout",
    "feature_alpha_dropout",
    "rrelu",
    "rrelu_with_noise",
    "rrelu_with_noise_functional",
    // functionalized RNG (rngprims, higher-order ops) and Inductor's RNG prims
    "philox_rand",
    "run_and_save_rng_state",
    "run_with_rng_state",
    "graphsafe_run_with_rng_state",
    "inductor_random",
    "inductor_randint",
    "inductor_seeds",
    "inductor_lookup_seed",
];

/// The op name of a target: `aten.add.Tensor` → `add`, `getitem` → `getitem`.
fn op_name(target: &str) -> &str {
    let mut parts = target.split('.');
    match (parts.next(), parts.next()) {
        (Some(_), Some(op)) => op,
        (Some(t), None) => t,
        _ => target,
    }
}

/// Whether calls of `target` draw random numbers (see [`RANDOM_OPS`]): never removed, merged,
/// duplicated, recomputed or reordered among themselves.
pub fn is_random(target: &str) -> bool {
    let op = op_name(target);
    // in-place spellings (`bernoulli_`, `uniform_`)
    let op = op.strip_suffix('_').unwrap_or(op);
    RANDOM_OPS.contains(&op) || op.contains("philox")
}

/// Whether a call of `target` writes into one of its arguments: an in-place op (`copy_`,
/// `index_put_`, `_foreach_add_`: the op name ends in `_`, dunders excluded) or an `out=`
/// overload. AOTAutograd's functional graphs keep such calls only for input mutations, last
/// (`copy_` into a placeholder); fxsat keeps them, in order, after everything else.
///
/// ```
/// use fxsat::ops::random::is_mutating;
/// assert!(is_mutating("aten.copy_.default"));
/// assert!(is_mutating("aten._foreach_add_.List"));
/// assert!(is_mutating("aten.add.out"));
/// assert!(!is_mutating("aten.__and__.Tensor"));
/// assert!(!is_mutating("aten.add.Tensor"));
/// ```
pub fn is_mutating(target: &str) -> bool {
    let mut parts = target.split('.');
    let (Some(_), Some(op)) = (parts.next(), parts.next()) else {
        return false;
    };
    let overload = parts.next().unwrap_or("");
    (op.ends_with('_') && !op.ends_with("__")) || overload == "out" || overload.starts_with("out_")
}

/// Whether a call of `target` may have effects beyond its result: a random op, an in-place
/// op ([`is_mutating`]), or an op
/// outside the functional `aten` and `prims` namespaces of AOTAutograd's graphs (a library's
/// custom op, e.g. `mylib.side_effect.default`). Such calls are never merged (CSE) nor
/// recomputed (partitioner). `getitem` has none (it picks from a tuple).
pub fn has_effects(target: &str) -> bool {
    if is_random(target) || is_mutating(target) {
        return true;
    }
    match target.split_once('.') {
        Some((ns, _)) => !matches!(ns, "aten" | "prims"),
        None => target != "getitem",
    }
}
