//! Per-request batched readers: each relation a list can reach is loaded with one query per
//! batch of keys, so statement counts grow with query depth, not with rows.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use tandem_domain::periods::{DateRange, Period};
use tandem_domain::rollup::Fact;
use tandem_persistence::{
    Account, AuditEvent, CheckIn, Goal, GoalLink, JobRole, JourneyStage, KeyResult, Metric,
    MetricVersion, Objective, Observation, Person, Scorecard, ScorecardItem, Segment, Team, Tenant,
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

/// Loads metrics by key.
pub struct MetricByKeyLoader(Tenant);

impl Loader<tandem_domain::metrics::MetricKey> for MetricByKeyLoader {
    type Value = Metric;
    type Error = Arc<ApiError>;

    async fn load(
        &self,
        keys: &[tandem_domain::metrics::MetricKey],
    ) -> Result<HashMap<tandem_domain::metrics::MetricKey, Metric>, Self::Error> {
        self.0
            .metrics_by_keys(keys)
            .await
            .map_err(|e| Arc::new(e.into()))
    }
}

/// Declares a loader that maps a batch of ids to values through one tenant method.
macro_rules! id_loader {
    ($name:ident, $value:ty, $method:ident, $doc:literal) => {
        #[doc = $doc]
        pub struct $name(Tenant);

        impl Loader<Uuid> for $name {
            type Value = $value;
            type Error = Arc<ApiError>;

            async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, $value>, Self::Error> {
                self.0.$method(keys).await.map_err(|e| Arc::new(e.into()))
            }
        }
    };
}

id_loader!(PersonLoader, Person, people_by_ids, "Loads people by id.");
id_loader!(
    AccountLoader,
    Account,
    accounts_by_ids,
    "Loads customer accounts by id."
);
id_loader!(TeamLoader, Team, teams_by_ids, "Loads teams by id.");
id_loader!(
    JobRoleLoader,
    JobRole,
    job_roles_by_ids,
    "Loads job roles by id."
);
id_loader!(
    HeldRolesLoader,
    Vec<Uuid>,
    roles_of_people,
    "Loads the role ids people hold, by person id."
);
id_loader!(
    RoleScorecardLoader,
    Scorecard,
    scorecards_of_roles,
    "Loads roles' scorecards, by role id."
);
id_loader!(
    ScorecardLoader,
    Scorecard,
    scorecards_by_ids,
    "Loads scorecards by id."
);
id_loader!(
    ItemsLoader,
    Vec<ScorecardItem>,
    scorecard_items,
    "Loads scorecard items, by scorecard id."
);
id_loader!(GoalLoader, Goal, goals_by_ids, "Loads goals by id.");
id_loader!(
    GoalLinksLoader,
    Vec<GoalLink>,
    goal_links,
    "Loads goal links, by goal id."
);
id_loader!(
    ObjectivesOfGoalLoader,
    Vec<Objective>,
    objectives_of_goals,
    "Loads objectives, by goal id."
);
id_loader!(
    ObjectiveLoader,
    Objective,
    objectives_by_ids,
    "Loads objectives by id."
);
id_loader!(
    KeyResultsLoader,
    Vec<KeyResult>,
    key_results_of,
    "Loads key results, by objective id."
);
id_loader!(
    KeyResultLoader,
    KeyResult,
    key_results_by_ids,
    "Loads key results by id."
);
id_loader!(
    CheckInsLoader,
    Vec<CheckIn>,
    check_ins_of,
    "Loads check-ins newest first, by key result id."
);

/// A metric key result's current value: the latest observation of (metric, segment) in a range.
pub type LatestKey = (Uuid, Option<Uuid>, chrono::NaiveDate, chrono::NaiveDate);

/// First and last day of a range.
type DateSpan = (chrono::NaiveDate, chrono::NaiveDate);

/// Loads latest observed values, grouping keys by range.
pub struct LatestValueLoader(Tenant);

impl Loader<LatestKey> for LatestValueLoader {
    type Value = rust_decimal::Decimal;
    type Error = Arc<ApiError>;

    async fn load(
        &self,
        keys: &[LatestKey],
    ) -> Result<HashMap<LatestKey, rust_decimal::Decimal>, Self::Error> {
        let mut by_range: HashMap<DateSpan, Vec<(Uuid, Option<Uuid>)>> = HashMap::new();
        for (metric, segment, from, to) in keys {
            by_range
                .entry((*from, *to))
                .or_default()
                .push((*metric, *segment));
        }
        let mut out = HashMap::new();
        for ((from, to), wanted) in by_range {
            let values = self
                .0
                .latest_values(&wanted, from, to)
                .await
                .map_err(|e| Arc::new(e.into()))?;
            for ((metric, segment), value) in values {
                out.insert((metric, segment, from, to), value);
            }
        }
        Ok(out)
    }
}

/// Loads the recorded values of metrics for a period, by (metric id, period).
pub struct FactsLoader(Tenant);

impl Loader<(Uuid, Period)> for FactsLoader {
    type Value = Vec<Fact<Uuid>>;
    type Error = Arc<ApiError>;

    async fn load(
        &self,
        keys: &[(Uuid, Period)],
    ) -> Result<HashMap<(Uuid, Period), Vec<Fact<Uuid>>>, Self::Error> {
        let mut by_period: HashMap<Period, Vec<Uuid>> = HashMap::new();
        for (metric, period) in keys {
            by_period.entry(*period).or_default().push(*metric);
        }
        let mut out = HashMap::new();
        for (period, metrics) in by_period {
            let range = DateRange::new(period.start(), period.end())
                .map_err(|e| Arc::new(ApiError::Internal(e.message)))?;
            let mut facts = self
                .0
                .observation_facts_for(&metrics, range)
                .await
                .map_err(|e| Arc::new(e.into()))?;
            for metric in metrics {
                out.insert((metric, period), facts.remove(&metric).unwrap_or_default());
            }
        }
        Ok(out)
    }
}

/// The loaders of one request, all scoped to the caller's organization.
pub struct Loaders {
    tenant: Tenant,
    metrics: DataLoader<MetricLoader, HashMapCache>,
    versions: DataLoader<MetricVersionLoader, HashMapCache>,
    segments: DataLoader<SegmentLoader, HashMapCache>,
    stages: DataLoader<StageLoader, HashMapCache>,
    /// People by id.
    pub people: DataLoader<PersonLoader, HashMapCache>,
    /// Teams by id.
    pub teams: DataLoader<TeamLoader, HashMapCache>,
    /// Job roles by id.
    pub job_roles: DataLoader<JobRoleLoader, HashMapCache>,
    /// Role ids held, by person id.
    pub held_roles: DataLoader<HeldRolesLoader, HashMapCache>,
    /// Role scorecards, by role id.
    pub role_scorecards: DataLoader<RoleScorecardLoader, HashMapCache>,
    /// Scorecards by id.
    pub scorecards: DataLoader<ScorecardLoader, HashMapCache>,
    /// Scorecard items, by scorecard id.
    pub items: DataLoader<ItemsLoader, HashMapCache>,
    /// Recorded values, by (metric, period).
    pub facts: DataLoader<FactsLoader, HashMapCache>,
    /// Goals by id.
    pub goals: DataLoader<GoalLoader, HashMapCache>,
    /// Goal links, by goal id.
    pub goal_links: DataLoader<GoalLinksLoader, HashMapCache>,
    /// Objectives, by goal id.
    pub objectives_of_goal: DataLoader<ObjectivesOfGoalLoader, HashMapCache>,
    /// Objectives by id.
    pub objectives: DataLoader<ObjectiveLoader, HashMapCache>,
    /// Key results, by objective id.
    pub key_results_of: DataLoader<KeyResultsLoader, HashMapCache>,
    /// Key results by id.
    pub key_results: DataLoader<KeyResultLoader, HashMapCache>,
    /// Check-ins, by key result id.
    pub check_ins: DataLoader<CheckInsLoader, HashMapCache>,
    /// Latest observed values for metric key results.
    pub latest_values: DataLoader<LatestValueLoader, HashMapCache>,
    /// Customer accounts by id.
    pub accounts: DataLoader<AccountLoader, HashMapCache>,
    /// Metrics by key.
    pub metrics_by_key: DataLoader<MetricByKeyLoader, HashMapCache>,
}

/// Builds a cached loader over the tenant.
fn cached<T: Loader<K>, K>(loader: T) -> DataLoader<T, HashMapCache>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
{
    DataLoader::with_cache(loader, tokio::spawn, HashMapCache::default())
}

/// Turns a shared loader error back into an API error.
pub fn loader_error(e: Arc<ApiError>) -> ApiError {
    unwrap_arc(e)
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
            people: cached(PersonLoader(tenant.clone())),
            teams: cached(TeamLoader(tenant.clone())),
            job_roles: cached(JobRoleLoader(tenant.clone())),
            held_roles: cached(HeldRolesLoader(tenant.clone())),
            role_scorecards: cached(RoleScorecardLoader(tenant.clone())),
            scorecards: cached(ScorecardLoader(tenant.clone())),
            items: cached(ItemsLoader(tenant.clone())),
            facts: cached(FactsLoader(tenant.clone())),
            goals: cached(GoalLoader(tenant.clone())),
            goal_links: cached(GoalLinksLoader(tenant.clone())),
            objectives_of_goal: cached(ObjectivesOfGoalLoader(tenant.clone())),
            objectives: cached(ObjectiveLoader(tenant.clone())),
            key_results_of: cached(KeyResultsLoader(tenant.clone())),
            key_results: cached(KeyResultLoader(tenant.clone())),
            check_ins: cached(CheckInsLoader(tenant.clone())),
            latest_values: cached(LatestValueLoader(tenant.clone())),
            accounts: cached(AccountLoader(tenant.clone())),
            metrics_by_key: cached(MetricByKeyLoader(tenant.clone())),
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

    /// Metrics by id, in one batch.
    pub async fn metrics_many(
        &self,
        ids: impl IntoIterator<Item = Uuid>,
    ) -> Result<HashMap<Uuid, Metric>, ApiError> {
        self.metrics.load_many(ids).await.map_err(unwrap_arc)
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
