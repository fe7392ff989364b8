//! The last status announced for each scorecard and period: live updates compare a fresh
//! evaluation with it and announce only changes.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use rust_decimal::Decimal;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, Statement,
};
use tandem_domain::periods::Period;
use tandem_domain::scorecards::Rag;
use uuid::Uuid;

use crate::decimal::ExactDecimal;
use crate::entities::{scorecard_items, scorecard_statuses as row, scorecards};
use crate::error::{StoreError, StoreResult};
use crate::events::Event;
use crate::scorecards::{Scorecard, ScorecardItem};
use crate::store::Tenant;

const CHUNK: usize = 500;

/// A scorecard's status for one period, as just evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReading {
    /// The scorecard.
    pub scorecard_id: Uuid,
    /// The period evaluated.
    pub period: Period,
    /// Its status.
    pub status: Rag,
    /// Its score.
    pub score: Decimal,
}

/// A status that differs from the one announced before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    /// The reading now stored.
    pub reading: StatusReading,
    /// The status stored before; `None` for the first one.
    pub previous: Option<Rag>,
}

/// An open status update: while it is open, no other update of the same organization runs,
/// so an evaluation made after opening it sees every change committed before and the last
/// evaluation stored is the freshest.
pub struct StatusUpdate {
    tenant: Tenant,
    txn: DatabaseTransaction,
}

impl Tenant {
    /// The scorecards with at least one item on one of `metric_ids`, each with all its items.
    pub async fn scorecards_using(
        &self,
        metric_ids: &[Uuid],
    ) -> StoreResult<Vec<(Scorecard, Vec<ScorecardItem>)>> {
        let mut card_ids = HashSet::new();
        for chunk in metric_ids.chunks(CHUNK) {
            for m in scorecard_items::Entity::find()
                .filter(scorecard_items::Column::OrgId.eq(self.org_id))
                .filter(scorecard_items::Column::MetricId.is_in(chunk.iter().copied()))
                .all(self.db())
                .await?
            {
                card_ids.insert(m.scorecard_id);
            }
        }
        let card_ids: Vec<Uuid> = card_ids.into_iter().collect();
        let mut items = self.scorecard_items(&card_ids).await?;
        let mut cards = Vec::with_capacity(card_ids.len());
        for chunk in card_ids.chunks(CHUNK) {
            for m in scorecards::Entity::find()
                .filter(scorecards::Column::OrgId.eq(self.org_id))
                .filter(scorecards::Column::Id.is_in(chunk.iter().copied()))
                .all(self.db())
                .await?
            {
                let card = Scorecard::try_from(m)?;
                let its = items.remove(&card.id).unwrap_or_default();
                cards.push((card, its));
            }
        }
        cards.sort_by_key(|(c, _)| c.id);
        Ok(cards)
    }

    /// The periods a scorecard's status has been announced for, oldest first.
    pub async fn announced_periods(&self, scorecard_id: Uuid) -> StoreResult<Vec<Period>> {
        let mut periods: Vec<Period> = row::Entity::find()
            .filter(row::Column::OrgId.eq(self.org_id))
            .filter(row::Column::ScorecardId.eq(scorecard_id))
            .all(self.db())
            .await?
            .into_iter()
            .filter_map(|m| Period::new(m.period_start, m.granularity.parse().ok()?).ok())
            .collect();
        periods.sort();
        Ok(periods)
    }

    /// Opens a status update, waiting for any other one of the organization to finish.
    pub async fn begin_status_update(&self) -> StoreResult<StatusUpdate> {
        let txn = self.store.begin_write().await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            // SQLite's write transaction already excludes other writers.
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1)",
                [lock_key(self.org_id).into()],
            ))
            .await?;
        }
        Ok(StatusUpdate {
            tenant: self.clone(),
            txn,
        })
    }
}

/// The advisory-lock key of an organization's status updates.
fn lock_key(org: Uuid) -> i64 {
    let b = org.as_bytes();
    let mut key = [0u8; 8];
    for (i, byte) in b.iter().enumerate() {
        key[i % 8] ^= byte;
    }
    // A fixed tag keeps these keys apart from other uses of advisory locks.
    i64::from_be_bytes(key) ^ 0x7461_6e64_656d_0001
}

impl StatusUpdate {
    /// Stores the readings whose status differs from the stored one, announces them, and
    /// returns them.
    pub async fn commit(self, readings: Vec<StatusReading>) -> StoreResult<Vec<StatusChange>> {
        let org = self.tenant.org_id;
        let ids: Vec<Uuid> = readings
            .iter()
            .map(|r| r.scorecard_id)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut stored: HashMap<(Uuid, Period), Rag> = HashMap::new();
        for chunk in ids.chunks(CHUNK) {
            for m in row::Entity::find()
                .filter(row::Column::OrgId.eq(org))
                .filter(row::Column::ScorecardId.is_in(chunk.iter().copied()))
                .all(&self.txn)
                .await?
            {
                let (Ok(granularity), Ok(status)) = (m.granularity.parse(), m.status.parse())
                else {
                    continue;
                };
                if let Ok(period) = Period::new(m.period_start, granularity) {
                    stored.insert((m.scorecard_id, period), status);
                }
            }
        }
        let now = Utc::now();
        let mut changes = Vec::new();
        let mut writes = Vec::new();
        for reading in readings {
            let previous = stored.get(&(reading.scorecard_id, reading.period)).copied();
            if previous == Some(reading.status) {
                continue;
            }
            writes.push(row::ActiveModel {
                org_id: Set(org),
                scorecard_id: Set(reading.scorecard_id),
                granularity: Set(reading.period.granularity().as_str().to_owned()),
                period_start: Set(reading.period.start()),
                status: Set(reading.status.as_str().to_owned()),
                score: Set(ExactDecimal(reading.score)),
                updated_at: Set(now),
            });
            changes.push(StatusChange { reading, previous });
        }
        if changes.is_empty() {
            self.txn.rollback().await?;
            return Ok(changes);
        }
        let mut writes = writes.into_iter().peekable();
        while writes.peek().is_some() {
            let chunk: Vec<_> = writes.by_ref().take(CHUNK).collect();
            row::Entity::insert_many(chunk)
                .on_conflict(
                    OnConflict::columns([
                        row::Column::OrgId,
                        row::Column::ScorecardId,
                        row::Column::Granularity,
                        row::Column::PeriodStart,
                    ])
                    .update_columns([
                        row::Column::Status,
                        row::Column::Score,
                        row::Column::UpdatedAt,
                    ])
                    .to_owned(),
                )
                .exec_without_returning(&self.txn)
                .await?;
        }
        let events = changes
            .iter()
            .map(|c| Event::ScorecardStatusChanged {
                org,
                scorecard: c.reading.scorecard_id,
                period: c.reading.period,
                status: c.reading.status,
                previous: c.previous,
                score: c.reading.score,
            })
            .collect();
        let staged = self.tenant.store.events().stage(&self.txn, events).await?;
        self.txn.commit().await.map_err(StoreError::from)?;
        staged.committed();
        Ok(changes)
    }
}
