//! Exact decimals on every backend.
//!
//! PostgreSQL stores values as `NUMERIC`. SQLite has no exact decimal type, so the column is
//! `TEXT` holding the canonical decimal string; sea-orm would read it back through `f64`, which
//! loses digits, so this wrapper decodes the text itself.

use rust_decimal::Decimal;
use sea_orm::sea_query::{ArrayType, ColumnType, Nullable, ValueType, ValueTypeErr};
use sea_orm::{ColIdx, DbErr, QueryResult, TryGetError, TryGetable, Value};

/// A `Decimal` column value that round-trips every digit on SQLite and PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExactDecimal(pub Decimal);

impl From<ExactDecimal> for Value {
    fn from(value: ExactDecimal) -> Self {
        // The SQLite binder sends decimals as their string form, PostgreSQL's as NUMERIC:
        // both exact.
        Value::Decimal(Some(value.0))
    }
}

impl Nullable for ExactDecimal {
    fn null() -> Value {
        Value::Decimal(None)
    }
}

impl ValueType for ExactDecimal {
    fn try_from(v: Value) -> Result<Self, ValueTypeErr> {
        match v {
            Value::Decimal(Some(d)) => Ok(ExactDecimal(d)),
            Value::String(Some(s)) => s.parse().map(ExactDecimal).map_err(|_| ValueTypeErr),
            _ => Err(ValueTypeErr),
        }
    }

    fn type_name() -> String {
        "ExactDecimal".to_owned()
    }

    fn array_type() -> ArrayType {
        ArrayType::Decimal
    }

    fn column_type() -> ColumnType {
        ColumnType::Decimal(None)
    }
}

impl TryGetable for ExactDecimal {
    fn try_get_by<I: ColIdx>(res: &QueryResult, index: I) -> Result<Self, TryGetError> {
        // PostgreSQL: NUMERIC, read as such (asking for text first would build a type error
        // per value). SQLite: canonical text.
        if res.try_as_pg_row().is_some() {
            return Decimal::try_get_by(res, index).map(ExactDecimal);
        }
        match String::try_get_by(res, index) {
            Ok(text) => text.parse().map(ExactDecimal).map_err(|e| {
                TryGetError::DbErr(DbErr::Type(format!(
                    "stored decimal `{text}` does not parse: {e}"
                )))
            }),
            Err(TryGetError::Null(col)) => Err(TryGetError::Null(col)),
            Err(TryGetError::DbErr(_)) => Decimal::try_get_by(res, index).map(ExactDecimal),
        }
    }
}
