//! Live events: what changed in an organization, announced to subscribers in this process and,
//! on PostgreSQL, in every process connected to the same database.
//!
//! On SQLite (one process) events go through an in-process broadcast channel after the writing
//! transaction commits. On PostgreSQL the writing transaction itself sends `pg_notify`, so an
//! event is delivered exactly when the change commits and never for a change rolled back
//! (dry runs, failed batches); every process `LISTEN`s on one channel and re-broadcasts what
//! it hears to its own subscribers, including the events it sent itself.
//!
//! Events carry ids only. Subscribers re-read the rows through their own tenant-scoped handle,
//! so what a subscriber receives follows the same access rules as a query.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, Value};
use serde::{Deserialize, Serialize};
use tandem_domain::periods::{Granularity, Period};
use tandem_domain::scorecards::Rag;
use tokio::sync::{OnceCell, broadcast};
use uuid::Uuid;

use crate::error::{StoreError, StoreResult};
use crate::store::Tenant;

/// The PostgreSQL channel every process listens on.
pub const CHANNEL: &str = "tandem_events";

/// Most ids one notification carries: 150 ids of 39 bytes keep a payload well under
/// PostgreSQL's 8000-byte limit.
const IDS_PER_NOTICE: usize = 150;

/// Most `pg_notify` calls sent in one statement.
const NOTICES_PER_STATEMENT: usize = 100;

/// Events kept for a slow subscriber before it starts missing some.
const BUFFER: usize = 4096;

/// Something that changed in an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Observations were created or changed (one event per batch, split into parts of at
    /// most 150 ids).
    ObservationsRecorded {
        /// The organization.
        org: Uuid,
        /// The observations written.
        ids: Vec<Uuid>,
    },
    /// A check-in was added to a key result.
    CheckInAdded {
        /// The organization.
        org: Uuid,
        /// The new check-in.
        check_in: Uuid,
        /// Its key result.
        key_result: Uuid,
        /// The key result's objective.
        objective: Uuid,
    },
    /// A scorecard's status for a period changed.
    ScorecardStatusChanged {
        /// The organization.
        org: Uuid,
        /// The scorecard.
        scorecard: Uuid,
        /// The period evaluated.
        period: Period,
        /// The new status.
        status: Rag,
        /// The status announced before, if any.
        previous: Option<Rag>,
        /// The score behind the new status.
        score: Decimal,
    },
}

impl Event {
    /// The organization the event belongs to.
    pub fn org(&self) -> Uuid {
        match self {
            Event::ObservationsRecorded { org, .. }
            | Event::CheckInAdded { org, .. }
            | Event::ScorecardStatusChanged { org, .. } => *org,
        }
    }
}

/// The JSON form sent through `pg_notify`: short keys, plain strings.
#[derive(Serialize, Deserialize)]
#[serde(tag = "k")]
enum Wire {
    #[serde(rename = "obs")]
    Observations { o: Uuid, ids: Vec<Uuid> },
    #[serde(rename = "checkin")]
    CheckIn {
        o: Uuid,
        c: Uuid,
        kr: Uuid,
        obj: Uuid,
    },
    #[serde(rename = "status")]
    Status {
        o: Uuid,
        sc: Uuid,
        g: String,
        p: NaiveDate,
        s: String,
        prev: Option<String>,
        score: String,
    },
}

impl From<&Event> for Wire {
    fn from(e: &Event) -> Self {
        match e {
            Event::ObservationsRecorded { org, ids } => Wire::Observations {
                o: *org,
                ids: ids.clone(),
            },
            Event::CheckInAdded {
                org,
                check_in,
                key_result,
                objective,
            } => Wire::CheckIn {
                o: *org,
                c: *check_in,
                kr: *key_result,
                obj: *objective,
            },
            Event::ScorecardStatusChanged {
                org,
                scorecard,
                period,
                status,
                previous,
                score,
            } => Wire::Status {
                o: *org,
                sc: *scorecard,
                g: period.granularity().as_str().to_owned(),
                p: period.start(),
                s: status.as_str().to_owned(),
                prev: previous.map(|p| p.as_str().to_owned()),
                score: score.to_string(),
            },
        }
    }
}

impl TryFrom<Wire> for Event {
    type Error = String;

    fn try_from(w: Wire) -> Result<Self, String> {
        Ok(match w {
            Wire::Observations { o, ids } => Event::ObservationsRecorded { org: o, ids },
            Wire::CheckIn { o, c, kr, obj } => Event::CheckInAdded {
                org: o,
                check_in: c,
                key_result: kr,
                objective: obj,
            },
            Wire::Status {
                o,
                sc,
                g,
                p,
                s,
                prev,
                score,
            } => {
                let granularity: Granularity = g.parse().map_err(|e| format!("{e}"))?;
                Event::ScorecardStatusChanged {
                    org: o,
                    scorecard: sc,
                    period: Period::new(p, granularity).map_err(|e| format!("{e}"))?,
                    status: s.parse().map_err(|e| format!("{e}"))?,
                    previous: prev
                        .map(|p| p.parse())
                        .transpose()
                        .map_err(|e| format!("{e}"))?,
                    score: score.parse().map_err(|e| format!("{e}"))?,
                }
            }
        })
    }
}

/// Splits events so that no notification exceeds the payload limit.
fn split(events: Vec<Event>) -> Vec<Event> {
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        match e {
            Event::ObservationsRecorded { org, ids } if ids.len() > IDS_PER_NOTICE => {
                out.extend(
                    ids.chunks(IDS_PER_NOTICE)
                        .map(|c| Event::ObservationsRecorded {
                            org,
                            ids: c.to_vec(),
                        }),
                );
            }
            Event::ObservationsRecorded { ref ids, .. } if ids.is_empty() => {}
            other => out.push(other),
        }
    }
    out
}

/// Where events go and where subscribers get them.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

struct Inner {
    sender: broadcast::Sender<Arc<Event>>,
    /// The database URL to listen on (PostgreSQL only).
    listen_url: Option<String>,
    /// Set once the PostgreSQL listener is running.
    listening: OnceCell<()>,
}

/// Events staged in a transaction; [`Staged::committed`] delivers them in-process after the
/// commit (SQLite). On PostgreSQL the transaction already carries them.
#[must_use = "call `committed()` after the transaction commits"]
pub(crate) struct Staged {
    bus: EventBus,
    local: Vec<Event>,
}

impl Staged {
    /// Delivers the staged events; call right after the commit succeeded.
    pub(crate) fn committed(self) {
        for event in self.local {
            // No subscriber is not an error.
            let _ = self.bus.inner.sender.send(Arc::new(event));
        }
    }
}

impl EventBus {
    /// A bus for the database at `url` on `backend`.
    pub(crate) fn new(backend: DbBackend, url: &str) -> Self {
        let (sender, _) = broadcast::channel(BUFFER);
        Self {
            inner: Arc::new(Inner {
                sender,
                listen_url: (backend == DbBackend::Postgres).then(|| url.to_owned()),
                listening: OnceCell::new(),
            }),
        }
    }

    /// `in-process` or `postgres-notify`.
    pub fn kind(&self) -> &'static str {
        if self.inner.listen_url.is_some() {
            "postgres-notify"
        } else {
            "in-process"
        }
    }

    /// Stages events in a writing transaction: on PostgreSQL sends them with `pg_notify` in
    /// the transaction (delivered on commit, dropped on rollback); otherwise keeps them for
    /// [`Staged::committed`].
    pub(crate) async fn stage(
        &self,
        txn: &DatabaseTransaction,
        events: Vec<Event>,
    ) -> StoreResult<Staged> {
        let events = split(events);
        if self.inner.listen_url.is_none() {
            return Ok(Staged {
                bus: self.clone(),
                local: events,
            });
        }
        for chunk in events.chunks(NOTICES_PER_STATEMENT) {
            let mut sql = String::from("SELECT ");
            let mut values: Vec<Value> = vec![CHANNEL.into()];
            for (i, event) in chunk.iter().enumerate() {
                let payload = serde_json::to_string(&Wire::from(event))
                    .map_err(|e| StoreError::Database(sea_orm::DbErr::Custom(e.to_string())))?;
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("pg_notify($1, ${})", i + 2));
                values.push(payload.into());
            }
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                values,
            ))
            .await?;
        }
        Ok(Staged {
            bus: self.clone(),
            local: Vec::new(),
        })
    }

    /// Starts listening to the database (PostgreSQL), once; returns when `LISTEN` is in place,
    /// so events committed afterwards reach this process.
    pub async fn start(&self) -> StoreResult<()> {
        let Some(url) = self.inner.listen_url.clone() else {
            return Ok(());
        };
        self.inner
            .listening
            .get_or_try_init(|| async {
                let listener = listen(&url).await?;
                let sender = self.inner.sender.clone();
                tokio::spawn(relay(listener, url, sender));
                tracing::info!(channel = CHANNEL, "listening for events");
                Ok::<_, StoreError>(())
            })
            .await?;
        Ok(())
    }

    /// A receiver of every event from now on (all organizations; see [`Tenant::events`]).
    async fn receiver(&self) -> StoreResult<broadcast::Receiver<Arc<Event>>> {
        self.start().await?;
        Ok(self.inner.sender.subscribe())
    }
}

async fn listen(url: &str) -> StoreResult<PgListener> {
    let conn_err = |e: sea_orm::sqlx::Error| {
        StoreError::Database(sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(
            Arc::new(e),
        )))
    };
    let mut listener = PgListener::connect(url).await.map_err(conn_err)?;
    listener.listen(CHANNEL).await.map_err(conn_err)?;
    Ok(listener)
}

/// Forwards notifications to this process's subscribers for as long as the process runs,
/// reconnecting when the connection is lost. Notifications sent while disconnected are lost
/// (PostgreSQL does not keep them); the next change announces itself again.
async fn relay(mut listener: PgListener, url: String, sender: broadcast::Sender<Arc<Event>>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match listener.try_recv().await {
            Ok(Some(note)) => {
                backoff = Duration::from_millis(200);
                match serde_json::from_str::<Wire>(note.payload())
                    .map_err(|e| e.to_string())
                    .and_then(Event::try_from)
                {
                    Ok(event) => {
                        let _ = sender.send(Arc::new(event));
                    }
                    Err(e) => tracing::warn!(error = %e, "ignoring an unreadable event"),
                }
            }
            // The connection dropped and was re-established (LISTEN is re-issued).
            Ok(None) => tracing::warn!("event listener reconnected; events in between are lost"),
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "event listener failed; reconnecting");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                match listen(&url).await {
                    Ok(fresh) => listener = fresh,
                    Err(e) => tracing::warn!(error = %e, "event listener could not reconnect"),
                }
            }
        }
    }
}

/// The events of one organization, from the moment it was opened.
pub struct TenantEvents {
    org: Uuid,
    receiver: broadcast::Receiver<Arc<Event>>,
}

impl TenantEvents {
    /// The next event of the organization; `None` when the bus is gone. A subscriber too slow
    /// to keep up skips the events it missed (logged) and goes on.
    pub async fn next(&mut self) -> Option<Arc<Event>> {
        loop {
            match self.receiver.recv().await {
                Ok(event) if event.org() == self.org => return Some(event),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "a live subscriber fell behind");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

impl Tenant {
    /// The organization's live events from now on; never another organization's.
    pub async fn events(&self) -> StoreResult<TenantEvents> {
        Ok(TenantEvents {
            org: self.org_id,
            receiver: self.store.events().receiver().await?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_the_wire_and_fit_a_notification() {
        let org = Uuid::now_v7();
        let ids: Vec<Uuid> = (0..IDS_PER_NOTICE).map(|_| Uuid::now_v7()).collect();
        let event = Event::ObservationsRecorded { org, ids };
        let json = serde_json::to_string(&Wire::from(&event)).expect("json");
        assert!(json.len() < 8000, "{} bytes", json.len());
        let back: Event = serde_json::from_str::<Wire>(&json)
            .expect("wire")
            .try_into()
            .expect("event");
        assert_eq!(back, event);

        let status = Event::ScorecardStatusChanged {
            org,
            scorecard: Uuid::now_v7(),
            period: Period::new(
                NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
                Granularity::Month,
            )
            .expect("period"),
            status: Rag::Green,
            previous: Some(Rag::Red),
            score: "0.9876543210123".parse().expect("decimal"),
        };
        let json = serde_json::to_string(&Wire::from(&status)).expect("json");
        let back: Event = serde_json::from_str::<Wire>(&json)
            .expect("wire")
            .try_into()
            .expect("event");
        assert_eq!(back, status);
    }

    #[test]
    fn big_batches_are_split_and_empty_ones_dropped() {
        let org = Uuid::now_v7();
        let ids: Vec<Uuid> = (0..401).map(|_| Uuid::now_v7()).collect();
        let parts = split(vec![
            Event::ObservationsRecorded {
                org,
                ids: ids.clone(),
            },
            Event::ObservationsRecorded {
                org,
                ids: Vec::new(),
            },
        ]);
        assert_eq!(parts.len(), 3);
        let joined: Vec<Uuid> = parts
            .iter()
            .flat_map(|p| match p {
                Event::ObservationsRecorded { ids, .. } => ids.clone(),
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(joined, ids);
    }
}
