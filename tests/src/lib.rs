//! Test harness: a real Tandem server on an ephemeral port over a fresh database (a SQLite
//! file, or a new PostgreSQL database when `TEST_DATABASE_URL` is set), with real signed
//! tokens per access role.

use std::net::SocketAddr;

use serde_json::{Value, json};
use tandem_api::Limits;
use tandem_api::LiveSettings;
use tandem_api::auth::{KeySource, Minter, Verifier};
use tandem_api::server::{AppState, router};
use tandem_domain::access::AccessRole;
use tandem_persistence::{Actor, Store};
use uuid::Uuid;

/// The secret tokens are signed with in tests.
pub const SECRET: &[u8] = b"tandem-test-secret-0123456789abcdef";

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A new database on the server named by `TEST_DATABASE_URL`.
    Postgres,
}

/// A PostgreSQL database created for one test and dropped after it.
struct PgDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs outside async context; use a short-lived runtime on its own thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async move {
                    if let Ok(store) = Store::connect(&admin_url, 1).await {
                        let _ = store
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            ))
                            .await;
                    }
                });
            }
        })
        .join();
    }
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    /// Where the server listens.
    pub addr: SocketAddr,
    /// The server's store (for statement counts and setup).
    pub store: Store,
    /// The organization tokens are minted for by default.
    pub org_id: Uuid,
    /// Which backend this is.
    pub backend: Backend,
    minter: Minter,
    client: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgDatabase>,
}

/// The PostgreSQL URL for tests, if configured.
pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Starts a server with default limits. Returns `None` for PostgreSQL when it is not configured.
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, Limits::default(), 8 * 1024 * 1024).await
}

/// Starts a server with the given limits.
pub async fn spawn_app_with(backend: Backend, limits: Limits, max_body: usize) -> Option<TestApp> {
    spawn(backend, limits, max_body, None, AppOptions::default()).await
}

/// Settings a test may change besides the limits.
#[derive(Default)]
pub struct AppOptions {
    /// How tokens are checked; HS256 with [`SECRET`] and no issuer or audience when `None`.
    pub verifier: Option<Verifier>,
    /// WebSocket limits; the defaults when `None`.
    pub live: Option<LiveSettings>,
}

/// Starts a server with default limits and `options`.
pub async fn spawn_app_with_options(backend: Backend, options: AppOptions) -> Option<TestApp> {
    spawn(backend, Limits::default(), 8 * 1024 * 1024, None, options).await
}

/// Starts a server whose `/metrics` requires `Authorization: Bearer <metrics_token>`.
pub async fn spawn_app_with_metrics_token(
    backend: Backend,
    metrics_token: &str,
) -> Option<TestApp> {
    spawn(
        backend,
        Limits::default(),
        8 * 1024 * 1024,
        Some(metrics_token.to_owned()),
        AppOptions::default(),
    )
    .await
}

async fn spawn(
    backend: Backend,
    limits: Limits,
    max_body: usize,
    metrics_token: Option<String>,
    options: AppOptions,
) -> Option<TestApp> {
    let (url, dir, pg) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("test.sqlite").display()
            );
            (url, Some(dir), None)
        }
        Backend::Postgres => {
            let admin_url = postgres_url()?;
            let name = format!("tandem_test_{}", Uuid::new_v4().simple());
            let admin = Store::connect(&admin_url, 1)
                .await
                .expect("connect to TEST_DATABASE_URL");
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create test database");
            let (base, _) = admin_url.rsplit_once('/').expect("database URL has a path");
            let url = format!("{base}/{name}");
            (url, None, Some(PgDatabase { admin_url, name }))
        }
    };
    let store = Store::connect(&url, 5).await.expect("connect");
    store.migrate_up(None).await.expect("migrate");
    let org = store
        .create_organization(&Actor("test".into()), "Acme")
        .await
        .expect("create org");
    let verifier = match options.verifier {
        Some(verifier) => verifier,
        None => Verifier::new(&KeySource::Secret(SECRET.to_vec()), None, None).expect("verifier"),
    };
    let state = AppState::new(store.clone(), verifier, limits, max_body)
        .with_metrics_token(metrics_token)
        .with_live_settings(options.live.unwrap_or_default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router(state)).await;
    });
    Some(TestApp {
        addr,
        store,
        org_id: org.id,
        backend,
        minter: Minter::new(SECRET, None, None),
        client: reqwest::Client::new(),
        _dir: dir,
        _pg: pg,
    })
}

/// A test body written as `|app| async move { app.store... }` would otherwise capture only the
/// fields it names (precise closure capture) and drop the temporary database before running;
/// a `Drop` impl makes the whole app move into the body.
impl Drop for TestApp {
    fn drop(&mut self) {}
}

fn parse_roles(roles: &[&str]) -> Vec<AccessRole> {
    roles
        .iter()
        .map(|r| AccessRole::from_claim(r).unwrap_or_else(|| panic!("unknown role {r}")))
        .collect()
}

impl TestApp {
    /// Base URL.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A valid token for this app's organization with `roles`, subject `<first role>-user`.
    pub fn token(&self, roles: &[&str]) -> String {
        let sub = format!("{}-user", roles.first().copied().unwrap_or("no-role"));
        self.token_for(self.org_id, &sub, roles)
    }

    /// A valid token for any organization and subject.
    pub fn token_for(&self, org: Uuid, sub: &str, roles: &[&str]) -> String {
        self.minter
            .mint(sub, org, &parse_roles(roles), 3600)
            .expect("mint")
    }

    /// Creates another organization (tenant).
    pub async fn create_org(&self, name: &str) -> Uuid {
        self.store
            .create_organization(&Actor("test".into()), name)
            .await
            .expect("create org")
            .id
    }

    /// Posts a GraphQL request with an optional token; returns the JSON body.
    pub async fn gql_with(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut req = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let res = req.send().await.expect("request");
        res.json().await.expect("json body")
    }

    /// Posts a GraphQL request as a caller holding `role`.
    pub async fn gql(&self, role: &str, query: &str, variables: Value) -> Value {
        let token = self.token(&[role]);
        self.gql_with(Some(&token), query, variables).await
    }

    /// Posts as `role` and returns `data`, failing the test on any error.
    pub async fn ok(&self, role: &str, query: &str, variables: Value) -> Value {
        let body = self.gql(role, query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
        body["data"].clone()
    }

    /// How many SQL statements the server's pool has run so far.
    pub fn statements(&self) -> u64 {
        self.store.statements_executed()
    }

    /// Raw HTTP client.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

/// The `extensions.code` of the first error of a response, if any.
pub fn error_code(body: &Value) -> Option<String> {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .map(str::to_owned)
}

/// The `extensions.field` of the first error of a response, if any.
pub fn error_field(body: &Value) -> Option<String> {
    body["errors"][0]["extensions"]["field"]
        .as_str()
        .map(str::to_owned)
}

/// The URL of the PostgreSQL server for a PostgreSQL test; fails the test when none is set.
/// Such a test is ignored unless `TEST_DATABASE_URL` (or `CI`) was set when it was built, so
/// this fails only when the database was expected: in CI, with `--include-ignored`, or when
/// the variable was set at build time but not at run time.
pub fn require_postgres_url() -> String {
    postgres_url().unwrap_or_else(|| {
        panic!("TEST_DATABASE_URL is not set: this PostgreSQL test needs a PostgreSQL server")
    })
}

/// Starts a server on PostgreSQL with default limits; fails the test when
/// `TEST_DATABASE_URL` is not set.
pub async fn spawn_postgres_app() -> TestApp {
    spawn_postgres_app_with(Limits::default(), 8 * 1024 * 1024).await
}

/// Starts a server on PostgreSQL; fails the test when `TEST_DATABASE_URL` is not set.
pub async fn spawn_postgres_app_with(limits: Limits, max_body: usize) -> TestApp {
    require_postgres_url();
    spawn_app_with(Backend::Postgres, limits, max_body)
        .await
        .expect("postgres app")
}

/// Runs a test body against SQLite and PostgreSQL: defines a module with one `sqlite` and one
/// `postgres` test. The `postgres` test is ignored (not passed) when the tests were built
/// without `TEST_DATABASE_URL`, and fails when it runs without a database.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::spawn_app($crate::Backend::Sqlite)
                    .await
                    .expect("sqlite app");
                ($body)(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(
                tandem_no_postgres,
                ignore = "set TEST_DATABASE_URL to run on PostgreSQL"
            )]
            async fn postgres() {
                let app = $crate::spawn_postgres_app().await;
                ($body)(app).await;
            }
        }
    };
}
