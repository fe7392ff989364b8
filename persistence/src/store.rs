//! Connecting, migrating, and handing out tenant-scoped handles.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use tandem_migrations::{MigrationStatus, Migrator, MigratorTrait};
use uuid::Uuid;

use crate::error::StoreResult;
use crate::events::EventBus;

/// Who is making a change, as recorded in versions and the audit trail: the token's `sub`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    /// The actor's subject.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which part of an ordered list to return, in Relay terms over row positions: rows after
/// position `after` and before position `before`, then the `first` or the `last` of those.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Page {
    /// Only rows after this position.
    pub after: Option<u64>,
    /// Only rows before this position.
    pub before: Option<u64>,
    /// At most this many rows from the start of the window.
    pub first: Option<u64>,
    /// At most this many rows from the end of the window.
    pub last: Option<u64>,
}

impl Page {
    /// The first `n` rows.
    pub fn first(n: u64) -> Self {
        Self {
            first: Some(n),
            ..Self::default()
        }
    }

    /// The offset and length of the window in a list of `total` rows.
    pub fn window(&self, total: u64) -> (u64, u64) {
        let mut start = self.after.map_or(0, |a| a.saturating_add(1)).min(total);
        let mut end = self.before.map_or(total, |b| b.min(total)).max(start);
        if let Some(first) = self.first {
            end = end.min(start.saturating_add(first));
        }
        if let Some(last) = self.last {
            start = start.max(end.saturating_sub(last));
        }
        (start, end - start)
    }

    /// Applies the window to rows already in memory.
    pub fn slice<T>(&self, mut rows: Vec<T>) -> Slice<T> {
        let total = rows.len() as u64;
        let (offset, len) = self.window(total);
        let items: Vec<T> = rows
            .drain(..)
            .skip(offset as usize)
            .take(len as usize)
            .collect();
        Slice {
            items,
            total,
            offset,
        }
    }
}

/// A page of rows, where it starts, and the total number of rows matching the query.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice<T> {
    /// The rows of the page.
    pub items: Vec<T>,
    /// All matching rows, across pages.
    pub total: u64,
    /// Position of the first row of the page in the whole list.
    pub offset: u64,
}

/// Runs a count query and then the page query for the window it implies.
pub(crate) async fn paginate<E, M, T>(
    conn: &sea_orm::DatabaseConnection,
    query: sea_orm::Select<E>,
    page: Page,
    convert: impl Fn(M) -> StoreResult<T>,
) -> StoreResult<Slice<T>>
where
    E: sea_orm::EntityTrait<Model = M>,
    M: sea_orm::FromQueryResult + Send + Sync,
{
    use sea_orm::{PaginatorTrait, QuerySelect};
    let total = query.clone().count(conn).await?;
    let (offset, limit) = page.window(total);
    let items = if limit == 0 {
        Vec::new()
    } else {
        query
            .offset(offset)
            .limit(limit)
            .all(conn)
            .await?
            .into_iter()
            .map(convert)
            .collect::<StoreResult<_>>()?
    };
    Ok(Slice {
        items,
        total,
        offset,
    })
}

#[cfg(test)]
mod page_tests {
    use super::Page;

    #[test]
    fn windows_follow_relay_rules() {
        let p = |after, before, first, last| Page {
            after,
            before,
            first,
            last,
        };
        assert_eq!(p(None, None, Some(10), None).window(25), (0, 10));
        assert_eq!(p(Some(9), None, Some(10), None).window(25), (10, 10));
        assert_eq!(p(Some(19), None, Some(10), None).window(25), (20, 5));
        assert_eq!(p(None, None, None, Some(10)).window(25), (15, 10));
        assert_eq!(p(None, Some(15), None, Some(10)).window(25), (5, 10));
        assert_eq!(p(Some(2), Some(5), None, None).window(25), (3, 2));
        assert_eq!(p(Some(30), None, Some(10), None).window(25), (25, 0));
        assert_eq!(p(None, None, Some(10), None).window(0), (0, 0));
    }

    #[test]
    fn in_memory_slices_match_windows() {
        let s = Page {
            after: Some(1),
            first: Some(2),
            ..Page::default()
        }
        .slice(vec![0, 1, 2, 3, 4]);
        assert_eq!((s.items, s.total, s.offset), (vec![2, 3], 5, 2));
    }
}

/// Whether a migration step has been applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// Step name.
    pub name: String,
    /// Applied to this database.
    pub applied: bool,
}

/// How busy the connection pool is, for operations dashboards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Connections open now (idle and in use).
    pub size: u32,
    /// Open connections waiting for work.
    pub idle: u32,
    /// Connections the pool may open at most.
    pub max: u32,
}

impl PoolStatus {
    /// Connections running a statement or held by a transaction now.
    pub fn in_use(&self) -> u32 {
        self.size.saturating_sub(self.idle)
    }
}

/// A connection pool to Tandem's database, SQLite or PostgreSQL.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    statements: Arc<AtomicU64>,
    events: EventBus,
    bulk_queues: Arc<[Arc<tokio::sync::Mutex<()>>]>,
}

/// How many in-process queues bulk writes are spread over (by organization and area).
const BULK_QUEUES: usize = 64;

impl Store {
    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://...`) with a pool of at most
    /// `max_connections`.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .max_connections(max_connections)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    .create_if_missing(true)
            });
        let mut db = Database::connect(options).await?;
        let statements = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&statements);
        db.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        let events = EventBus::new(db.get_database_backend(), url);
        Ok(Self {
            db,
            statements,
            events,
            bulk_queues: (0..BULK_QUEUES)
                .map(|_| Arc::new(tokio::sync::Mutex::new(())))
                .collect(),
        })
    }

    /// Where live events go: in-process on SQLite, `LISTEN`/`NOTIFY` on PostgreSQL.
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self.db.get_database_backend() {
            DbBackend::Sqlite => "sqlite",
            DbBackend::Postgres => "postgres",
            _ => "other",
        }
    }

    /// Open, idle and maximum connections of the pool right now.
    pub fn pool_status(&self) -> PoolStatus {
        fn status<DB: sea_orm::sqlx::Database>(pool: &sea_orm::sqlx::Pool<DB>) -> PoolStatus {
            PoolStatus {
                size: pool.size(),
                idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                max: pool.options().get_max_connections(),
            }
        }
        match self.db.get_database_backend() {
            DbBackend::Sqlite => status(self.db.get_sqlite_connection_pool()),
            DbBackend::Postgres => status(self.db.get_postgres_connection_pool()),
            _ => PoolStatus {
                size: 0,
                idle: 0,
                max: 0,
            },
        }
    }

    /// How many SQL statements this pool has executed since it was opened; used to check that
    /// reads are batched.
    pub fn statements_executed(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// Runs one SQL statement as is; for operators and test set-up (creating databases).
    pub async fn execute_unprepared(&self, sql: &str) -> StoreResult<()> {
        use sea_orm::ConnectionTrait;
        self.db.execute_unprepared(sql).await?;
        Ok(())
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> StoreResult<()> {
        Ok(self.db.ping().await?)
    }

    /// Applies pending migrations (all, or at most `steps`).
    pub async fn migrate_up(&self, steps: Option<u32>) -> StoreResult<()> {
        Migrator::up(&self.db, steps).await?;
        if steps.is_none() {
            self.rebuild_missing_mrr_ledgers().await?;
        }
        Ok(())
    }

    /// Rolls back applied migrations (the last one, or `steps`).
    pub async fn migrate_down(&self, steps: Option<u32>) -> StoreResult<()> {
        Ok(Migrator::down(&self.db, Some(steps.unwrap_or(1))).await?)
    }

    /// Lists every migration step and whether it is applied.
    pub async fn migration_status(&self) -> StoreResult<Vec<MigrationState>> {
        let steps = Migrator::get_migration_with_status(&self.db).await?;
        Ok(steps
            .iter()
            .map(|m| MigrationState {
                name: m.name().to_owned(),
                applied: m.status() == MigrationStatus::Applied,
            })
            .collect())
    }

    /// Whether every migration step is applied.
    pub async fn is_migrated(&self) -> StoreResult<bool> {
        Ok(Migrator::get_pending_migrations(&self.db).await?.is_empty())
    }

    /// A handle for everything inside one organization. Build it only from a verified token
    /// or an operator command.
    pub fn tenant(&self, org_id: Uuid) -> Tenant {
        Tenant {
            store: self.clone(),
            org_id,
        }
    }

    pub(crate) fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock at once, so two
    /// writers queue instead of failing when one upgrades a read lock.
    pub(crate) async fn begin_write(&self) -> StoreResult<DatabaseTransaction> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        Ok(self.db.begin_with_options(options).await?)
    }

    /// Starts a bulk write of `area` in organization `org`: a write transaction that first waits
    /// for any other bulk write of the same area and organization to finish. SQLite already
    /// runs one writer at a time; on PostgreSQL a transaction-scoped advisory lock does (across
    /// every server process), so a bulk write reads the rows it compares against only once no
    /// other writer of them is half-way, and its created/updated/unchanged counts and audit
    /// events are exact. Within this process, writers wait in a queue before they take a
    /// connection, so waiting writers do not drain the pool that reads need.
    ///
    /// Keep the returned guard until the transaction has ended.
    pub(crate) async fn begin_bulk_write(
        &self,
        org: Uuid,
        area: BulkArea,
    ) -> StoreResult<(BulkTurn, DatabaseTransaction)> {
        let stripe = (fold_org(org) as u32 as usize ^ area.lock_class() as usize) % BULK_QUEUES;
        let turn = BulkTurn {
            _queue: Arc::clone(&self.bulk_queues[stripe]).lock_owned().await,
        };
        let txn = self.begin_write().await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1, $2)",
                [area.lock_class().into(), fold_org(org).into()],
            ))
            .await?;
        }
        Ok((turn, txn))
    }
}

/// A bulk write's turn in this process's queue (see [`Store::begin_bulk_write`]); the next
/// writer of the queue starts when it is dropped.
pub(crate) struct BulkTurn {
    _queue: tokio::sync::OwnedMutexGuard<()>,
}

/// The kinds of bulk write that exclude each other within an organization: writes of one area
/// read and write the same tables (and derived rows such as the MRR ledger), writes of
/// different areas do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BulkArea {
    /// `recordObservations`.
    Observations,
    /// `upsertAccounts` and `recordRevenueMovements` (both rebuild or move the MRR ledger).
    Revenue,
    /// The HR sync and the mutations built on it (`assignRoleKpis`, `upsertPerson`, ...).
    People,
}

impl BulkArea {
    /// First key of the area's advisory locks; the two-key form keeps them apart from the
    /// one-key locks of status updates.
    fn lock_class(self) -> i32 {
        // "tn" followed by the area number.
        0x746e_0000
            + match self {
                BulkArea::Observations => 1,
                BulkArea::Revenue => 2,
                BulkArea::People => 3,
            }
    }
}

/// An organization id folded to the 32 bits an advisory-lock key part holds. Two
/// organizations folding alike only share a queue, they never see each other's rows.
fn fold_org(org: Uuid) -> i32 {
    let mut key = [0u8; 4];
    for (i, byte) in org.as_bytes().iter().enumerate() {
        key[i % 4] ^= byte;
    }
    i32::from_be_bytes(key)
}

/// How many times a write transaction runs at most when it loses a race (deadlock,
/// serialization failure, a key another writer took first, a busy SQLite database).
pub(crate) const WRITE_ATTEMPTS: u32 = 5;

/// Bounded re-runs of a write transaction that lost a race, with a short, growing, jittered
/// pause between runs. Use it as
/// `loop { match once().await { Err(e) if retry.again(&e).await => continue, done => return done } }`.
#[derive(Debug, Default)]
pub(crate) struct Retry {
    runs: u32,
}

impl Retry {
    /// Whether the transaction that failed with `err` should run again; pauses first. False
    /// for errors a new run cannot cure and once [`WRITE_ATTEMPTS`] runs are spent.
    pub(crate) async fn again(&mut self, err: &crate::error::StoreError) -> bool {
        self.runs += 1;
        if !err.is_transient() || self.runs >= WRITE_ATTEMPTS {
            return false;
        }
        // 10, 20, 40, 80 ms, each plus up to as much again at random, so writers that
        // collided do not collide again in step.
        let base = 10u64 << (self.runs - 1);
        let jitter = (Uuid::new_v4().as_u128() % u128::from(base)) as u64;
        tracing::debug!(error = %err, run = self.runs, "write transaction lost a race; running it again");
        tokio::time::sleep(Duration::from_millis(base + jitter)).await;
        true
    }
}

/// Everything inside one organization. Every query it runs filters on its organization.
#[derive(Clone)]
pub struct Tenant {
    pub(crate) store: Store,
    pub(crate) org_id: Uuid,
}

impl Tenant {
    /// The organization this handle is scoped to.
    pub fn org_id(&self) -> Uuid {
        self.org_id
    }

    pub(crate) fn db(&self) -> &DatabaseConnection {
        self.store.db()
    }
}
