//! Scalars: exact decimals travel as strings, never as floats.

use std::str::FromStr;

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

/// An exact decimal number written as a string, such as `"12345678901234.123456789"`.
/// Up to 28 significant digits; never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal(pub rust_decimal::Decimal);

/// An exact decimal number written as a string, such as "12345678901234.123456789". Up to 28 significant digits; never a float.
#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => rust_decimal::Decimal::from_str(s.trim())
                .or_else(|_| rust_decimal::Decimal::from_scientific(s.trim()))
                .map(Decimal)
                .map_err(|_| InputValueError::custom(format!("`{s}` is not a decimal number"))),
            _ => Err(InputValueError::custom(
                "a Decimal is written as a string, such as \"12.50\", so no digit is lost",
            )),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}
