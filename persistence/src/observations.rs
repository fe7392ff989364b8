//! Observations: recorded values of metrics, written in idempotent bulk batches and read back
//! as lists or as roll-up facts.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::json;
use tandem_domain::metrics::{self as rules, MetricKey, MetricStatus, Perspective};
use tandem_domain::periods::{DateRange, Granularity, Period};
use tandem_domain::rollup::Fact;
use tandem_domain::segments::DimensionKey;
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::decimal::ExactDecimal;
use crate::entities::{metrics as metric_row, observations as row};
use crate::error::{Problems, StoreError, StoreResult, distinct};
use crate::events::Event;
use crate::store::{Actor, BulkArea, Page, Retry, Slice, Tenant, paginate};

/// Largest number of rows sent in one SQL statement; keeps bind parameters well under every
/// backend's limit.
const CHUNK: usize = 500;

/// One value to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewObservation {
    /// The metric, by key.
    pub metric_key: MetricKey,
    /// The period the value is for.
    pub period: Period,
    /// The segment, by key; `None` for the all-segments figure.
    pub segment: Option<DimensionKey>,
    /// The journey stage, by key; `None` for the all-stages figure.
    pub stage: Option<DimensionKey>,
    /// The value, exact.
    pub value: Decimal,
    /// Where the value came from (pipeline, system, person).
    pub source: Option<String>,
}

/// What a bulk write did, or would do in a dry run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordOutcome {
    /// Rows whose natural key was new.
    pub created: u64,
    /// Rows whose value or source changed.
    pub updated: u64,
    /// Rows already recorded exactly so.
    pub unchanged: u64,
    /// The distinct (metric, period) pairs whose values were created or changed, so that
    /// what depends on them (scorecard statuses) can be brought up to date.
    pub touched: Vec<(Uuid, Period)>,
}

/// A recorded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// Observation id.
    pub id: Uuid,
    /// The metric.
    pub metric_id: Uuid,
    /// The period.
    pub period: Period,
    /// The segment, if any.
    pub segment_id: Option<Uuid>,
    /// The journey stage, if any.
    pub stage_id: Option<Uuid>,
    /// The value.
    pub value: Decimal,
    /// Where it came from.
    pub source: Option<String>,
    /// Who last wrote it.
    pub recorded_by: String,
    /// When it was first recorded.
    pub recorded_at: DateTime<Utc>,
    /// When its value last changed.
    pub updated_at: DateTime<Utc>,
}

/// Which observations to list.
#[derive(Debug, Clone, Default)]
pub struct ObservationFilter {
    /// Only this metric.
    pub metric_id: Option<Uuid>,
    /// Only periods starting on or after this date.
    pub from: Option<NaiveDate>,
    /// Only periods starting on or before this date.
    pub to: Option<NaiveDate>,
    /// Only this granularity.
    pub granularity: Option<Granularity>,
    /// Only this segment.
    pub segment_id: Option<Uuid>,
    /// Only this journey stage.
    pub stage_id: Option<Uuid>,
}

fn dim_key(segment: Option<Uuid>, stage: Option<Uuid>) -> String {
    let part = |id: Option<Uuid>| id.map_or_else(|| "-".to_owned(), |u| u.simple().to_string());
    format!("{}|{}", part(segment), part(stage))
}

fn period_of(m: &row::Model) -> StoreResult<Period> {
    stored_period(m.period_start, &m.granularity)
}

/// The period a stored row names by its start and granularity.
fn stored_period(start: NaiveDate, granularity: &str) -> StoreResult<Period> {
    let granularity: Granularity = granularity.parse().map_err(|e: tandem_domain::Invalid| {
        StoreError::Database(sea_orm::DbErr::Type(format!("stored granularity: {e}")))
    })?;
    Period::new(start, granularity)
        .map_err(|e| StoreError::Database(sea_orm::DbErr::Type(format!("stored period: {e}"))))
}

impl TryFrom<row::Model> for Observation {
    type Error = StoreError;

    fn try_from(m: row::Model) -> Result<Self, StoreError> {
        Ok(Observation {
            period: period_of(&m)?,
            id: m.id,
            metric_id: m.metric_id,
            segment_id: m.segment_id,
            stage_id: m.stage_id,
            value: m.value.0,
            source: m.source,
            recorded_by: m.recorded_by,
            recorded_at: m.recorded_at,
            updated_at: m.updated_at,
        })
    }
}

/// A row of the batch with its keys resolved to ids.
struct Resolved<'a> {
    row: &'a NewObservation,
    metric_id: Uuid,
    segment_id: Option<Uuid>,
    stage_id: Option<Uuid>,
}

impl Resolved<'_> {
    fn natural_key(&self) -> (Uuid, NaiveDate, Granularity, String) {
        (
            self.metric_id,
            self.row.period.start(),
            self.row.period.granularity(),
            dim_key(self.segment_id, self.stage_id),
        )
    }
}

impl Tenant {
    /// Records a batch of observations in one transaction: all or nothing, idempotent on
    /// (metric, period, segment, stage). Unknown keys, retired metrics and duplicate natural
    /// keys are refused with every problem listed; `may_record` says which perspectives the
    /// caller may write. With `dry_run`, reports what would change and writes nothing.
    ///
    /// Concurrent batches of the organization run one after the other (see
    /// [`BulkArea`]), so the counts of all callers add up to what the database holds and each
    /// real change has one audit event; a run that loses a race anyway is run again a few times.
    pub async fn record_observations(
        &self,
        actor: &Actor,
        rows: &[NewObservation],
        dry_run: bool,
        may_record: impl Fn(Perspective) -> bool,
    ) -> StoreResult<RecordOutcome> {
        let mut retry = Retry::default();
        loop {
            match self
                .try_record_observations(actor, rows, dry_run, &may_record)
                .await
            {
                Err(e) if retry.again(&e).await => continue,
                done => return done,
            }
        }
    }

    /// One run of [`Tenant::record_observations`].
    async fn try_record_observations(
        &self,
        actor: &Actor,
        rows: &[NewObservation],
        dry_run: bool,
        may_record: impl Fn(Perspective) -> bool,
    ) -> StoreResult<RecordOutcome> {
        let (_turn, txn) = self
            .store
            .begin_bulk_write(self.org_id, BulkArea::Observations)
            .await?;

        let metric_keys: Vec<&str> = distinct(rows.iter().map(|r| r.metric_key.as_str()));
        let mut metrics: HashMap<String, metric_row::Model> = HashMap::new();
        for chunk in metric_keys.chunks(CHUNK) {
            let found = metric_row::Entity::find()
                .filter(metric_row::Column::OrgId.eq(self.org_id))
                .filter(metric_row::Column::Key.is_in(chunk.iter().copied()))
                .all(&txn)
                .await?;
            metrics.extend(found.into_iter().map(|m| (m.key.clone(), m)));
        }
        let segment_keys: Vec<&str> = distinct(
            rows.iter()
                .filter_map(|r| r.segment.as_ref().map(DimensionKey::as_str)),
        );
        let stage_keys: Vec<&str> = distinct(
            rows.iter()
                .filter_map(|r| r.stage.as_ref().map(DimensionKey::as_str)),
        );
        let mut segments = HashMap::new();
        for chunk in segment_keys.chunks(CHUNK) {
            segments.extend(self.segment_ids_by_key(&txn, chunk).await?);
        }
        let mut stages = HashMap::new();
        for chunk in stage_keys.chunks(CHUNK) {
            stages.extend(self.stage_ids_by_key(&txn, chunk).await?);
        }

        let mut problems = Problems::new("observations");
        let mut forbidden: Vec<String> = Vec::new();
        let mut resolved: Vec<Resolved<'_>> = Vec::with_capacity(rows.len());
        let mut seen: HashMap<(Uuid, NaiveDate, Granularity, String), usize> = HashMap::new();
        for (index, row) in rows.iter().enumerate() {
            let path = |field: &str| format!("observations[{index}].{field}");
            let metric = metrics.get(row.metric_key.as_str());
            match metric {
                None => problems.push(
                    path("metricKey"),
                    format!("no metric with key `{}`", row.metric_key),
                ),
                Some(m) => {
                    let status: MetricStatus = m.status.parse().unwrap_or(MetricStatus::Retired);
                    if let Err(e) = rules::ensure_recordable(status) {
                        problems.push(path("metricKey"), e.message);
                    }
                    let perspective: Option<Perspective> = m.perspective.parse().ok();
                    if !perspective.is_some_and(&may_record) && !forbidden.contains(&m.key) {
                        forbidden.push(m.key.clone());
                    }
                }
            }
            let segment_id = match &row.segment {
                None => None,
                Some(key) => match segments.get(key.as_str()) {
                    Some(id) => Some(*id),
                    None => {
                        problems.push(
                            path("segmentKey"),
                            format!("no segment with key `{}`", key.as_str()),
                        );
                        None
                    }
                },
            };
            let stage_id = match &row.stage {
                None => None,
                Some(key) => match stages.get(key.as_str()) {
                    Some(id) => Some(*id),
                    None => {
                        problems.push(
                            path("stageKey"),
                            format!("no journey stage with key `{}`", key.as_str()),
                        );
                        None
                    }
                },
            };
            if let Some(m) = metric {
                let r = Resolved {
                    row,
                    metric_id: m.id,
                    segment_id,
                    stage_id,
                };
                if let Some(first) = seen.insert(r.natural_key(), index) {
                    problems.push(
                        format!("observations[{index}]"),
                        format!(
                            "repeats the metric, period, segment and stage of observations[{first}]"
                        ),
                    );
                }
                resolved.push(r);
            }
        }
        if !forbidden.is_empty() {
            return Err(StoreError::Forbidden(format!(
                "your roles may not record observations of {}",
                forbidden
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        problems.into_result()?;
        // Rows are written in natural-key order, so writers lock them in one order.
        resolved.sort_by(|a, b| {
            let key = |r: &Resolved<'_>| {
                let (metric, start, granularity, dims) = r.natural_key();
                (metric, start, granularity.as_str(), dims)
            };
            key(a).cmp(&key(b))
        });

        // Existing values for the batch's metrics over the batch's date span.
        let mut existing: HashMap<(Uuid, NaiveDate, Granularity, String), row::Model> =
            HashMap::new();
        if let (Some(first), Some(last)) = (
            rows.iter().map(|r| r.period.start()).min(),
            rows.iter().map(|r| r.period.start()).max(),
        ) {
            let metric_ids: Vec<Uuid> = distinct(resolved.iter().map(|r| r.metric_id));
            for chunk in metric_ids.chunks(CHUNK) {
                let found = row::Entity::find()
                    .filter(row::Column::OrgId.eq(self.org_id))
                    .filter(row::Column::MetricId.is_in(chunk.iter().copied()))
                    .filter(row::Column::PeriodStart.between(first, last))
                    .all(&txn)
                    .await?;
                for m in found {
                    let granularity = period_of(&m)?.granularity();
                    existing.insert(
                        (m.metric_id, m.period_start, granularity, m.dim_key.clone()),
                        m,
                    );
                }
            }
        }

        // Stage values not yet hidden by a total, by metric, period, granularity and segment:
        // a new total hides them (see `hidden_by_total` in migration 000010).
        let mut unhidden: HashMap<(Uuid, NaiveDate, Granularity, Option<Uuid>), Vec<Uuid>> =
            HashMap::new();
        for (key, m) in &existing {
            if m.stage_id.is_some() && !m.hidden_by_total {
                unhidden
                    .entry((key.0, key.1, key.2, m.segment_id))
                    .or_default()
                    .push(m.id);
            }
        }
        let mut to_hide = Vec::new();

        let mut outcome = RecordOutcome::default();
        let now = Utc::now();
        let mut writes = Vec::new();
        let mut changes = Vec::new();
        let mut written_ids = Vec::new();
        let mut touched = HashSet::new();
        for r in &resolved {
            let key = r.natural_key();
            let source = r.row.source.clone();
            let previous = existing.get(&key);
            let (id, hidden_by_total) = match previous {
                Some(prev) if prev.value.0 == r.row.value && prev.source == source => {
                    outcome.unchanged += 1;
                    continue;
                }
                Some(prev) => {
                    outcome.updated += 1;
                    (prev.id, prev.hidden_by_total)
                }
                None => {
                    outcome.created += 1;
                    let total = (key.0, key.1, key.2, dim_key(r.segment_id, None));
                    if r.stage_id.is_none() {
                        to_hide.extend(
                            unhidden
                                .remove(&(key.0, key.1, key.2, r.segment_id))
                                .unwrap_or_default(),
                        );
                    }
                    (
                        Uuid::now_v7(),
                        r.stage_id.is_some()
                            && (existing.contains_key(&total) || seen.contains_key(&total)),
                    )
                }
            };
            written_ids.push(id);
            if touched.insert((r.metric_id, r.row.period)) {
                outcome.touched.push((r.metric_id, r.row.period));
            }
            let after = json!({
                "metricKey": r.row.metric_key.as_str(),
                "granularity": r.row.period.granularity().as_str(),
                "periodStart": r.row.period.start(),
                "segmentKey": r.row.segment.as_ref().map(DimensionKey::as_str),
                "stageKey": r.row.stage.as_ref().map(DimensionKey::as_str),
                "value": r.row.value.to_string(),
                "source": source,
            });
            changes.push(Change {
                operation: "recordObservations",
                entity_type: "Observation",
                entity_id: id.to_string(),
                before: previous
                    .map(|p| json!({ "value": p.value.0.to_string(), "source": p.source })),
                after: Some(after),
            });
            writes.push(row::ActiveModel {
                org_id: Set(self.org_id),
                id: Set(id),
                metric_id: Set(r.metric_id),
                granularity: Set(key.2.as_str().to_owned()),
                period_start: Set(key.1),
                segment_id: Set(r.segment_id),
                stage_id: Set(r.stage_id),
                dim_key: Set(key.3),
                value: Set(ExactDecimal(r.row.value)),
                source: Set(source),
                recorded_by: Set(actor.as_str().to_owned()),
                recorded_at: Set(now),
                updated_at: Set(now),
                hidden_by_total: Set(hidden_by_total),
            });
        }
        if dry_run {
            txn.rollback().await?;
            return Ok(outcome);
        }
        let mut writes = writes.into_iter().peekable();
        while writes.peek().is_some() {
            let chunk: Vec<_> = writes.by_ref().take(CHUNK).collect();
            row::Entity::insert_many(chunk)
                .on_conflict(
                    OnConflict::columns([
                        row::Column::OrgId,
                        row::Column::MetricId,
                        row::Column::PeriodStart,
                        row::Column::Granularity,
                        row::Column::DimKey,
                    ])
                    .update_columns([
                        row::Column::Value,
                        row::Column::Source,
                        row::Column::RecordedBy,
                        row::Column::UpdatedAt,
                    ])
                    .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        for chunk in to_hide.chunks(CHUNK) {
            row::Entity::update_many()
                .col_expr(row::Column::HiddenByTotal, Expr::value(true))
                .filter(row::Column::OrgId.eq(self.org_id))
                .filter(row::Column::Id.is_in(chunk.iter().copied()))
                .exec(&txn)
                .await?;
        }
        audit::record_all(&txn, self.org_id, actor, changes).await?;
        let staged = self
            .store
            .events()
            .stage(
                &txn,
                vec![Event::ObservationsRecorded {
                    org: self.org_id,
                    ids: written_ids,
                }],
            )
            .await?;
        txn.commit().await?;
        staged.committed();
        Ok(outcome)
    }

    /// The organization's observations narrowed by `filter`, unordered.
    pub(crate) fn observation_query(
        &self,
        filter: &ObservationFilter,
    ) -> sea_orm::Select<row::Entity> {
        let mut query = row::Entity::find().filter(row::Column::OrgId.eq(self.org_id));
        if let Some(metric_id) = filter.metric_id {
            query = query.filter(row::Column::MetricId.eq(metric_id));
        }
        if let Some(from) = filter.from {
            query = query.filter(row::Column::PeriodStart.gte(from));
        }
        if let Some(to) = filter.to {
            query = query.filter(row::Column::PeriodStart.lte(to));
        }
        if let Some(granularity) = filter.granularity {
            query = query.filter(row::Column::Granularity.eq(granularity.as_str()));
        }
        if let Some(segment_id) = filter.segment_id {
            query = query.filter(row::Column::SegmentId.eq(segment_id));
        }
        if let Some(stage_id) = filter.stage_id {
            query = query.filter(row::Column::StageId.eq(stage_id));
        }
        query
    }

    /// Lists observations by period, then metric, then id.
    pub async fn observations(
        &self,
        filter: &ObservationFilter,
        page: Page,
    ) -> StoreResult<Slice<Observation>> {
        let query = self
            .observation_query(filter)
            .order_by_asc(row::Column::PeriodStart)
            .order_by_asc(row::Column::MetricId)
            .order_by_asc(row::Column::Id);
        paginate(self.db(), query, page, Observation::try_from).await
    }

    /// One observation by id.
    pub async fn observation(&self, id: Uuid) -> StoreResult<Option<Observation>> {
        row::Entity::find()
            .filter(row::Column::OrgId.eq(self.org_id))
            .filter(row::Column::Id.eq(id))
            .one(self.db())
            .await?
            .map(Observation::try_from)
            .transpose()
    }

    /// Observations by id, ordered by period, then metric, then id; ids not in the
    /// organization are left out.
    pub async fn observations_by_ids(&self, ids: &[Uuid]) -> StoreResult<Vec<Observation>> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            for m in row::Entity::find()
                .filter(row::Column::OrgId.eq(self.org_id))
                .filter(row::Column::Id.is_in(chunk.iter().copied()))
                .all(self.db())
                .await?
            {
                found.push(Observation::try_from(m)?);
            }
        }
        found.sort_by_key(|o| (o.period.start(), o.metric_id, o.id));
        Ok(found)
    }

    /// Every recorded value of the given metrics whose period starts within `range`, by metric.
    /// Reads only the columns roll-ups need.
    pub async fn observation_facts_for(
        &self,
        metric_ids: &[Uuid],
        range: DateRange,
    ) -> StoreResult<HashMap<Uuid, Vec<Fact<Uuid>>>> {
        self.observation_facts_with_totals(metric_ids, &[], range)
            .await
    }

    /// Like [`Tenant::observation_facts_for`], but for the metrics in `totals_first` it leaves
    /// out the stage values hidden by a total recorded for the same period and segment: roll-ups
    /// that do not break down by stage never read them (docs/series.md, rule 3), so the results
    /// are the same with fewer rows read.
    pub async fn observation_facts_with_totals(
        &self,
        all_rows: &[Uuid],
        totals_first: &[Uuid],
        range: DateRange,
    ) -> StoreResult<HashMap<Uuid, Vec<Fact<Uuid>>>> {
        let mut by_metric: HashMap<Uuid, Vec<Fact<Uuid>>> = HashMap::new();
        let ids: Vec<(Uuid, bool)> = all_rows
            .iter()
            .map(|id| (*id, false))
            .chain(totals_first.iter().map(|id| (*id, true)))
            .collect();
        for chunk in ids.chunks(CHUNK) {
            let every: Vec<Uuid> = chunk
                .iter()
                .filter(|(_, t)| !*t)
                .map(|(id, _)| *id)
                .collect();
            let mut query = row::Entity::find()
                .select_only()
                .column(row::Column::MetricId)
                .column(row::Column::Granularity)
                .column(row::Column::PeriodStart)
                .column(row::Column::SegmentId)
                .column(row::Column::StageId)
                .column(row::Column::Value)
                .filter(row::Column::OrgId.eq(self.org_id))
                .filter(row::Column::MetricId.is_in(chunk.iter().map(|(id, _)| *id)))
                .filter(row::Column::PeriodStart.between(range.from(), range.to()));
            if every.len() < chunk.len() {
                query = query.filter(if every.is_empty() {
                    Condition::all().add(row::Column::HiddenByTotal.eq(false))
                } else {
                    Condition::any()
                        .add(row::Column::HiddenByTotal.eq(false))
                        .add(row::Column::MetricId.is_in(every))
                });
            }
            // Read by position: tens of thousands of rows come back at once.
            let rows = query.into_tuple::<FactRow>().all(self.db()).await?;
            for (metric_id, granularity, period_start, segment, stage, value) in rows {
                by_metric.entry(metric_id).or_default().push(Fact {
                    period: stored_period(period_start, &granularity)?,
                    segment,
                    stage,
                    value: value.0,
                });
            }
        }
        Ok(by_metric)
    }

    /// Every recorded value of a metric whose period starts within `range`, for roll-ups.
    pub async fn observation_facts(
        &self,
        metric_id: Uuid,
        range: DateRange,
    ) -> StoreResult<Vec<Fact<Uuid>>> {
        let rows = row::Entity::find()
            .filter(row::Column::OrgId.eq(self.org_id))
            .filter(row::Column::MetricId.eq(metric_id))
            .filter(row::Column::PeriodStart.between(range.from(), range.to()))
            .all(self.db())
            .await?;
        rows.iter()
            .map(|m| {
                Ok(Fact {
                    period: period_of(m)?,
                    segment: m.segment_id,
                    stage: m.stage_id,
                    value: m.value.0,
                })
            })
            .collect()
    }
}

/// The columns a roll-up reads: metric, granularity, period start, segment, stage, value.
type FactRow = (
    Uuid,
    String,
    NaiveDate,
    Option<Uuid>,
    Option<Uuid>,
    ExactDecimal,
);
