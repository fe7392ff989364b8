//! The `tandem` command line. Every option can also come from a `TANDEM_*` environment
//! variable (and the database from `DATABASE_URL`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Tandem: one system for financial and customer goals.
#[derive(Debug, Parser)]
#[command(name = "tandem", version, about)]
pub struct Cli {
    /// Settings shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Database, keys and logging.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Database URL (`postgres://...` or `sqlite://...`). Default: a SQLite file in the data directory.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Directory for the embedded database and the local signing secret.
    #[arg(long, env = "TANDEM_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Shared secret for HS256 tokens. Without any key, a local secret is kept in the data directory.
    #[arg(long, env = "TANDEM_JWT_SECRET", global = true, hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// PEM file with the public key for RS256 or ES256 tokens.
    #[arg(long, env = "TANDEM_JWT_PUBLIC_KEY_FILE", global = true)]
    pub jwt_public_key_file: Option<PathBuf>,
    /// Algorithm of the public key.
    #[arg(
        long,
        env = "TANDEM_JWT_ALGORITHM",
        global = true,
        value_enum,
        default_value = "rs256"
    )]
    pub jwt_algorithm: PublicKeyAlgorithm,
    /// Required `iss` claim.
    #[arg(long, env = "TANDEM_JWT_ISSUER", global = true)]
    pub jwt_issuer: Option<String>,
    /// Required `aud` claim.
    #[arg(long, env = "TANDEM_JWT_AUDIENCE", global = true)]
    pub jwt_audience: Option<String>,
    /// Database connections per process.
    #[arg(
        long,
        env = "TANDEM_DB_MAX_CONNECTIONS",
        global = true,
        default_value_t = 10
    )]
    pub db_max_connections: u32,
    /// Log format.
    #[arg(
        long,
        env = "TANDEM_LOG_FORMAT",
        global = true,
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// OTLP/HTTP collector to export traces to, e.g. `http://127.0.0.1:4318` (off when unset).
    #[arg(long, env = "TANDEM_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,
    /// The `service.name` traces are exported under.
    #[arg(
        long,
        env = "TANDEM_OTLP_SERVICE_NAME",
        global = true,
        default_value = "tandem"
    )]
    pub otlp_service_name: String,
}

/// Algorithms accepted with a public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PublicKeyAlgorithm {
    /// RSA with SHA-256.
    Rs256,
    /// ECDSA P-256 with SHA-256.
    Es256,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server (migrates the database first).
    Serve(ServeArgs),
    /// Apply, roll back or list database migrations.
    Migrate {
        /// Which migration action.
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Manage organizations (tenants).
    Org {
        /// Which organization action.
        #[command(subcommand)]
        action: OrgAction,
    },
    /// Mint a token for local use, signed with the configured or local secret.
    Token(TokenArgs),
    /// Print the GraphQL schema (SDL) the server serves.
    Schema,
}

/// Server settings and limits.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TANDEM_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Deepest query nesting accepted.
    #[arg(long, env = "TANDEM_MAX_QUERY_DEPTH", default_value_t = 12)]
    pub max_query_depth: usize,
    /// Highest query cost accepted: objects a response can hold (a connection counts its
    /// page size per item) plus the price of computed reports.
    #[arg(long, env = "TANDEM_MAX_QUERY_COST", default_value_t = 5_000_000)]
    pub max_query_cost: u64,
    /// Most fields in one document once its fragments are expanded.
    #[arg(long, env = "TANDEM_MAX_QUERY_FIELDS", default_value_t = 2_000)]
    pub max_query_fields: usize,
    /// Most fragment spreads in one document once its fragments are expanded.
    #[arg(long, env = "TANDEM_MAX_FRAGMENT_SPREADS", default_value_t = 500)]
    pub max_fragment_spreads: usize,
    /// Most aliased fields in one document once its fragments are expanded.
    #[arg(long, env = "TANDEM_MAX_ALIASES", default_value_t = 200)]
    pub max_aliases: usize,
    /// Most operations in one document.
    #[arg(long, env = "TANDEM_MAX_OPERATIONS", default_value_t = 10)]
    pub max_operations: usize,
    /// Most fields at the root of one operation.
    #[arg(long, env = "TANDEM_MAX_ROOT_FIELDS", default_value_t = 50)]
    pub max_root_fields: usize,
    /// Longest a GraphQL request may run, in milliseconds, before it is stopped (`TIMEOUT`).
    #[arg(long, env = "TANDEM_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,
    /// Whether callers without a token may introspect the schema (default: yes in local
    /// mode, no otherwise).
    #[arg(long, env = "TANDEM_PUBLIC_INTROSPECTION")]
    pub public_introspection: Option<bool>,
    /// Points in each caller's budget (token subject within its organization); 0 turns
    /// budgets off.
    #[arg(long, env = "TANDEM_RATE_LIMIT_BUCKET", default_value_t = 2_000)]
    pub rate_limit_bucket: u64,
    /// Points restored to each caller's budget per second.
    #[arg(long, env = "TANDEM_RATE_LIMIT_RESTORE", default_value_t = 100)]
    pub rate_limit_restore: u64,
    /// Redis URL: budgets are shared by every replica through it (per process when unset).
    #[arg(long, env = "TANDEM_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Largest page a connection returns (`first` / `last`).
    #[arg(long, env = "TANDEM_MAX_PAGE_SIZE", default_value_t = 500)]
    pub max_page_size: u64,
    /// Most rows in one bulk write.
    #[arg(long, env = "TANDEM_MAX_BATCH_SIZE", default_value_t = 10_000)]
    pub max_batch_size: usize,
    /// Largest request body, in bytes.
    #[arg(long, env = "TANDEM_MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Skip migrating on start (when migrations run as a separate step).
    #[arg(long, env = "TANDEM_SKIP_MIGRATIONS")]
    pub skip_migrations: bool,
    /// How old a change must be, in milliseconds, before incremental sync hands it out; longer
    /// than the longest write transaction plus the clock skew between replicas.
    #[arg(long, env = "TANDEM_SYNC_SETTLE_MS", default_value_t = 5_000)]
    pub sync_settle_ms: u64,
    /// How many days tombstones of removed rows are kept for incremental sync.
    #[arg(long, env = "TANDEM_TOMBSTONE_RETENTION_DAYS", default_value_t = 30)]
    pub tombstone_retention_days: u64,
    /// Bearer token `/metrics` requires; open to anyone who reaches the port when unset.
    #[arg(long, env = "TANDEM_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Most subscriptions running at once on one WebSocket connection.
    #[arg(
        long,
        env = "TANDEM_MAX_SUBSCRIPTIONS_PER_CONNECTION",
        default_value_t = 100
    )]
    pub max_subscriptions_per_connection: usize,
    /// Most WebSocket connections open at once per caller (token subject in its organization),
    /// per server process.
    #[arg(long, env = "TANDEM_MAX_CONNECTIONS_PER_CALLER", default_value_t = 20)]
    pub max_connections_per_caller: usize,
    /// How long, in milliseconds, a WebSocket may stay open without `connection_init`.
    #[arg(
        long,
        env = "TANDEM_CONNECTION_INIT_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub connection_init_timeout_ms: u64,
    /// Browser origins allowed to call `/graphql` and `/export/*` from their pages (CORS),
    /// comma-separated, e.g. `http://localhost:5173,https://app.example.com`; none when unset.
    #[arg(long, env = "TANDEM_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
}

impl Default for ServeArgs {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_query_depth: 12,
            max_query_cost: 5_000_000,
            max_query_fields: 2_000,
            max_fragment_spreads: 500,
            max_aliases: 200,
            max_operations: 10,
            max_root_fields: 50,
            request_timeout_ms: 30_000,
            public_introspection: None,
            rate_limit_bucket: 2_000,
            rate_limit_restore: 100,
            redis_url: None,
            max_page_size: 500,
            max_batch_size: 10_000,
            max_body_bytes: 8 * 1024 * 1024,
            skip_migrations: false,
            sync_settle_ms: 5_000,
            tombstone_retention_days: 30,
            metrics_token: None,
            max_subscriptions_per_connection: 100,
            max_connections_per_caller: 20,
            connection_init_timeout_ms: 10_000,
            cors_origins: Vec::new(),
        }
    }
}

/// Migration actions.
#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply pending migrations.
    Up {
        /// Apply at most this many.
        #[arg(long)]
        steps: Option<u32>,
    },
    /// Roll back applied migrations (one by default).
    Down {
        /// Roll back this many.
        #[arg(long)]
        steps: Option<u32>,
    },
    /// List migrations and whether each is applied.
    Status,
}

/// Organization actions.
#[derive(Debug, Subcommand)]
pub enum OrgAction {
    /// Create an organization with the default journey stages; prints its id.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
    },
}

/// What to put in a minted token.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// Organization id.
    #[arg(long)]
    pub org: uuid::Uuid,
    /// Access role (repeat for several): admin, executive, finance, revops, hr, manager, member, bi, hr_sync.
    #[arg(long = "role", required = true)]
    pub roles: Vec<String>,
    /// Subject (person or service account).
    #[arg(long, default_value = "local-user")]
    pub sub: String,
    /// Validity in hours.
    #[arg(long, default_value_t = 24)]
    pub ttl_hours: u64,
}
