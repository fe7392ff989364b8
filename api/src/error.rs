//! The API's one error type and its mapping to GraphQL `extensions.code`.

use tandem_persistence::{Problem, StoreError};

/// Every way an operation can fail, each with its `extensions.code`.
///
/// It deliberately does not implement `Display`: async-graphql converts any `Display` error
/// into a bare message, which would drop the code. [`From<ApiError>`] for
/// `async_graphql::Error` is the only way out.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// No token, or a token that does not verify.
    Unauthenticated(String),
    /// The caller's roles do not allow the operation.
    Forbidden(String),
    /// Input that cannot be used; nothing was written. Every problem names its field path.
    BadUserInput(Vec<Problem>),
    /// The thing asked for does not exist in the caller's organization.
    NotFound(String),
    /// The change clashes with existing data or the current state.
    Conflict(String),
    /// Something failed inside the server; details are logged, not returned.
    Internal(String),
}

impl ApiError {
    /// A bad input at one field path.
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadUserInput(vec![Problem::new(field, message)])
    }

    /// The message sent to the client.
    pub fn message(&self) -> String {
        match self {
            ApiError::Unauthenticated(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::Conflict(m) => m.clone(),
            ApiError::BadUserInput(problems) => match problems.as_slice() {
                [] => "invalid input".to_owned(),
                [one] => format!("{}: {}", one.path, one.message),
                [first, rest @ ..] => format!(
                    "{}: {} (and {} more problems, see extensions.problems)",
                    first.path,
                    first.message,
                    rest.len()
                ),
            },
            ApiError::Internal(_) => "internal error".to_owned(),
        }
    }

    /// The `extensions.code` of this error.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated(_) => "UNAUTHENTICATED",
            ApiError::Forbidden(_) => "FORBIDDEN",
            ApiError::BadUserInput(_) => "BAD_USER_INPUT",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::Internal(_) => "INTERNAL",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { entity, id } => {
                ApiError::NotFound(format!("{entity} `{id}` was not found"))
            }
            StoreError::Conflict(message) => ApiError::Conflict(message),
            StoreError::Invalid(problems) => ApiError::BadUserInput(
                problems
                    .into_iter()
                    .map(|p| Problem::new(format!("input.{}", p.path), p.message))
                    .collect(),
            ),
            StoreError::Forbidden(message) => ApiError::Forbidden(message),
            StoreError::Database(e) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(err: ApiError) -> Self {
        if let ApiError::Internal(detail) = &err {
            tracing::error!(error = %detail, "request failed");
        }
        let mut error = async_graphql::Error::new(err.message());
        let mut ext = async_graphql::ErrorExtensionValues::default();
        ext.set("code", err.code());
        if let ApiError::BadUserInput(problems) = &err {
            if let Some(first) = problems.first() {
                ext.set("field", first.path.as_str());
            }
            let list: Vec<async_graphql::Value> = problems
                .iter()
                .map(|p| {
                    let mut map = async_graphql::indexmap::IndexMap::new();
                    map.insert(
                        async_graphql::Name::new("field"),
                        async_graphql::Value::from(p.path.as_str()),
                    );
                    map.insert(
                        async_graphql::Name::new("message"),
                        async_graphql::Value::from(p.message.as_str()),
                    );
                    async_graphql::Value::Object(map)
                })
                .collect();
            ext.set("problems", list);
        }
        error.extensions = Some(ext);
        error
    }
}

/// Result of a resolver.
pub type ApiResult<T> = Result<T, async_graphql::Error>;
