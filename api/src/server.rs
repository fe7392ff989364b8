//! The HTTP server: `/graphql` (GraphiQL on GET), `/healthz`, `/readyz`, and the commands
//! that start it.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use anyhow::Context as _;
use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Response, StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router, middleware};
use tandem_domain::access::AccessRole;
use tandem_persistence::{Actor, Store};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;
use uuid::Uuid;

use crate::auth::{Caller, Verifier};
use crate::cli::ServeArgs;
use crate::config::Settings;
use crate::error::ApiError;
use crate::graphql::{ApiSchema, Limits, RequestAuth, Session, build_schema};

/// Name of the organization the local mode creates and prints a token for.
pub const DEMO_ORG_NAME: &str = "Demo";

/// Shared state of the server.
#[derive(Clone)]
pub struct AppState {
    store: Store,
    verifier: Verifier,
    schema: ApiSchema,
    max_body_bytes: usize,
    known_orgs: Arc<RwLock<HashSet<Uuid>>>,
}

impl AppState {
    /// State for a server over `store`, checking tokens with `verifier`.
    pub fn new(store: Store, verifier: Verifier, limits: Limits, max_body_bytes: usize) -> Self {
        Self {
            store,
            verifier,
            schema: build_schema(limits),
            max_body_bytes,
            known_orgs: Arc::new(RwLock::new(HashSet::new())),
        }
    }

    /// Verifies the request's token and checks its organization exists.
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
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
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        // The limit sits inside the rewrite so its bare 413 becomes a GraphQL-shaped error.
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(middleware::map_response(
            move |res: Response<Body>| async move { body_limit_error(res, max_body) },
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
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

async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .title("Tandem GraphiQL")
            .finish(),
    )
}

async fn graphql(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let auth = state
        .authenticate(&headers)
        .await
        .map(|caller| Arc::new(Session::new(&state.store, caller)));
    let request = request.into_inner().data(RequestAuth(auth));
    let mut response = state.schema.execute(request).await;
    for error in &mut response.errors {
        classify_error(error);
    }
    response.into()
}

/// Gives a code to errors raised before any resolver ran (syntax, validation, limits,
/// input coercion); resolver errors already carry one.
fn classify_error(error: &mut async_graphql::ServerError) {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some());
    if has_code {
        return;
    }
    let extensions = error.extensions.get_or_insert_with(Default::default);
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
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("Failed to listen on {}", args.bind))?;
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!(%addr, backend = store.backend_name(), "tandem listening");
    if settings.local_mode {
        print_local_welcome(settings, &store, addr).await?;
    }
    let state = AppState::new(
        store,
        settings.verifier.clone(),
        limits_from(args),
        args.max_body_bytes,
    );
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("Server failed")?;
    tracing::info!("tandem stopped");
    Ok(())
}

/// In local mode: makes sure the demo organization exists and prints how to use it.
async fn print_local_welcome(
    settings: &Settings,
    store: &Store,
    addr: SocketAddr,
) -> anyhow::Result<()> {
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
    Ok(())
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
