//! Errors of the storage layer, mapped from database errors to what callers can act on.

use sea_orm::{DbErr, SqlErr};
use thiserror::Error;

/// One problem with one input row or field, located by a path relative to the input
/// (for example `observations[3].metricKey`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where in the input the problem is.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// Builds a problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// What can go wrong in a repository call.
#[derive(Debug, Error)]
pub enum StoreError {
    /// No row with that id or key in the caller's organization.
    #[error("{entity} `{id}` was not found")]
    NotFound {
        /// Kind of thing looked for.
        entity: &'static str,
        /// The id or key looked for.
        id: String,
    },
    /// The change clashes with existing data or with a business rule in the current state.
    #[error("{0}")]
    Conflict(String),
    /// The input refers to things that do not exist or is otherwise unusable; nothing was written.
    #[error("invalid input: {}", .0.iter().map(|p| format!("{}: {}", p.path, p.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Problem>),
    /// The caller's role does not allow part of the request; nothing was written.
    #[error("{0}")]
    Forbidden(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

impl StoreError {
    /// Maps a unique-constraint violation to `Conflict` with `message`, leaving other
    /// errors as database errors.
    pub(crate) fn on_unique(err: DbErr, message: impl Into<String>) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict(message.into()),
            _ => StoreError::Database(err),
        }
    }

    /// A single-problem `Invalid`.
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::Invalid(vec![Problem::new(path, message)])
    }
}

/// Shorthand for repository results.
pub type StoreResult<T> = Result<T, StoreError>;
