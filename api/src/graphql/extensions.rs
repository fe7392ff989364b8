//! Schema extensions for operations: the query cost every response reports, the facts
//! the HTTP layer needs about each operation (its name, whether it ran, whether it was a
//! mutation sent over GET), and error codes for responses sent over a WebSocket.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextRequest,
    NextSubscribe,
};
use async_graphql::futures_util::stream::{BoxStream, StreamExt};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Response, ServerError, ServerResult, Value, Variables};

use super::gate::{self, Admission, Refusal};
use super::{Limits, PendingAuth, RequestAuth};
use crate::throttle::{Charge, RateLimiter, ThrottleStatus};

/// The admission gate and per-caller budgets, as one extension:
/// - before the document is parsed by the library: bracket nesting of the text, then size,
///   aliases, operations, root fields, depth and cost of the parsed document
///   ([`super::gate`]), so no hostile shape reaches validation;
/// - before execution: authentication (from [`PendingAuth`]), the introspection policy and
///   the caller's budget, charged the query's cost (a subscription is charged when it starts);
/// - on the way out: `extensions.cost` with the requested and actual cost, the limits, and
///   the caller's budget; the part of the charge the response did not use is given back.
pub struct Gate;

impl ExtensionFactory for Gate {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(GateExtension::default())
    }
}

#[derive(Default)]
struct GateExtension {
    admission: Mutex<Option<Admission>>,
    charged: Mutex<Option<Charged>>,
    /// The request's facts for the HTTP layer, kept from execution: the outermost hook runs
    /// before the request's data is attached.
    info: Mutex<Option<Arc<OperationInfo>>>,
}

/// What was taken from whose budget.
#[derive(Debug, Clone)]
struct Charged {
    caller: String,
    points: u64,
    status: ThrottleStatus,
}

impl GateExtension {
    fn admission(&self) -> Option<Admission> {
        self.admission.lock().ok().and_then(|a| *a)
    }
}

/// A request error with a code and, for limits, the figures.
fn coded_error(message: &str, code: &str, details: &[(&str, Value)]) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", code);
    for (key, value) in details {
        extensions.set(*key, value.clone());
    }
    error.extensions = Some(extensions);
    error
}

fn refusal_error(refusal: &Refusal) -> ServerError {
    coded_error(
        &refusal.message,
        "BAD_USER_INPUT",
        &[
            ("limit", Value::from(refusal.limit)),
            ("actual", Value::from(refusal.actual)),
            ("maximum", Value::from(refusal.maximum)),
        ],
    )
}

/// The caller a budget is kept for: the token's subject within its organization.
fn budget_key(auth: Option<&RequestAuth>) -> Option<String> {
    match auth {
        Some(RequestAuth(Ok(session))) => Some(format!(
            "{}:{}",
            session.caller.org_id, session.caller.subject
        )),
        _ => None,
    }
}

/// Objects a response holds (the root `data` object excluded): what a query actually cost.
fn objects_in(value: &Value) -> u64 {
    match value {
        Value::Object(map) => map
            .values()
            .fold(1u64, |sum, v| sum.saturating_add(objects_in(v))),
        Value::List(items) => items
            .iter()
            .fold(0u64, |sum, v| sum.saturating_add(objects_in(v))),
        _ => 0,
    }
}

fn throttle_value(status: &ThrottleStatus) -> Value {
    Value::Object(
        [
            ("maximumAvailable", Value::from(status.maximum_available)),
            (
                "currentlyAvailable",
                Value::from(status.currently_available),
            ),
            ("restoreRate", Value::from(status.restore_rate)),
        ]
        .into_iter()
        .map(|(k, v)| (async_graphql::Name::new(k), v))
        .collect(),
    )
}

impl GateExtension {
    /// Charges the caller's budget; refuses (without charging) when it holds too little.
    async fn charge(
        &self,
        ctx: &ExtensionContext<'_>,
        auth: Option<&RequestAuth>,
    ) -> Result<(), ServerError> {
        let limits = ctx.data_opt::<Limits>().copied().unwrap_or_default();
        let (Some(limiter), Some(caller)) = (ctx.data_opt::<Arc<RateLimiter>>(), budget_key(auth))
        else {
            return Ok(());
        };
        if limits.rate_limit_bucket == 0 {
            return Ok(());
        }
        if let (Some(info), Ok(mut slot)) = (ctx.data_opt::<Arc<OperationInfo>>(), self.info.lock())
        {
            *slot = Some(Arc::clone(info));
        }
        let points = self.admission().map_or(1, |a| a.cost);
        match limiter.charge(&caller, points).await {
            Charge::Admitted(status) => {
                if let Some(info) = ctx.data_opt::<Arc<OperationInfo>>() {
                    info.set_throttle(status, None);
                }
                if let Ok(mut charged) = self.charged.lock() {
                    *charged = Some(Charged {
                        caller,
                        points,
                        status,
                    });
                }
                Ok(())
            }
            Charge::Throttled {
                status,
                retry_after,
            } => {
                let seconds = retry_after.as_secs_f64().ceil() as u64;
                if let Some(info) = ctx.data_opt::<Arc<OperationInfo>>() {
                    info.set_throttle(status, Some(seconds.max(1)));
                }
                Err(coded_error(
                    &format!(
                        "the request costs {points} points and {} of {} are left; \
                         {} points are restored per second, retry after {} s",
                        status.currently_available,
                        status.maximum_available,
                        status.restore_rate,
                        seconds.max(1)
                    ),
                    "THROTTLED",
                    &[
                        ("retryAfter", Value::from(seconds.max(1))),
                        ("requestedQueryCost", Value::from(points)),
                        ("throttleStatus", throttle_value(&status)),
                    ],
                ))
            }
        }
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for GateExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        for error in &mut response.errors {
            readable(error, &ctx.schema_env.registry);
        }
        let limits = ctx.data_opt::<Limits>().copied().unwrap_or_default();
        let admission = self.admission();
        let requested = admission.map(|a| a.cost);
        // The root `data` object is the operation itself, not something it fetched.
        let fetched = objects_in(&response.data).saturating_sub(1);
        let actual = requested.map(|r| r.min(fetched.max(1)));
        let charged = self.charged.lock().ok().and_then(|mut c| c.take());
        let mut status = charged.as_ref().map(|c| c.status);
        if let (Some(charged), Some(actual), Some(limiter)) =
            (&charged, actual, ctx.data_opt::<Arc<RateLimiter>>())
        {
            let unused = charged.points.saturating_sub(actual);
            if unused > 0 {
                status = Some(limiter.refund(&charged.caller, unused).await);
            }
        }
        let info = self.info.lock().ok().and_then(|i| i.clone());
        if let (Some(status), Some(info)) = (status, &info)
            && !info.throttled()
        {
            info.set_throttle(status, None);
        }
        let status = status.or_else(|| info.and_then(|info| info.throttle_status()));
        let figure = |n: Option<u64>| n.map_or(Value::Null, Value::from);
        let cost = Value::Object(
            [
                ("requestedQueryCost", figure(requested)),
                ("actualQueryCost", figure(actual)),
                ("complexity", figure(requested)),
                ("maxComplexity", Value::from(limits.max_cost)),
                ("depth", figure(admission.map(|a| a.depth as u64))),
                ("maxDepth", Value::from(limits.max_depth as u64)),
                (
                    "throttleStatus",
                    status.as_ref().map_or(Value::Null, throttle_value),
                ),
            ]
            .into_iter()
            .map(|(k, v)| (async_graphql::Name::new(k), v))
            .collect(),
        );
        response.extension("cost", cost)
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let limits = ctx.data_opt::<Limits>().copied().unwrap_or_default();
        gate::check_text(query).map_err(|r| refusal_error(&r))?;
        // Measured on a copy parsed here: the library's own parse step also checks recursion
        // by walking every fragment expansion, which is what a hostile document exploits.
        if let Ok(document) = async_graphql::parser::parse_query(query) {
            let admission = gate::admit(&document, &ctx.schema_env.registry, variables, &limits)
                .map_err(|r| refusal_error(&r))?;
            if let Ok(mut slot) = self.admission.lock() {
                *slot = Some(admission);
            }
        }
        next.run(ctx, query, variables).await
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let limits = ctx.data_opt::<Limits>().copied().unwrap_or_default();
        // Authentication happens here, after the document was found affordable and valid.
        let resolved = match ctx.data_opt::<PendingAuth>() {
            Some(pending) => Some(pending.resolve().await),
            None => None,
        };
        let auth = resolved.as_ref().or_else(|| ctx.data_opt::<RequestAuth>());
        let signed_in = matches!(auth, Some(RequestAuth(Ok(_))));
        if !signed_in
            && !limits.public_introspection
            && self.admission().is_some_and(|a| a.introspection)
        {
            return Response::from_errors(vec![coded_error(
                "introspection needs a token on this server: send `Authorization: Bearer \
                 <token>` (operators may open it with TANDEM_PUBLIC_INTROSPECTION=true)",
                "UNAUTHENTICATED",
                &[],
            )]);
        }
        if let Err(error) = self.charge(ctx, auth).await {
            return Response::from_errors(vec![error]);
        }
        match resolved {
            Some(auth) => {
                let mut data = async_graphql::Data::default();
                data.insert(auth);
                next.run_with_data(ctx, operation_name, data).await
            }
            None => next.run(ctx, operation_name).await,
        }
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let stream = next.run(ctx, stream);
        let is_subscription = self.admission().is_some_and(|a| a.subscription);
        let limits = ctx.data_opt::<Limits>().copied().unwrap_or_default();
        let caller = budget_key(ctx.data_opt::<RequestAuth>());
        let limiter = ctx.data_opt::<Arc<RateLimiter>>().cloned();
        let (true, Some(caller), Some(limiter), true) = (
            is_subscription,
            caller,
            limiter,
            limits.rate_limit_bucket > 0,
        ) else {
            return stream;
        };
        let points = self.admission().map_or(1, |a| a.cost);
        // A subscription is charged its cost once, when it starts.
        let mut stream = Some(stream);
        async_graphql::futures_util::stream::once(
            async move { limiter.charge(&caller, points).await },
        )
        .flat_map(move |charge| match charge {
            Charge::Admitted(_) => stream
                .take()
                .unwrap_or_else(|| async_graphql::futures_util::stream::empty().boxed()),
            Charge::Throttled {
                status,
                retry_after,
            } => {
                let seconds = (retry_after.as_secs_f64().ceil() as u64).max(1);
                async_graphql::futures_util::stream::once(async move {
                    Response::from_errors(vec![coded_error(
                        &format!(
                            "the subscription costs {points} points and {} are left; \
                                 retry after {seconds} s",
                            status.currently_available
                        ),
                        "THROTTLED",
                        &[
                            ("retryAfter", Value::from(seconds)),
                            ("throttleStatus", throttle_value(&status)),
                        ],
                    )])
                })
                .boxed()
            }
        })
        .boxed()
    }
}

/// Rewrites the messages a front-end developer meets most into one readable line: a syntax
/// error names its line, column and what was expected (not the parser's drawing); a value
/// that is not in an enumeration lists the values that are.
fn readable(error: &mut ServerError, registry: &async_graphql::registry::Registry) {
    if let Some(rest) = error.message.strip_prefix(" --> ") {
        let position = rest.lines().next().unwrap_or_default().trim().to_owned();
        let (line, column) = position.split_once(':').unwrap_or((position.as_str(), "?"));
        let expected = rest
            .lines()
            .find_map(|l| l.trim().strip_prefix("= "))
            .unwrap_or("a valid GraphQL document")
            .to_owned();
        error.message = format!("syntax error at line {line}, column {column}: {expected}");
        return;
    }
    let Some(enum_name) = error
        .message
        .split("enumeration type \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
    else {
        return;
    };
    if let Some(async_graphql::registry::MetaType::Enum { enum_values, .. }) =
        registry.types.get(enum_name)
    {
        let values: Vec<&str> = enum_values.keys().map(String::as_str).collect();
        error.message = format!("{}; valid values: {}", error.message, values.join(", "));
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
    /// The caller's budget after this request, and the seconds to wait when it was refused.
    throttle: Mutex<Option<(ThrottleStatus, Option<u64>)>>,
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

    fn set_throttle(&self, status: ThrottleStatus, retry_after: Option<u64>) {
        if let Ok(mut slot) = self.throttle.lock() {
            *slot = Some((status, retry_after));
        }
    }

    /// The caller's budget after this request, when the caller has one.
    pub fn throttle_status(&self) -> Option<ThrottleStatus> {
        self.throttle.lock().ok().and_then(|t| t.map(|(s, _)| s))
    }

    /// Seconds to wait, when the request was refused for lack of budget.
    pub fn retry_after(&self) -> Option<u64> {
        self.throttle
            .lock()
            .ok()
            .and_then(|t| t.and_then(|(_, r)| r))
    }

    /// Whether the request was refused for lack of budget.
    pub fn throttled(&self) -> bool {
        self.retry_after().is_some()
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
    // Input coercion errors name the argument path: `Invalid value for argument "input.x.0.y"`.
    if let Some(path) = message
        .split("argument \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
    {
        extensions.set("field", path);
    }
}
