//! Errors of the storage layer, mapped from database errors to what callers can act on.

use sea_orm::{DbErr, RuntimeErr, SqlErr};
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

    /// Whether the error comes from losing a race with another writer, so that running the
    /// whole transaction again can succeed: a deadlock (40P01) or serialization failure
    /// (40001), a unique or foreign key violation on rows validated earlier in the same
    /// transaction, or a busy or locked SQLite database.
    pub(crate) fn is_transient(&self) -> bool {
        let StoreError::Database(err) = self else {
            return false;
        };
        if matches!(
            err.sql_err(),
            Some(SqlErr::UniqueConstraintViolation(_) | SqlErr::ForeignKeyConstraintViolation(_))
        ) {
            return true;
        }
        let (DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e))) = err
        else {
            return false;
        };
        let Some(db) = e.as_database_error() else {
            return false;
        };
        let Some(code) = db.code() else {
            return false;
        };
        if db
            .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
            .is_some()
        {
            // SQLite (extended) result codes: BUSY, LOCKED and their variants keep 5 or 6 in
            // their low byte.
            code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
        } else {
            // PostgreSQL: serialization failure, deadlock detected.
            matches!(code.as_ref(), "40001" | "40P01")
        }
    }

    /// A single-problem `Invalid`.
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::Invalid(vec![Problem::new(path, message)])
    }
}

/// Shorthand for repository results.
pub type StoreResult<T> = Result<T, StoreError>;

/// How many problems a refused batch lists before summarising the rest.
const MAX_PROBLEMS: usize = 100;

/// Collects a batch's problems up to [`MAX_PROBLEMS`], counting the rest.
pub(crate) struct Problems {
    root: &'static str,
    listed: Vec<Problem>,
    more: usize,
}

impl Problems {
    /// Problems of the batch under the input field `root`.
    pub(crate) fn new(root: &'static str) -> Self {
        Self {
            root,
            listed: Vec::new(),
            more: 0,
        }
    }

    /// Notes a problem at `path`.
    pub(crate) fn push(&mut self, path: String, message: String) {
        if self.listed.len() < MAX_PROBLEMS {
            self.listed.push(Problem::new(path, message));
        } else {
            self.more += 1;
        }
    }

    /// `Ok` when nothing was noted; otherwise every problem, with a count of those not listed.
    pub(crate) fn into_result(mut self) -> StoreResult<()> {
        if self.listed.is_empty() {
            return Ok(());
        }
        if self.more > 0 {
            self.listed.push(Problem::new(
                self.root,
                format!("{} more problems not listed", self.more),
            ));
        }
        Err(StoreError::Invalid(self.listed))
    }
}

/// A stored value the code cannot read back (a column holding an unknown enum name, say).
pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Database(DbErr::Type(format!("stored {what} is invalid")))
}

/// The distinct values of an iterator, in first-seen order.
pub(crate) fn distinct<T: Copy + Eq + std::hash::Hash>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = std::collections::HashSet::new();
    items.filter(|i| seen.insert(*i)).collect()
}
