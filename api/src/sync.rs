//! Incremental sync over GraphQL: the fact lists that only exist in change order (key
//! results and check-ins across the organization) and tombstones of removed rows, plus the
//! background purge of expired tombstones.

use std::time::Duration;

use async_graphql::{Context, Object, SimpleObject};
use tandem_domain::access::Permission;
use tandem_persistence::{Store, SyncSlice, TOMBSTONE_DATASETS, Tombstone};

use crate::error::{ApiError, ApiResult};
use crate::goals::{CheckInConnection, CheckInObject, KeyResultConnection, KeyResultObject};
use crate::graphql::loaders::loader_error;
use crate::graphql::relay::{SyncArgs, connection, global_id};
use crate::graphql::scalars::DateTime;
use crate::graphql::{authorized, limits};

/// How often expired tombstones are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Deletes tombstones older than the retention window now and then every hour, in the
/// background, for as long as the server runs.
pub fn spawn_tombstone_purge(store: Store, retention: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PURGE_EVERY);
        loop {
            tick.tick().await;
            let cutoff = chrono::Utc::now()
                - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
            match store.purge_tombstones(cutoff).await {
                Ok(n) => tracing::info!(purged = n, "expired tombstones deleted"),
                Err(e) => tracing::warn!(error = %e, "tombstone purge failed"),
            }
        }
    });
}

/// A removed or retired row, listed until the retention window passes so that a consumer of
/// incremental sync learns to drop its copy.
#[derive(Clone, SimpleObject)]
#[graphql(name = "Tombstone")]
pub struct TombstoneObject {
    /// Opaque id of the tombstone.
    pub id: async_graphql::ID,
    /// The dataset the row belonged to: `goal_links`, `scorecard_items`, `person_roles`,
    /// `people` (deactivated) or `metrics` (retired).
    pub dataset: String,
    /// The removed row's id; rows keyed by two ids (goal links, person roles) join them with `:`.
    pub entity_id: String,
    /// The removed row's readable key: a metric key, an HR id, `personHrId:roleKey`.
    pub natural_key: String,
    /// When the row was removed.
    pub removed_at: DateTime,
}

impl From<Tombstone> for TombstoneObject {
    fn from(t: Tombstone) -> Self {
        Self {
            id: global_id("Tombstone", t.id),
            dataset: t.dataset,
            entity_id: t.entity_id,
            natural_key: t.natural_key,
            removed_at: DateTime(t.removed_at),
        }
    }
}

connection!(
    TombstoneConnection,
    TombstoneEdge,
    TombstoneObject,
    "A page of tombstones, in removal order.",
    "A tombstone with its cursor."
);

/// Incremental-sync queries.
#[derive(Default)]
pub struct SyncQuery;

#[Object]
impl SyncQuery {
    /// Every key result of the organization in change order (change time, then id): rows
    /// changed at or after `updatedSince`, up to a settle horizon. Keep `pageInfo.endCursor`
    /// and pass it as `after` next time to read only what changed since.
    async fn key_results(
        &self,
        ctx: &Context<'_>,
        updated_since: Option<DateTime>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<KeyResultConnection> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let window = window(ctx, updated_since, first, after)?;
        let changed = s
            .tenant
            .key_results_changed(&window)
            .await
            .map_err(ApiError::from)?;
        let objectives = s
            .loaders
            .objectives
            .load_many(changed.items.iter().map(|(_, k)| k.objective_id))
            .await
            .map_err(loader_error)?;
        let mut items = Vec::with_capacity(changed.items.len());
        for (cursor, kr) in changed.items {
            let objective = objectives.get(&kr.objective_id).cloned().ok_or_else(|| {
                ApiError::Internal(format!("key result {} has no objective", kr.id))
            })?;
            items.push((cursor, KeyResultObject(kr, objective)));
        }
        let slice = SyncSlice {
            items,
            has_next: changed.has_next,
            total: changed.total,
        };
        Ok(KeyResultConnection::from_sync(slice, &window, |k| k))
    }

    /// Every check-in of the organization in the order they were made (check-ins never
    /// change): those made at or after `updatedSince`, up to a settle horizon.
    async fn check_ins(
        &self,
        ctx: &Context<'_>,
        updated_since: Option<DateTime>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<CheckInConnection> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let window = window(ctx, updated_since, first, after)?;
        let changed = s
            .tenant
            .check_ins_changed(&window)
            .await
            .map_err(ApiError::from)?;
        Ok(CheckInConnection::from_sync(
            changed,
            &window,
            CheckInObject,
        ))
    }

    /// Rows removed or retired within the retention window (30 days by default), in removal
    /// order, of one dataset or all: drop them from your copy. A consumer whose last sync is
    /// older than the retention window must read its datasets again in full.
    async fn tombstones(
        &self,
        ctx: &Context<'_>,
        dataset: Option<String>,
        updated_since: Option<DateTime>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<TombstoneConnection> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        if let Some(d) = &dataset
            && !TOMBSTONE_DATASETS.contains(&d.as_str())
        {
            return Err(ApiError::bad_input(
                "dataset",
                format!(
                    "no tombstones are kept for `{d}`; datasets: {}",
                    TOMBSTONE_DATASETS.join(", ")
                ),
            )
            .into());
        }
        let mut window = window(ctx, updated_since, first, after)?;
        let retention = chrono::Duration::from_std(limits(ctx).tombstone_retention)
            .unwrap_or(chrono::Duration::MAX);
        let oldest = chrono::Utc::now() - retention;
        window.since = Some(window.since.map_or(oldest, |since| since.max(oldest)));
        let changed = s
            .tenant
            .tombstones(dataset.as_deref(), &window)
            .await
            .map_err(ApiError::from)?;
        Ok(TombstoneConnection::from_sync(
            changed,
            &window,
            TombstoneObject::from,
        ))
    }
}

fn window(
    ctx: &Context<'_>,
    updated_since: Option<DateTime>,
    first: Option<i32>,
    after: Option<String>,
) -> Result<tandem_persistence::SyncWindow, ApiError> {
    let args = SyncArgs {
        updated_since: updated_since.map(|d| d.0),
        first,
        after,
        last: None,
        before: None,
    };
    args.window(&limits(ctx), true)?
        .ok_or_else(|| ApiError::Internal("a change-ordered window is always built".into()))
}
