//! Per-request batched readers: each relation a list can reach is loaded with one query per
//! batch of keys, so statement counts grow with query depth, not with rows.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use tandem_persistence::{
    AuditEvent, JourneyStage, Metric, MetricVersion, Observation, Segment, Tenant,
};
use uuid::Uuid;

use crate::error::ApiError;

/// Loads metrics by id.
pub struct MetricLoader(Tenant);
/// Loads every version of metrics by metric id.
pub struct MetricVersionLoader(Tenant);
/// Loads segments by id.
pub struct SegmentLoader(Tenant);
/// Loads journey stages by id.
pub struct StageLoader(Tenant);

impl Loader<Uuid> for MetricLoader {
    type Value = Metric;
    type Error = Arc<ApiError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Metric>, Self::Error> {
        self.0
            .metrics_by_ids(keys)
            .await
            .map_err(|e| Arc::new(e.into()))
    }
}

impl Loader<Uuid> for MetricVersionLoader {
    type Value = Vec<MetricVersion>;
    type Error = Arc<ApiError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Vec<MetricVersion>>, Self::Error> {
        self.0
            .metric_versions(keys)
            .await
            .map_err(|e| Arc::new(e.into()))
    }
}

impl Loader<Uuid> for SegmentLoader {
    type Value = Segment;
    type Error = Arc<ApiError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Segment>, Self::Error> {
        self.0
            .segments_by_ids(keys)
            .await
            .map_err(|e| Arc::new(e.into()))
    }
}

impl Loader<Uuid> for StageLoader {
    type Value = JourneyStage;
    type Error = Arc<ApiError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, JourneyStage>, Self::Error> {
        self.0
            .journey_stages_by_ids(keys)
            .await
            .map_err(|e| Arc::new(e.into()))
    }
}

/// The loaders of one request, all scoped to the caller's organization.
pub struct Loaders {
    tenant: Tenant,
    metrics: DataLoader<MetricLoader, HashMapCache>,
    versions: DataLoader<MetricVersionLoader, HashMapCache>,
    segments: DataLoader<SegmentLoader, HashMapCache>,
    stages: DataLoader<StageLoader, HashMapCache>,
}

fn unwrap_arc(e: Arc<ApiError>) -> ApiError {
    Arc::try_unwrap(e).unwrap_or_else(|shared| (*shared).clone())
}

impl Loaders {
    /// Loaders for one request.
    pub fn new(tenant: &Tenant) -> Self {
        Self {
            tenant: tenant.clone(),
            metrics: DataLoader::with_cache(
                MetricLoader(tenant.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
            versions: DataLoader::with_cache(
                MetricVersionLoader(tenant.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
            segments: DataLoader::with_cache(
                SegmentLoader(tenant.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
            stages: DataLoader::with_cache(
                StageLoader(tenant.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
        }
    }

    /// Loads the metrics of a whole page in one batch, so the per-row lookups that follow
    /// hit the cache. Batching by keys known up front does not depend on timing, unlike
    /// collecting per-row loads over a delay window.
    pub async fn prime_metrics(&self, ids: impl IntoIterator<Item = Uuid>) -> Result<(), ApiError> {
        self.metrics.load_many(ids).await.map_err(unwrap_arc)?;
        Ok(())
    }

    /// Loads the versions of a page of metrics in one batch.
    pub async fn prime_versions(
        &self,
        ids: impl IntoIterator<Item = Uuid>,
    ) -> Result<(), ApiError> {
        self.versions.load_many(ids).await.map_err(unwrap_arc)?;
        Ok(())
    }

    /// Loads the segments of a page in one batch.
    pub async fn prime_segments(
        &self,
        ids: impl IntoIterator<Item = Uuid>,
    ) -> Result<(), ApiError> {
        self.segments.load_many(ids).await.map_err(unwrap_arc)?;
        Ok(())
    }

    /// Loads the journey stages of a page in one batch.
    pub async fn prime_stages(&self, ids: impl IntoIterator<Item = Uuid>) -> Result<(), ApiError> {
        self.stages.load_many(ids).await.map_err(unwrap_arc)?;
        Ok(())
    }

    /// A metric by id.
    pub async fn metric(&self, id: Uuid) -> Result<Option<Metric>, ApiError> {
        self.metrics.load_one(id).await.map_err(unwrap_arc)
    }

    /// Every version of a metric, oldest first.
    pub async fn versions(&self, metric_id: Uuid) -> Result<Vec<MetricVersion>, ApiError> {
        Ok(self
            .versions
            .load_one(metric_id)
            .await
            .map_err(unwrap_arc)?
            .unwrap_or_default())
    }

    /// A segment by id.
    pub async fn segment(&self, id: Uuid) -> Result<Option<Segment>, ApiError> {
        self.segments.load_one(id).await.map_err(unwrap_arc)
    }

    /// A journey stage by id.
    pub async fn stage(&self, id: Uuid) -> Result<Option<JourneyStage>, ApiError> {
        self.stages.load_one(id).await.map_err(unwrap_arc)
    }

    /// An observation by id (node lookups only, so not batched).
    pub async fn observation(&self, id: Uuid) -> Result<Option<Observation>, ApiError> {
        Ok(self.tenant.observation(id).await?)
    }

    /// An audit event by id (node lookups only, so not batched).
    pub async fn audit_event(&self, id: Uuid) -> Result<Option<AuditEvent>, ApiError> {
        Ok(self.tenant.audit_event(id).await?)
    }
}
