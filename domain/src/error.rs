//! Errors raised by domain parsing and rules.

use thiserror::Error;

/// An input value that does not make a valid domain value; `message` says why, in the
/// words a caller can act on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct Invalid {
    /// Human-readable reason.
    pub message: String,
}

impl Invalid {
    /// Builds an error from a reason.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// A well-formed request that a business rule refuses in the current state
/// (for example retiring a metric twice).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct RuleViolation {
    /// Human-readable reason.
    pub message: String,
}

impl RuleViolation {
    /// Builds a violation from a reason.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}
