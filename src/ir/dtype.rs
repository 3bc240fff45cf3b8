//! Tensor element types and PyTorch's type-promotion lattice.

use std::fmt;
use std::str::FromStr;

/// A tensor element type, named as torch names it (without `torch.`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    /// `torch.bool`
    Bool,
    /// `torch.uint8`
    U8,
    /// `torch.int8`
    I8,
    /// `torch.int16`
    I16,
    /// `torch.int32`
    I32,
    /// `torch.int64`
    I64,
    /// `torch.uint64` (the CUDA flash kernel's RNG state)
    U64,
    /// `torch.float16`
    F16,
    /// `torch.bfloat16`
    BF16,
    /// `torch.float32`
    F32,
    /// `torch.float64`
    F64,
    /// `torch.complex64`
    C64,
}

/// Promotion category: bool < integral < floating < complex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    /// bool
    Bool,
    /// signed or unsigned ints
    Int,
    /// floating point
    Float,
    /// complex
    Complex,
}

impl DType {
    /// Every dtype, in a stable order.
    pub const ALL: [DType; 12] = [
        DType::Bool,
        DType::U8,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::U64,
        DType::F16,
        DType::BF16,
        DType::F32,
        DType::F64,
        DType::C64,
    ];

    /// torch's name, e.g. `bfloat16`.
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::U8 => "uint8",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::U64 => "uint64",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::C64 => "complex64",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> u64 {
        match self {
            DType::Bool | DType::U8 | DType::I8 => 1,
            DType::I16 | DType::F16 | DType::BF16 => 2,
            DType::I32 | DType::F32 => 4,
            DType::I64 | DType::U64 | DType::F64 | DType::C64 => 8,
        }
    }

    /// The promotion category.
    pub fn category(self) -> Category {
        match self {
            DType::Bool => Category::Bool,
            DType::U8 | DType::I8 | DType::I16 | DType::I32 | DType::I64 | DType::U64 => {
                Category::Int
            }
            DType::F16 | DType::BF16 | DType::F32 | DType::F64 => Category::Float,
            DType::C64 => Category::Complex,
        }
    }

    /// True for floating-point dtypes.
    pub fn is_float(self) -> bool {
        self.category() == Category::Float
    }

    /// `torch.promote_types(self, other)`.
    pub fn promote(self, other: DType) -> DType {
        use DType::*;
        if self == other {
            return self;
        }
        let (a, b) = if self <= other {
            (self, other)
        } else {
            (other, self)
        };
        match (a, b) {
            (Bool, x) => x,
            (U8, I8) => I16,
            (U8, x) | (I8, x) | (I16, x) | (I32, x) if x.category() == Category::Int => x,
            (x, y) if x.category() == Category::Int => y,
            (F16, BF16) => F32,
            (_, y) => y,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        DType::ALL
            .iter()
            .copied()
            .find(|d| d.name() == s)
            .ok_or_else(|| format!("unknown dtype `{s}`"))
    }
}

/// Rounds `x` to the nearest value of a binary float with `mbits` explicit mantissa bits,
/// minimum normal exponent `emin` and largest finite value `max` (round half to even).
fn round_binary(x: f64, mbits: i32, emin: i32, max: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    let e = (x.abs().log2().floor() as i32).max(emin);
    // log2 can be off by one near powers of two; fix the exponent exactly.
    let e = if 2f64.powi(e) > x.abs() && e > emin {
        e - 1
    } else if 2f64.powi(e + 1) <= x.abs() {
        e + 1
    } else {
        e
    };
    let q = 2f64.powi(e - mbits);
    let r = (x / q).round_ties_even() * q;
    if r.abs() > max {
        f64::INFINITY.copysign(x)
    } else {
        r
    }
}

/// `x` converted to `dtype` as PyTorch converts (floats round to nearest even; ints truncate
/// and wrap; bool is `x != 0`).
pub fn round_to(x: f64, dtype: DType) -> f64 {
    match dtype {
        DType::F64 => x,
        DType::F32 | DType::C64 => x as f32 as f64,
        DType::F16 => round_binary(x, 10, -14, 65504.0),
        DType::BF16 => round_binary(x as f32 as f64, 7, -126, 3.3895313892515355e38),
        DType::Bool => (x != 0.0) as u8 as f64,
        _ if x.is_nan() => 0.0,
        DType::I64 => x.trunc().clamp(-9.223372036854776e18, 9.223372036854776e18),
        DType::I32 => (x.trunc() as i64) as i32 as f64,
        DType::I16 => (x.trunc() as i64) as i16 as f64,
        DType::I8 => (x.trunc() as i64) as i8 as f64,
        DType::U8 => (x.trunc() as i64) as u8 as f64,
        DType::U64 => x.trunc().clamp(0.0, 1.8446744073709552e19),
    }
}

#[cfg(test)]
mod tests {
    use super::DType::*;

    #[test]
    fn promotion_matches_torch() {
        assert_eq!(F16.promote(BF16), F32);
        assert_eq!(U8.promote(I8), I16);
        assert_eq!(I64.promote(F16), F16);
        assert_eq!(Bool.promote(I32), I32);
        assert_eq!(F32.promote(F64), F64);
        assert_eq!(BF16.promote(F32), F32);
        assert_eq!(C64.promote(F64), C64);
    }
}
