//! Schema extensions for operations: the query cost every response reports, the facts
//! the HTTP layer needs about each operation (its name, whether it ran, whether it was a
//! mutation sent over GET), and error codes for responses sent over a WebSocket.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextRequest,
    NextSubscribe, NextValidation,
};
use async_graphql::futures_util::stream::{BoxStream, StreamExt};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Response, ServerError, ServerResult, ValidationResult, Value, Variables};

use super::Limits;

/// Adds `extensions.cost` to every response: the query's computed complexity and depth next
/// to the limits, so clients see how close they are. When the query never got that far (it
/// did not parse, or a limit refused it) the figures are null and the limits are still there.
pub struct Cost;

impl ExtensionFactory for Cost {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CostExtension::default())
    }
}

#[derive(Default)]
struct CostExtension {
    measured: Mutex<Option<ValidationResult>>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for CostExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let response = next.run(ctx).await;
        let limits = ctx.data_opt::<Limits>().copied().unwrap_or_default();
        let measured = self.measured.lock().ok().and_then(|mut m| m.take());
        let figure = |n: Option<usize>| n.map_or(Value::Null, |n| Value::from(n as u64));
        let cost = Value::Object(
            [
                ("complexity", figure(measured.map(|m| m.complexity))),
                ("maxComplexity", figure(Some(limits.max_complexity))),
                ("depth", figure(measured.map(|m| m.depth))),
                ("maxDepth", figure(Some(limits.max_depth))),
            ]
            .into_iter()
            .map(|(k, v)| (async_graphql::Name::new(k), v))
            .collect(),
        );
        response.extension("cost", cost)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        if let Ok(mut measured) = self.measured.lock() {
            *measured = Some(result);
        }
        Ok(result)
    }
}

/// What the HTTP layer learns about one request while the schema handles it. Put an
/// `Arc<OperationInfo>` in the request's data before executing it.
#[derive(Debug, Default)]
pub struct OperationInfo {
    /// The request arrived over GET: only queries may run.
    read_only: bool,
    /// The `operationName` the client sent.
    requested_name: Option<String>,
    /// The operation selected from the document: its name (None when anonymous).
    name: Mutex<Option<String>>,
    /// Execution started: errors, if any, are field errors rather than request errors.
    executed: AtomicBool,
    /// A mutation arrived over GET and was refused.
    refused_over_get: AtomicBool,
}

impl OperationInfo {
    /// Facts for a request with the given `operationName`, arriving over GET or not.
    pub fn new(requested_name: Option<String>, read_only: bool) -> Self {
        Self {
            read_only,
            requested_name,
            ..Self::default()
        }
    }

    /// The selected operation's name, if it has one.
    pub fn name(&self) -> Option<String> {
        let found = self.name.lock().ok().and_then(|n| n.clone());
        found.or_else(|| self.requested_name.clone())
    }

    /// Whether execution started (otherwise the request failed as a whole).
    pub fn executed(&self) -> bool {
        self.executed.load(Ordering::Relaxed)
    }

    /// Whether a mutation was refused because it arrived over GET.
    pub fn refused_over_get(&self) -> bool {
        self.refused_over_get.load(Ordering::Relaxed)
    }
}

/// Fills the request's [`OperationInfo`] and refuses mutations over GET.
pub struct Operations;

impl ExtensionFactory for Operations {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationsExtension)
    }
}

struct OperationsExtension;

/// The operation a request selects: its name and kind, if the document has it.
fn selected(
    document: &ExecutableDocument,
    requested: Option<&str>,
) -> Option<(Option<String>, OperationType)> {
    match (&document.operations, requested) {
        (DocumentOperations::Single(op), _) => Some((None, op.node.ty)),
        (DocumentOperations::Multiple(ops), Some(name)) => {
            ops.get(name).map(|op| (Some(name.to_owned()), op.node.ty))
        }
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops
            .iter()
            .next()
            .map(|(name, op)| (Some(name.to_string()), op.node.ty)),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for OperationsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let Some(info) = ctx.data_opt::<Arc<OperationInfo>>() else {
            return Ok(document);
        };
        if let Some((name, kind)) = selected(&document, info.requested_name.as_deref()) {
            if let (Some(name), Ok(mut slot)) = (name, info.name.lock()) {
                *slot = Some(name);
            }
            if info.read_only && kind != OperationType::Query {
                info.refused_over_get.store(true, Ordering::Relaxed);
                let mut error = ServerError::new(
                    "only queries may be sent with GET; send mutations with POST",
                    None,
                );
                let mut extensions = async_graphql::ErrorExtensionValues::default();
                extensions.set("code", "BAD_USER_INPUT");
                extensions.set("method", "GET");
                error.extensions = Some(extensions);
                return Err(error);
            }
        }
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let Some(info) = ctx.data_opt::<Arc<OperationInfo>>() {
            info.executed.store(true, Ordering::Relaxed);
            if let (Some(name), Ok(mut slot)) = (operation_name, info.name.lock()) {
                *slot = Some(name.to_owned());
            }
        }
        next.run(ctx, operation_name).await
    }
}

/// Gives codes to the errors of responses streamed over a WebSocket (subscriptions, and
/// queries sent on one), as the HTTP layer does for its responses: a subscription refused by
/// a limit or by validation gets `BAD_USER_INPUT` with the same details as over HTTP.
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

#[async_graphql::async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream)
            .map(|mut response| {
                for error in &mut response.errors {
                    classify_error(error);
                }
                response
            })
            .boxed()
    }
}

/// Gives a code to errors raised before any resolver ran (syntax, validation, limits,
/// input coercion, persisted queries); resolver errors already carry one. The HTTP layer
/// applies it to every response, [`ErrorCodes`] to every response on a WebSocket.
pub fn classify_error(error: &mut async_graphql::ServerError) {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some());
    if has_code {
        return;
    }
    let extensions = error.extensions.get_or_insert_with(Default::default);
    // The code Apollo clients look for to send the full query after a hash-only request.
    if error.message == "PersistedQueryNotFound" {
        extensions.set("code", "PERSISTED_QUERY_NOT_FOUND");
        return;
    }
    extensions.set("code", "BAD_USER_INPUT");
    let message = error.message.as_str();
    if message.contains("nested too deep") {
        extensions.set("limit", "queryDepth");
    } else if message.contains("too complex") {
        extensions.set("limit", "queryComplexity");
    }
    // Input coercion errors name the argument path: `Invalid value for argument "input.x.0.y"`.
    if let Some(path) = message
        .split("argument \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
    {
        extensions.set("field", path);
    }
}
