//! Scalars. Decimals travel as strings, never as floats; dates as ISO 8601 `YYYY-MM-DD`;
//! times as RFC 3339 in UTC.
//!
//! `Decimal` and `Date` inputs are accepted leniently by the scalar and checked by the
//! resolver, which knows the field path: a bad value in row 3 of a batch is reported as
//! `input.observations[3].value`, not as a parse failure somewhere in the request. The only
//! way to read an input value is `checked()` (or [`Date::at`]), so no resolver can skip
//! the check.

use std::str::FromStr;

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{NaiveDate, SecondsFormat, Utc};

use crate::error::ApiError;

/// An exact decimal number written as a string, such as "12345678901234.123456789". Up to 28
/// significant digits; never a float.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal(Result<rust_decimal::Decimal, String>);

impl From<rust_decimal::Decimal> for Decimal {
    fn from(value: rust_decimal::Decimal) -> Self {
        Decimal(Ok(value))
    }
}

impl Decimal {
    /// The value, or why the input is not one.
    pub fn checked(&self) -> Result<rust_decimal::Decimal, String> {
        self.0.clone()
    }
}

/// An exact decimal number written as a string, such as "12345678901234.123456789". Up to 28
/// significant digits; never a float.
#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(s) => {
                let text = s.trim();
                let parsed = rust_decimal::Decimal::from_str(text)
                    .or_else(|_| rust_decimal::Decimal::from_scientific(text))
                    .map_err(|_| {
                        format!("`{s}` is not a decimal number (write it like \"1234.56\")")
                    });
                Ok(Decimal(parsed))
            }
            Value::Number(n) => Ok(Decimal(Err(format!(
                "write decimals as strings, such as \"{n}\", so no digit is lost"
            )))),
            _ => Err(InputValueError::custom(
                "a Decimal is a string such as \"12.50\"",
            )),
        }
    }

    fn to_value(&self) -> Value {
        match &self.0 {
            Ok(d) => Value::String(d.to_string()),
            Err(_) => Value::Null,
        }
    }
}

/// A calendar date, ISO 8601 `YYYY-MM-DD`, such as "2026-03-31".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Date(Result<NaiveDate, String>);

impl From<NaiveDate> for Date {
    fn from(value: NaiveDate) -> Self {
        Date(Ok(value))
    }
}

impl Date {
    /// The date, or `BAD_USER_INPUT` at `field`.
    pub fn at(&self, field: &str) -> Result<NaiveDate, ApiError> {
        self.checked()
            .map_err(|message| ApiError::bad_input(field, message))
    }

    /// The date, or why the input is not one.
    pub fn checked(&self) -> Result<NaiveDate, String> {
        self.0.clone()
    }
}

/// A calendar date, ISO 8601 `YYYY-MM-DD`, such as "2026-03-31".
#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(s) => Ok(Date(
                NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                    .map_err(|_| format!("`{s}` is not a date (write it as YYYY-MM-DD)")),
            )),
            _ => Err(InputValueError::custom(
                "a Date is a string such as \"2026-03-31\"",
            )),
        }
    }

    fn to_value(&self) -> Value {
        match &self.0 {
            Ok(d) => Value::String(d.format("%Y-%m-%d").to_string()),
            Err(_) => Value::Null,
        }
    }
}

/// A point in time, RFC 3339 in UTC, such as "2026-11-22T18:21:12.123456Z".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime(pub chrono::DateTime<Utc>);

/// A point in time, RFC 3339 in UTC, such as "2026-11-22T18:21:12.123456Z".
#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| DateTime(t.with_timezone(&Utc)))
                .map_err(|_| InputValueError::custom(format!("`{s}` is not an RFC 3339 time"))),
            _ => Err(InputValueError::custom("a DateTime is an RFC 3339 string")),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(SecondsFormat::Micros, true))
    }
}
