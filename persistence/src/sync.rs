//! Incremental sync: fact lists paged in (change time, id) order with a cursor that survives
//! concurrent writes, and tombstones for rows that were removed or retired.
//!
//! A page holds rows changed at or before a *horizon* (now minus a settle window), so a write
//! whose transaction is still open when the page is read cannot later appear behind a cursor
//! already handed out. Rows that change after a consumer read them move to the end of the
//! order and are read again with their new values; unchanged rows are read exactly once.

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Select,
};
use uuid::Uuid;

use crate::entities::{
    accounts, check_ins, goals, key_results, observations, payout_statements, revenue_movements,
    tombstones,
};
use crate::error::StoreResult;
use crate::goals::{Goal, GoalFilter};
use crate::incentives::Statement;
use crate::observations::{Observation, ObservationFilter};
use crate::okrs::{CheckIn, KeyResult};
use crate::revenue::{Account, RevenueMovement};
use crate::store::{Actor, Store, Tenant};

/// Largest number of rows written in one statement.
const CHUNK: usize = 500;

/// A position in a change-ordered list: the row's change time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SyncCursor {
    /// When the row last changed.
    pub changed_at: DateTime<Utc>,
    /// The row's id, ordering rows changed at the same instant.
    pub id: Uuid,
}

impl SyncCursor {
    /// The cursor as text: RFC 3339 time with every fractional digit, then the id.
    pub fn encode(&self) -> String {
        format!(
            "{}|{}",
            self.changed_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            self.id
        )
    }

    /// Reads a cursor written by [`SyncCursor::encode`].
    pub fn decode(text: &str) -> Option<Self> {
        let (at, id) = text.split_once('|')?;
        Some(Self {
            changed_at: DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc),
            id: Uuid::parse_str(id).ok()?,
        })
    }

    /// The cursor just past every row changed at or before `at`: where a list read up to the
    /// horizon `at` resumes.
    pub fn past(at: DateTime<Utc>) -> Self {
        Self {
            changed_at: at,
            id: Uuid::max(),
        }
    }
}

/// Which part of a change-ordered list to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncWindow {
    /// Only rows changed at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only rows after this position.
    pub after: Option<SyncCursor>,
    /// At most this many rows.
    pub first: u64,
    /// Only rows changed at or before this time (the horizon).
    pub until: DateTime<Utc>,
}

/// A page of a change-ordered list.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncSlice<T> {
    /// The rows with their positions.
    pub items: Vec<(SyncCursor, T)>,
    /// Whether rows follow this page (up to the horizon).
    pub has_next: bool,
    /// Rows changed between `since` and the horizon, across pages.
    pub total: u64,
}

/// The condition "after this cursor" on a change-time column and an id column, as a row-value
/// comparison `(changed, id) > (t, i)` that both backends answer with an index range scan.
pub(crate) fn after_cursor(
    changed: impl sea_orm::sea_query::IntoColumnRef,
    id: impl sea_orm::sea_query::IntoColumnRef,
    cursor: SyncCursor,
) -> Expr {
    Expr::tuple([Expr::col(changed), Expr::col(id)]).gt(Expr::tuple([
        Expr::val(cursor.changed_at),
        Expr::val(cursor.id),
    ]))
}

/// Reads one page of `query` in (change time, id) order.
pub(crate) async fn keyset<E, M, T>(
    conn: &impl ConnectionTrait,
    query: Select<E>,
    changed: E::Column,
    id: E::Column,
    window: &SyncWindow,
    convert: impl Fn(M) -> StoreResult<(SyncCursor, T)>,
) -> StoreResult<SyncSlice<T>>
where
    E: EntityTrait<Model = M>,
    M: sea_orm::FromQueryResult + Send + Sync,
{
    let mut query = query.filter(changed.lte(window.until));
    if let Some(since) = window.since {
        query = query.filter(changed.gte(since));
    }
    let total = query.clone().count(conn).await?;
    if let Some(cursor) = window.after {
        query = query.filter(after_cursor(changed, id, cursor));
    }
    let mut rows = query
        .order_by_asc(changed)
        .order_by_asc(id)
        .limit(window.first.saturating_add(1))
        .all(conn)
        .await?;
    let has_next = rows.len() as u64 > window.first;
    rows.truncate(usize::try_from(window.first).unwrap_or(usize::MAX));
    let items = rows.into_iter().map(convert).collect::<StoreResult<_>>()?;
    Ok(SyncSlice {
        items,
        has_next,
        total,
    })
}

/// A row that was removed or retired, kept for the retention window so that consumers of
/// incremental sync learn to drop it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    /// Tombstone id.
    pub id: Uuid,
    /// The dataset the row belonged to, such as `goal_links` or `metrics`.
    pub dataset: String,
    /// The removed row's id (for rows keyed by two ids, both joined by `:`).
    pub entity_id: String,
    /// The removed row's natural key, readable without the id (a metric key, an HR id).
    pub natural_key: String,
    /// Who removed it.
    pub removed_by: String,
    /// When it was removed.
    pub removed_at: DateTime<Utc>,
}

impl From<tombstones::Model> for Tombstone {
    fn from(m: tombstones::Model) -> Self {
        Self {
            id: m.id,
            dataset: m.dataset,
            entity_id: m.entity_id,
            natural_key: m.natural_key,
            removed_by: m.removed_by,
            removed_at: m.removed_at,
        }
    }
}

/// The datasets tombstones are written for.
pub const TOMBSTONE_DATASETS: [&str; 5] = [
    "goal_links",
    "scorecard_items",
    "person_roles",
    "people",
    "metrics",
];

/// A removal about to be recorded.
pub(crate) struct Removal {
    pub dataset: &'static str,
    pub entity_id: String,
    pub natural_key: String,
}

/// Records removals in the transaction that makes them.
pub(crate) async fn bury(
    txn: &impl ConnectionTrait,
    org_id: Uuid,
    actor: &Actor,
    removals: Vec<Removal>,
) -> StoreResult<()> {
    let now = Utc::now();
    let mut rows = removals.into_iter().map(|r| tombstones::ActiveModel {
        org_id: Set(org_id),
        id: Set(Uuid::now_v7()),
        dataset: Set(r.dataset.to_owned()),
        entity_id: Set(r.entity_id),
        natural_key: Set(r.natural_key),
        removed_by: Set(actor.as_str().to_owned()),
        removed_at: Set(now),
    });
    loop {
        let chunk: Vec<_> = rows.by_ref().take(CHUNK).collect();
        if chunk.is_empty() {
            return Ok(());
        }
        tombstones::Entity::insert_many(chunk)
            .exec_without_returning(txn)
            .await?;
    }
}

fn at(changed_at: DateTime<Utc>, id: Uuid) -> SyncCursor {
    SyncCursor { changed_at, id }
}

impl Tenant {
    /// Tombstones of one dataset (or all), in removal order.
    pub async fn tombstones(
        &self,
        dataset: Option<&str>,
        window: &SyncWindow,
    ) -> StoreResult<SyncSlice<Tombstone>> {
        let mut query =
            tombstones::Entity::find().filter(tombstones::Column::OrgId.eq(self.org_id));
        if let Some(dataset) = dataset {
            query = query.filter(tombstones::Column::Dataset.eq(dataset));
        }
        keyset(
            self.db(),
            query,
            tombstones::Column::RemovedAt,
            tombstones::Column::Id,
            window,
            |m| Ok((at(m.removed_at, m.id), Tombstone::from(m))),
        )
        .await
    }

    /// Observations in change order.
    pub async fn observations_changed(
        &self,
        filter: &ObservationFilter,
        window: &SyncWindow,
    ) -> StoreResult<SyncSlice<Observation>> {
        keyset(
            self.db(),
            self.observation_query(filter),
            observations::Column::UpdatedAt,
            observations::Column::Id,
            window,
            |m| Ok((at(m.updated_at, m.id), Observation::try_from(m)?)),
        )
        .await
    }

    /// Goals in change order.
    pub async fn goals_changed(
        &self,
        filter: &GoalFilter,
        window: &SyncWindow,
    ) -> StoreResult<SyncSlice<Goal>> {
        keyset(
            self.db(),
            self.goal_query(filter),
            goals::Column::UpdatedAt,
            goals::Column::Id,
            window,
            |m| Ok((at(m.updated_at, m.id), Goal::try_from(m)?)),
        )
        .await
    }

    /// Key results in change order.
    pub async fn key_results_changed(
        &self,
        window: &SyncWindow,
    ) -> StoreResult<SyncSlice<KeyResult>> {
        keyset(
            self.db(),
            key_results::Entity::find().filter(key_results::Column::OrgId.eq(self.org_id)),
            key_results::Column::UpdatedAt,
            key_results::Column::Id,
            window,
            |m| Ok((at(m.updated_at, m.id), KeyResult::try_from(m)?)),
        )
        .await
    }

    /// Customer accounts in change order.
    pub async fn accounts_changed(&self, window: &SyncWindow) -> StoreResult<SyncSlice<Account>> {
        keyset(
            self.db(),
            accounts::Entity::find().filter(accounts::Column::OrgId.eq(self.org_id)),
            accounts::Column::UpdatedAt,
            accounts::Column::Id,
            window,
            |m| Ok((at(m.updated_at, m.id), Account::try_from(m)?)),
        )
        .await
    }

    /// MRR movements in change order.
    pub async fn revenue_movements_changed(
        &self,
        window: &SyncWindow,
    ) -> StoreResult<SyncSlice<RevenueMovement>> {
        keyset(
            self.db(),
            revenue_movements::Entity::find()
                .filter(revenue_movements::Column::OrgId.eq(self.org_id)),
            revenue_movements::Column::UpdatedAt,
            revenue_movements::Column::Id,
            window,
            |m| Ok((at(m.updated_at, m.id), RevenueMovement::try_from(m)?)),
        )
        .await
    }

    /// Check-ins in the order they were made (they never change).
    pub async fn check_ins_changed(&self, window: &SyncWindow) -> StoreResult<SyncSlice<CheckIn>> {
        keyset(
            self.db(),
            check_ins::Entity::find().filter(check_ins::Column::OrgId.eq(self.org_id)),
            check_ins::Column::CreatedAt,
            check_ins::Column::Id,
            window,
            |m| Ok((at(m.created_at, m.id), CheckIn::from(m))),
        )
        .await
    }

    /// Payout statements in the order they were computed (every version; they never
    /// change), of one plan when given; `people` limits them to those people when given.
    pub async fn statements_changed(
        &self,
        plan_id: Option<Uuid>,
        people: Option<&[Uuid]>,
        window: &SyncWindow,
    ) -> StoreResult<SyncSlice<Statement>> {
        let mut query = payout_statements::Entity::find()
            .filter(payout_statements::Column::OrgId.eq(self.org_id));
        if let Some(plan) = plan_id {
            query = query.filter(payout_statements::Column::PlanId.eq(plan));
        }
        if let Some(ids) = people {
            query = query.filter(payout_statements::Column::PersonId.is_in(ids.iter().copied()));
        }
        keyset(
            self.db(),
            query,
            payout_statements::Column::ComputedAt,
            payout_statements::Column::Id,
            window,
            |m| Ok((at(m.computed_at, m.id), Statement::from(m))),
        )
        .await
    }
}

impl Store {
    /// Deletes tombstones removed before `cutoff` in every organization; returns how many.
    pub async fn purge_tombstones(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
        let done = tombstones::Entity::delete_many()
            .filter(tombstones::Column::RemovedAt.lt(cutoff))
            .exec(self.db())
            .await?;
        Ok(done.rows_affected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_with_every_digit() {
        let c = SyncCursor {
            changed_at: DateTime::parse_from_rfc3339("2026-11-22T10:00:00.123456789Z")
                .unwrap()
                .with_timezone(&Utc),
            id: Uuid::now_v7(),
        };
        assert_eq!(SyncCursor::decode(&c.encode()), Some(c));
        assert_eq!(SyncCursor::decode("nope"), None);
        assert!(SyncCursor::past(c.changed_at) > c);
    }
}
