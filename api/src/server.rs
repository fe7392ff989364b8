//! The HTTP server: `/graphql` (GraphQL over HTTP, GraphiQL for browsers, subscriptions over
//! WebSocket), `/graphiql/*` (GraphiQL's files), `/export/*`, `/metrics`, `/healthz`,
//! `/readyz`, CORS for the origins an operator lists, and the commands that start it.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::body::Body;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, FromRequestParts, RawQuery, State};
use axum::http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, header,
};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router, middleware};
use tandem_domain::access::AccessRole;
use tandem_persistence::{Actor, Store, TokenStanding};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::{DefaultMakeSpan, TraceLayer};

use crate::auth::{Caller, Verifier};
use crate::cli::ServeArgs;
use crate::config::Settings;
use crate::error::ApiError;
use crate::graphql::{ApiSchema, Limits, build_schema_with};
use crate::graphql_http;
use crate::telemetry::Metrics;
use crate::throttle::RateLimiter;

/// Name of the organization the local mode creates and prints a token for.
pub const DEMO_ORG_NAME: &str = "Demo";

/// Shared state of the server.
#[derive(Clone)]
pub struct AppState {
    store: Store,
    verifier: Verifier,
    schema: ApiSchema,
    rate_limiter: Arc<RateLimiter>,
    max_body_bytes: usize,
    limits: Limits,
    live: Arc<crate::live::Live>,
    metrics: Arc<Metrics>,
    metrics_token: Option<Arc<str>>,
    /// Browser origins granted cross-origin access to `/graphql` and `/export/*`.
    cors_origins: Arc<[HeaderValue]>,
    /// What GraphiQL's header editor starts with.
    graphiql_headers: Arc<str>,
}

impl AppState {
    /// State for a server over `store`, checking tokens with `verifier`.
    pub fn new(store: Store, verifier: Verifier, limits: Limits, max_body_bytes: usize) -> Self {
        let rate_limiter = Arc::new(RateLimiter::in_memory(
            limits.rate_limit_bucket,
            limits.rate_limit_restore,
        ));
        Self {
            store,
            verifier,
            schema: build_schema_with(limits, Arc::clone(&rate_limiter)),
            rate_limiter,
            max_body_bytes,
            limits,
            live: Arc::new(crate::live::Live::new(crate::live::LiveSettings::default())),
            metrics: Arc::new(Metrics::new().expect("the metric definitions are static and valid")),
            metrics_token: None,
            cors_origins: Arc::from(Vec::new()),
            graphiql_headers: Arc::from(crate::graphiql::headers_json(None)),
        }
    }

    /// Grants the browser origins listed (`scheme://host[:port]`) cross-origin access to
    /// `/graphql` and `/export/*`; refuses anything that is not such an origin.
    pub fn with_cors_origins(mut self, origins: &[String]) -> anyhow::Result<Self> {
        let mut parsed = Vec::new();
        for origin in origins.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
            parsed.push(parse_origin(origin)?);
        }
        self.cors_origins = Arc::from(parsed);
        Ok(self)
    }

    /// Prefills GraphiQL's header editor with a bearer token (the local mode's demo token).
    pub fn with_graphiql_token(mut self, token: Option<&str>) -> Self {
        self.graphiql_headers = Arc::from(crate::graphiql::headers_json(token));
        self
    }

    /// What GraphiQL's header editor starts with (JSON text).
    pub(crate) fn graphiql_headers(&self) -> &str {
        &self.graphiql_headers
    }

    /// Requires `Authorization: Bearer <token>` on `/metrics` (open when never called).
    pub fn with_metrics_token(mut self, token: Option<String>) -> Self {
        self.metrics_token = token.filter(|t| !t.is_empty()).map(Arc::from);
        self
    }

    /// Keeps per-caller budgets in `limiter` (shared through Redis, say) instead of this
    /// process.
    pub fn with_rate_limiter(mut self, limiter: Arc<RateLimiter>) -> Self {
        self.schema = build_schema_with(self.limits, Arc::clone(&limiter));
        self.rate_limiter = limiter;
        self
    }

    /// The per-caller budgets.
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.rate_limiter
    }

    /// WebSocket limits: subscriptions per connection, connections per caller, init timeout.
    pub fn with_live_settings(mut self, settings: crate::live::LiveSettings) -> Self {
        self.live = Arc::new(crate::live::Live::new(settings));
        self
    }

    pub(crate) fn live(&self) -> &Arc<crate::live::Live> {
        &self.live
    }

    /// The largest request body, and WebSocket message, accepted.
    pub(crate) fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// The store requests run against.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The limits requests run under.
    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    pub(crate) fn schema(&self) -> &ApiSchema {
        &self.schema
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Verifies the request's `Authorization` header into a caller (HTTP and export).
    pub(crate) async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let header = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        self.admit(self.verifier.verify_header(header)?).await
    }

    /// Verifies a bare token into a caller (WebSocket `connection_init`).
    pub(crate) async fn authenticate_token(&self, token: &str) -> Result<Caller, ApiError> {
        self.admit(self.verifier.verify(token)?).await
    }

    /// The one check after the signature, shared by HTTP, export and WebSocket and made on
    /// every request (and every live event): the organization still exists and the subject is
    /// not a deactivated person. Nothing is cached, so a deletion or a deactivation takes
    /// effect at once.
    pub(crate) async fn admit(&self, caller: Caller) -> Result<Caller, ApiError> {
        match self
            .store
            .token_standing(caller.org_id, &caller.subject)
            .await?
        {
            TokenStanding::Active => Ok(caller),
            TokenStanding::DeactivatedPerson => Err(ApiError::Unauthenticated(
                "the token's subject is a deactivated person".to_owned(),
            )),
            TokenStanding::UnknownOrganization => Err(ApiError::Unauthenticated(
                "the token's organization does not exist".to_owned(),
            )),
        }
    }
}

/// The application's routes.
pub fn router(state: AppState) -> Router {
    let max_body = state.max_body_bytes;
    let cors = cors_layer(&state.cors_origins);
    let router = Router::new()
        .route("/graphql", get(graphql_get).post(graphql_http::post))
        .route("/graphiql/{file}", get(crate::graphiql::asset))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/export/{file}", get(crate::export::export))
        // One body limit, configurable; axum's own fixed default is turned off.
        .layer(DefaultBodyLimit::disable())
        // The limit sits inside the rewrite so its bare 413 becomes a GraphQL-shaped error.
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(middleware::map_response(
            move |res: Response<Body>| async move { body_limit_error(res, max_body) },
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO)),
        )
        .with_state(state);
    // Outermost, so refusals from the layers inside (such as 413) reach a granted origin too.
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// The headers a cross-origin caller may read besides the CORS-safelisted ones: the
/// rate-limit headers, so a browser app can back off.
const CORS_EXPOSED_HEADERS: [&str; 4] = [
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "retry-after",
];

/// CORS for the listed origins on `/graphql` and `/export/*` (none when no origin is listed):
/// `GET`, `POST` and preflight `OPTIONS`, with `Authorization`, `Content-Type` and `Accept`.
/// Bearer tokens, not cookies, so no credentials mode.
fn cors_layer(origins: &Arc<[HeaderValue]>) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins = Arc::clone(origins);
    let allow = AllowOrigin::predicate(move |origin, parts| {
        let path = parts.uri.path();
        (path == "/graphql" || path.starts_with("/export/")) && origins.contains(origin)
    });
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
            .expose_headers(CORS_EXPOSED_HEADERS.map(HeaderName::from_static))
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// A browser origin as it appears in an `Origin` header: `http(s)://host[:port]`, no path.
fn parse_origin(origin: &str) -> anyhow::Result<HeaderValue> {
    let origin = origin.strip_suffix('/').unwrap_or(origin);
    let host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .filter(|host| !host.is_empty() && !host.contains(['/', '?', '#', '*', ' ']))
        .with_context(|| {
            format!(
                "TANDEM_CORS_ORIGINS: `{origin}` is not an origin; write `http(s)://host[:port]`, \
                 e.g. `http://localhost:5173`"
            )
        })?;
    HeaderValue::from_str(&format!(
        "{}{}",
        &origin[..origin.len() - host.len()],
        host.to_ascii_lowercase()
    ))
    .with_context(|| format!("TANDEM_CORS_ORIGINS: `{origin}` is not a valid header value"))
}

/// Turns the body-limit layer's bare 413 into a GraphQL-shaped error clients can read.
fn body_limit_error(res: Response<Body>, max_body: usize) -> Response<Body> {
    if res.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return res;
    }
    let body = serde_json::json!({
        "errors": [{
            "message": format!("the request body is larger than the limit of {max_body} bytes"),
            "extensions": { "code": "BAD_USER_INPUT", "limit": "bodySize" }
        }]
    });
    (StatusCode::PAYLOAD_TOO_LARGE, Json(body)).into_response()
}

/// `GET /graphql`: a WebSocket upgrade for subscriptions (graphql-transport-ws); anything
/// else is GraphQL over HTTP (a query from the URL, or GraphiQL for a browser).
async fn graphql_get(State(state): State<AppState>, request: Request<Body>) -> Response<Body> {
    let (mut parts, _) = request.into_parts();
    if !crate::live::wants_websocket(&parts.headers) {
        let raw = RawQuery(parts.uri.query().map(str::to_owned));
        return graphql_http::get(State(state), parts.headers, raw).await;
    }
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(u) => u,
        Err(rejection) => return rejection.into_response(),
    };
    crate::live::upgrade(upgrade, &parts.headers, state)
}

/// `GET /metrics`: Prometheus metrics, behind a bearer token when one is configured.
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response<Body> {
    if let Some(expected) = &state.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            let mut res = (
                StatusCode::UNAUTHORIZED,
                "send the metrics token as a bearer token\n",
            )
                .into_response();
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"metrics\""),
            );
            return res;
        }
    }
    match state.metrics.render(state.store.pool_status()) {
        Ok(text) => {
            let mut res = text.into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            res
        }
        Err(e) => {
            tracing::error!(error = %e, "failed to render metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Compares secrets without revealing, by timing, how much of them matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state.store.ready().await {
        Ok(true) => (StatusCode::OK, "ready"),
        Ok(false) => (StatusCode::SERVICE_UNAVAILABLE, "migrations pending"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

/// The limits a `serve` invocation configures (`local_mode` opens introspection to callers
/// without a token unless the setting says otherwise).
pub fn limits_from(args: &ServeArgs, local_mode: bool) -> Limits {
    Limits {
        max_depth: args.max_query_depth,
        max_cost: args.max_query_cost,
        max_fields: args.max_query_fields,
        max_fragment_spreads: args.max_fragment_spreads,
        max_aliases: args.max_aliases,
        max_operations: args.max_operations,
        max_root_fields: args.max_root_fields,
        request_timeout: std::time::Duration::from_millis(args.request_timeout_ms.max(1)),
        public_introspection: args.public_introspection.unwrap_or(local_mode),
        rate_limit_bucket: args.rate_limit_bucket,
        rate_limit_restore: args.rate_limit_restore,
        max_page_size: args.max_page_size,
        default_page_size: 50.min(args.max_page_size),
        max_batch_size: args.max_batch_size,
        sync_settle: std::time::Duration::from_millis(args.sync_settle_ms),
        tombstone_retention: std::time::Duration::from_secs(
            args.tombstone_retention_days.saturating_mul(24 * 3600),
        ),
    }
}

/// Runs the server until SIGINT or SIGTERM, finishing in-flight requests first.
pub async fn serve(settings: &Settings, args: &ServeArgs) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database_url, settings.db_max_connections)
        .await
        .context("Failed to connect to the database")?;
    if !args.skip_migrations {
        store
            .migrate_up(None)
            .await
            .context("Failed to migrate the database")?;
    }
    store
        .events()
        .start()
        .await
        .context("Failed to listen for live events")?;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("Failed to listen on {}", args.bind))?;
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!(
        %addr,
        backend = store.backend_name(),
        events = store.events().kind(),
        "tandem listening"
    );
    let demo_token = if settings.local_mode {
        Some(print_local_welcome(settings, &store, addr).await?)
    } else {
        None
    };
    let limits = limits_from(args, settings.local_mode);
    crate::sync::spawn_tombstone_purge(store.clone(), limits.tombstone_retention);
    let mut state = AppState::new(
        store,
        settings.verifier.clone(),
        limits,
        args.max_body_bytes,
    )
    .with_metrics_token(args.metrics_token.clone())
    .with_live_settings(crate::live::LiveSettings::from(args))
    .with_cors_origins(&args.cors_origins)?
    // Only a server on a loopback address hands its admin token to GraphiQL pages.
    .with_graphiql_token(demo_token.as_deref().filter(|_| addr.ip().is_loopback()));
    if let Some(url) = args.redis_url.as_deref().filter(|u| !u.is_empty()) {
        let limiter = RateLimiter::redis(url, limits.rate_limit_bucket, limits.rate_limit_restore)
            .await
            .context("Failed to set up the shared rate-limit budgets")?;
        state = state.with_rate_limiter(Arc::new(limiter));
    }
    tracing::info!(
        bucket = limits.rate_limit_bucket,
        restore = limits.rate_limit_restore,
        store = state.rate_limiter().kind(),
        "per-caller budgets"
    );
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("Server failed")?;
    tracing::info!("tandem stopped");
    Ok(())
}

/// In local mode: makes sure the demo organization exists and prints how to use it; returns
/// the demo admin token.
async fn print_local_welcome(
    settings: &Settings,
    store: &Store,
    addr: SocketAddr,
) -> anyhow::Result<String> {
    let org = match store.organization_named(DEMO_ORG_NAME).await? {
        Some(org) => org,
        None => {
            store
                .create_organization(&Actor("system:local".to_owned()), DEMO_ORG_NAME)
                .await?
        }
    };
    let minter = settings
        .minter
        .as_ref()
        .context("local mode always has a secret")?;
    let token = minter.mint("demo-admin", org.id, &[AccessRole::Admin], 30 * 24 * 3600)?;
    println!();
    println!("Tandem is running in local mode (no token key configured).");
    println!("  Database:  {}", settings.database_url);
    println!("  GraphiQL:  http://{addr}/graphql");
    println!("  Demo organization: {} ({})", org.name, org.id);
    println!("  Admin token (valid 30 days), for the header `Authorization: Bearer <token>`:");
    println!();
    println!("{token}");
    println!();
    Ok(token)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
