//! The HTTP server: `/graphql` (GraphQL over HTTP, GraphiQL for browsers, subscriptions over
//! WebSocket), `/graphiql/*` (GraphiQL's files), `/export/*`, `/metrics`, `/healthz`,
//! `/readyz`, CORS for the origins an operator lists, and the commands that start it.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use anyhow::Context as _;
use async_graphql_axum::GraphQLProtocol;
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
use tandem_persistence::{Actor, Store};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::{DefaultMakeSpan, TraceLayer};
use uuid::Uuid;

use crate::auth::{Caller, Verifier};
use crate::cli::ServeArgs;
use crate::config::Settings;
use crate::error::ApiError;
use crate::graphql::{ApiSchema, Limits, build_schema};
use crate::graphql_http;
use crate::telemetry::Metrics;

/// Name of the organization the local mode creates and prints a token for.
pub const DEMO_ORG_NAME: &str = "Demo";

/// Shared state of the server.
#[derive(Clone)]
pub struct AppState {
    store: Store,
    verifier: Verifier,
    schema: ApiSchema,
    max_body_bytes: usize,
    limits: Limits,
    known_orgs: Arc<RwLock<HashSet<Uuid>>>,
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
        Self {
            store,
            verifier,
            schema: build_schema(limits),
            max_body_bytes,
            limits,
            known_orgs: Arc::new(RwLock::new(HashSet::new())),
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

    /// Verifies the request's token and checks its organization exists.
    pub(crate) async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let header = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let caller = self.verifier.verify_header(header)?;
        let known = self
            .known_orgs
            .read()
            .map(|set| set.contains(&caller.org_id))
            .unwrap_or(false);
        if !known {
            match self.store.organization(caller.org_id).await? {
                Some(_) => {
                    if let Ok(mut set) = self.known_orgs.write() {
                        set.insert(caller.org_id);
                    }
                }
                None => {
                    return Err(ApiError::Unauthenticated(
                        "the token's organization does not exist".to_owned(),
                    ));
                }
            }
        }
        Ok(caller)
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
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &state).await {
        Ok(p) => p,
        Err(status) => return status.into_response(),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(u) => u,
        Err(rejection) => return rejection.into_response(),
    };
    crate::live::upgrade(
        upgrade,
        protocol,
        state.schema.clone(),
        state.store.clone(),
        state.verifier.clone(),
    )
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

/// The limits a `serve` invocation configures.
pub fn limits_from(args: &ServeArgs) -> Limits {
    Limits {
        max_depth: args.max_query_depth,
        max_complexity: args.max_query_complexity,
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
    let limits = limits_from(args);
    crate::sync::spawn_tombstone_purge(store.clone(), limits.tombstone_retention);
    let state = AppState::new(
        store,
        settings.verifier.clone(),
        limits,
        args.max_body_bytes,
    )
    .with_metrics_token(args.metrics_token.clone())
    .with_cors_origins(&args.cors_origins)?
    // Only a server on a loopback address hands its admin token to GraphiQL pages.
    .with_graphiql_token(demo_token.as_deref().filter(|_| addr.ip().is_loopback()));
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
