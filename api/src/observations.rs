//! Observations over GraphQL: bulk recording, lists, and rolled-up series.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use tandem_domain::access::Permission;
use tandem_domain::metrics::{MetricKey, Perspective as DomainPerspective, parse_text};
use tandem_domain::periods::{DateRange, Period};
use tandem_domain::rollup::{self, Breakdown};
use tandem_domain::segments::DimensionKey;
use tandem_persistence::{Actor, NewObservation, Observation, ObservationFilter, Problem, Tenant};
use uuid::Uuid;

use crate::dimensions::{JourneyStageObject, SegmentObject};
use crate::error::{ApiError, ApiResult};
use crate::graphql::enums::Granularity;
use crate::graphql::relay::{PageArgs, SyncArgs, connection, global_id};
use crate::graphql::scalars::{Date, DateTime, Decimal};
use crate::graphql::{authorized, limits, selects, session};
use crate::metrics::MetricObject;

/// Most points one series may return.
const MAX_SERIES_POINTS: usize = 20_000;

/// One recorded value of a metric for a period, optionally for one segment and journey stage.
#[derive(Clone)]
pub struct ObservationObject(pub Observation);

/// One recorded value of a metric for a period, optionally for one segment and journey stage.
#[Object(name = "Observation")]
impl ObservationObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id("Observation", self.0.id)
    }

    /// The metric observed.
    async fn metric(&self, ctx: &Context<'_>) -> ApiResult<MetricObject> {
        let s = session(ctx)?;
        let metric = s.loaders.metric(self.0.metric_id).await?;
        metric.map(MetricObject).ok_or_else(|| {
            ApiError::Internal(format!("observation {} has no metric", self.0.id)).into()
        })
    }

    /// First day of the period.
    async fn period_start(&self) -> Date {
        self.0.period.start().into()
    }

    /// Last day of the period (inclusive).
    async fn period_end(&self) -> Date {
        self.0.period.end().into()
    }

    /// Length of the period.
    async fn granularity(&self) -> Granularity {
        self.0.period.granularity().into()
    }

    /// The segment; null for the all-segments figure.
    async fn segment(&self, ctx: &Context<'_>) -> ApiResult<Option<SegmentObject>> {
        let Some(id) = self.0.segment_id else {
            return Ok(None);
        };
        Ok(session(ctx)?.loaders.segment(id).await?.map(SegmentObject))
    }

    /// The journey stage; null for the all-stages figure.
    async fn stage(&self, ctx: &Context<'_>) -> ApiResult<Option<JourneyStageObject>> {
        let Some(id) = self.0.stage_id else {
            return Ok(None);
        };
        Ok(session(ctx)?
            .loaders
            .stage(id)
            .await?
            .map(JourneyStageObject))
    }

    /// The value, exact.
    async fn value(&self) -> Decimal {
        self.0.value.into()
    }

    /// Where the value came from.
    async fn source(&self) -> Option<&str> {
        self.0.source.as_deref()
    }

    /// Who last wrote the value.
    async fn recorded_by(&self) -> &str {
        &self.0.recorded_by
    }

    /// When the value was first recorded.
    async fn recorded_at(&self) -> DateTime {
        DateTime(self.0.recorded_at)
    }

    /// When the value last changed.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }
}

connection!(
    ObservationConnection,
    ObservationEdge,
    ObservationObject,
    "A page of observations.",
    "An observation with its cursor."
);

/// Narrows an observation list.
#[derive(InputObject, Default)]
pub struct ObservationFilterInput {
    /// Only this metric.
    pub metric_key: Option<String>,
    /// Only periods starting on or after this date.
    pub from: Option<Date>,
    /// Only periods starting on or before this date.
    pub to: Option<Date>,
    /// Only this granularity.
    pub granularity: Option<Granularity>,
    /// Only this segment.
    pub segment_key: Option<String>,
    /// Only this journey stage.
    pub stage_key: Option<String>,
}

/// What series to compute.
#[derive(InputObject)]
pub struct MetricSeriesInput {
    /// The metric.
    pub metric_key: String,
    /// First day of the range; widened to the start of its period.
    pub from: Date,
    /// Last day of the range; widened to the end of its period.
    pub to: Date,
    /// Granularity of the points.
    pub granularity: Granularity,
    /// One series per segment.
    #[graphql(default)]
    pub by_segment: bool,
    /// One series per journey stage.
    #[graphql(default)]
    pub by_stage: bool,
}

/// A metric's values over time, rolled up by its aggregation.
pub struct MetricSeries {
    metric: MetricObject,
    granularity: Granularity,
    source: Option<Granularity>,
    range: DateRange,
    points: Vec<rollup::Point<Uuid>>,
    gaps: Vec<crate::insights::ValuePoint>,
}

/// One point of a series.
pub struct SeriesPoint(rollup::Point<Uuid>);

/// One point of a series: a bucket, optionally a segment and stage, and the rolled-up value.
#[Object]
impl SeriesPoint {
    /// First day of the bucket.
    async fn period_start(&self) -> Date {
        self.0.period.start().into()
    }

    /// Last day of the bucket (inclusive).
    async fn period_end(&self) -> Date {
        self.0.period.end().into()
    }

    /// The segment, when broken down by segment.
    async fn segment(&self, ctx: &Context<'_>) -> ApiResult<Option<SegmentObject>> {
        let Some(id) = self.0.segment else {
            return Ok(None);
        };
        Ok(session(ctx)?.loaders.segment(id).await?.map(SegmentObject))
    }

    /// The journey stage, when broken down by stage.
    async fn stage(&self, ctx: &Context<'_>) -> ApiResult<Option<JourneyStageObject>> {
        let Some(id) = self.0.stage else {
            return Ok(None);
        };
        Ok(session(ctx)?
            .loaders
            .stage(id)
            .await?
            .map(JourneyStageObject))
    }

    /// The rolled-up value, exact.
    async fn value(&self) -> Decimal {
        self.0.value.into()
    }

    /// The recorded granularity this point was rolled up from.
    async fn source_granularity(&self) -> Granularity {
        self.0.source_granularity.into()
    }

    /// How many recorded values went into it.
    async fn observation_count(&self) -> i32 {
        i32::try_from(self.0.observations).unwrap_or(i32::MAX)
    }
}

/// A metric's values over time, rolled up by its aggregation.
#[Object]
impl MetricSeries {
    /// The metric.
    async fn metric(&self) -> &MetricObject {
        &self.metric
    }

    /// Granularity of the points.
    async fn granularity(&self) -> Granularity {
        self.granularity
    }

    /// The coarsest recorded granularity any point was rolled up from; null when nothing matched.
    async fn source_granularity(&self) -> Option<Granularity> {
        self.source
    }

    /// First day covered (the requested start, widened to its period).
    async fn from(&self) -> Date {
        self.range.from().into()
    }

    /// Last day covered (the requested end, widened to its period).
    async fn to(&self) -> Date {
        self.range.to().into()
    }

    /// Points ordered by period, then segment, then stage; buckets without data are absent.
    /// For a formula metric, each point is computed from its inputs' points
    /// (`observationCount` is 0 and `sourceGranularity` the requested granularity).
    async fn points(&self) -> Vec<SeriesPoint> {
        self.points.iter().cloned().map(SeriesPoint).collect()
    }

    /// For a formula metric: buckets where some input has data but the formula cannot be
    /// computed, each with the reason (a missing input, a division by zero). Always empty for
    /// other metrics.
    async fn gaps(&self) -> &[crate::insights::ValuePoint] {
        &self.gaps
    }
}

pub(crate) async fn resolve_segment(
    tenant: &Tenant,
    key: &str,
    field: &str,
) -> Result<Uuid, ApiError> {
    tenant
        .segment_by_key(key)
        .await
        .map_err(ApiError::from)?
        .map(|s| s.id)
        .ok_or_else(|| ApiError::bad_input(field, format!("no segment with key `{key}`")))
}

pub(crate) async fn resolve_stage(
    tenant: &Tenant,
    key: &str,
    field: &str,
) -> Result<Uuid, ApiError> {
    tenant
        .journey_stage_by_key(key)
        .await
        .map_err(ApiError::from)?
        .map(|s| s.id)
        .ok_or_else(|| ApiError::bad_input(field, format!("no journey stage with key `{key}`")))
}

pub(crate) async fn resolve_metric(
    tenant: &Tenant,
    key: &str,
    field: &str,
) -> Result<tandem_persistence::Metric, ApiError> {
    let unknown = || ApiError::bad_input(field, format!("no metric with key `{key}`"));
    let parsed = MetricKey::parse(key).map_err(|_| unknown())?;
    tenant
        .metric_by_key(&parsed)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(unknown)
}

/// Observation and series queries.
#[derive(Default)]
pub struct ObservationQuery;

#[Object]
impl ObservationQuery {
    /// Recorded values, ordered by period start. With `updatedSince` (or a cursor from such
    /// a page), ordered by change time then id for incremental sync: rows changed at or after
    /// that time, up to a settle horizon; keep `pageInfo.endCursor` and pass it as `after`
    /// next time to read only what changed since, never missing or repeating a row.
    #[allow(clippy::too_many_arguments)]
    async fn observations(
        &self,
        ctx: &Context<'_>,
        filter: Option<ObservationFilterInput>,
        updated_since: Option<DateTime>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<ObservationConnection> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let lim = limits(ctx);
        let sync = SyncArgs {
            updated_since: updated_since.map(|d| d.0),
            first,
            after: after.clone(),
            last,
            before: before.clone(),
        }
        .window(&lim, false)?;
        let page = match sync {
            Some(_) => Default::default(),
            None => PageArgs::new(first, after, last, before)
                .page(lim.max_page_size, lim.default_page_size)?,
        };
        let f = filter.unwrap_or_default();
        let mut filter = ObservationFilter {
            from: f.from.map(|d| d.at("filter.from")).transpose()?,
            to: f.to.map(|d| d.at("filter.to")).transpose()?,
            granularity: f.granularity.map(Into::into),
            ..ObservationFilter::default()
        };
        if let Some(key) = &f.metric_key {
            filter.metric_id = Some(resolve_metric(&s.tenant, key, "filter.metricKey").await?.id);
        }
        if let Some(key) = &f.segment_key {
            filter.segment_id = Some(resolve_segment(&s.tenant, key, "filter.segmentKey").await?);
        }
        if let Some(key) = &f.stage_key {
            filter.stage_id = Some(resolve_stage(&s.tenant, key, "filter.stageKey").await?);
        }
        let (slice, changed) = match &sync {
            None => (
                s.tenant
                    .observations(&filter, page)
                    .await
                    .map_err(ApiError::from)?,
                None,
            ),
            Some(window) => {
                let changed = s
                    .tenant
                    .observations_changed(&filter, window)
                    .await
                    .map_err(ApiError::from)?;
                let rows = changed.items.iter().map(|(_, o)| o.clone()).collect();
                (
                    tandem_persistence::Slice {
                        items: rows,
                        total: 0,
                        offset: 0,
                    },
                    Some(changed),
                )
            }
        };
        let rows = &slice.items;
        if selects(ctx, &["metric"]) {
            s.loaders
                .prime_metrics(rows.iter().map(|o| o.metric_id))
                .await?;
        }
        if selects(ctx, &["metric", "versions"]) {
            s.loaders
                .prime_versions(rows.iter().map(|o| o.metric_id))
                .await?;
        }
        if selects(ctx, &["segment"]) {
            s.loaders
                .prime_segments(rows.iter().filter_map(|o| o.segment_id))
                .await?;
        }
        if selects(ctx, &["stage"]) {
            s.loaders
                .prime_stages(rows.iter().filter_map(|o| o.stage_id))
                .await?;
        }
        if let (Some(changed), Some(window)) = (changed, &sync) {
            return Ok(ObservationConnection::from_sync(
                changed,
                window,
                ObservationObject,
            ));
        }
        Ok(ObservationConnection::from_slice(slice, ObservationObject))
    }

    /// A metric's values between two dates at a granularity, rolled up by the metric's
    /// aggregation, optionally broken down by segment and/or journey stage.
    async fn metric_series(
        &self,
        ctx: &Context<'_>,
        input: MetricSeriesInput,
    ) -> ApiResult<MetricSeries> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let metric = resolve_metric(&s.tenant, &input.metric_key, "input.metricKey").await?;
        let granularity: tandem_domain::periods::Granularity = input.granularity.into();
        let from = input.from.at("input.from")?;
        let to = input.to.at("input.to")?;
        let range = DateRange::new(from, to)
            .map_err(|e| ApiError::bad_input("input.to", e.message))?
            .widen_to(granularity);
        let breakdown = Breakdown {
            by_segment: input.by_segment,
            by_stage: input.by_stage,
        };
        let (series, gaps) = if metric.definition.formula.is_some() {
            let key = metric.definition.key.clone();
            let bench = crate::insights::Workbench::load(
                &s.tenant,
                [key.clone()].into_iter().collect(),
                range,
            )
            .await?;
            let mut points = Vec::new();
            let mut gaps = Vec::new();
            for p in bench.metric_series(&key, range, granularity, breakdown)? {
                match p.value {
                    Ok(value) => points.push(rollup::Point {
                        period: p.period,
                        segment: p.segment,
                        stage: p.stage,
                        value,
                        observations: 0,
                        source_granularity: granularity,
                    }),
                    Err(_) => gaps.push(crate::insights::ValuePoint(p)),
                }
            }
            let source = (!points.is_empty()).then_some(granularity);
            (
                rollup::Series {
                    source_granularity: source,
                    points,
                },
                gaps,
            )
        } else {
            let facts = s
                .tenant
                .observation_facts(metric.id, range)
                .await
                .map_err(ApiError::from)?;
            let series = rollup::roll_up(
                &facts,
                metric.definition.aggregation,
                granularity,
                breakdown,
            )
            .map_err(|e| ApiError::Conflict(e.to_string()))?;
            (series, Vec::new())
        };
        if series.points.len() > MAX_SERIES_POINTS {
            return Err(ApiError::bad_input(
                "input.granularity",
                format!("the series would have more than {MAX_SERIES_POINTS} points; use a coarser granularity or a shorter range"),
            )
            .into());
        }
        let look = ctx.look_ahead().field("points");
        if look.field("segment").exists() {
            s.loaders
                .prime_segments(series.points.iter().filter_map(|p| p.segment))
                .await?;
        }
        if look.field("stage").exists() {
            s.loaders
                .prime_stages(series.points.iter().filter_map(|p| p.stage))
                .await?;
        }
        Ok(MetricSeries {
            metric: MetricObject(metric),
            granularity: input.granularity,
            source: series.source_granularity.map(Into::into),
            range,
            points: series.points,
            gaps,
        })
    }
}

/// One value to record.
#[derive(InputObject)]
pub struct ObservationInput {
    /// The metric, by key.
    pub metric_key: String,
    /// First day of the period; must start a period of `granularity`.
    pub period_start: Date,
    /// Length of the period.
    pub granularity: Granularity,
    /// The segment, by key; omit for the all-segments figure.
    pub segment_key: Option<String>,
    /// The journey stage, by key; omit for the all-stages figure.
    pub stage_key: Option<String>,
    /// The value, exact.
    pub value: Decimal,
    /// Where the value came from (pipeline, system, person).
    pub source: Option<String>,
}

/// A batch of values to record in one transaction.
#[derive(InputObject)]
pub struct RecordObservationsInput {
    /// The values; at most the configured batch size (10,000 by default).
    pub observations: Vec<ObservationInput>,
    /// Report what would change without writing anything.
    #[graphql(default)]
    pub dry_run: bool,
}

/// What a batch did, or would do in a dry run.
#[derive(SimpleObject)]
pub struct RecordObservationsPayload {
    /// Values whose metric, period, segment and stage were new.
    pub created: i32,
    /// Values that replaced a different recorded value or source.
    pub updated: i32,
    /// Values already recorded exactly so.
    pub unchanged: i32,
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
}

fn parse_rows(rows: Vec<ObservationInput>) -> Result<Vec<NewObservation>, ApiError> {
    let mut problems = Vec::new();
    let mut parsed = Vec::with_capacity(rows.len());
    for (i, row) in rows.into_iter().enumerate() {
        let path = |field: &str| format!("input.observations[{i}].{field}");
        let at = |field: &'static str| move |message: String| Problem::new(path(field), message);
        let key = MetricKey::parse(&row.metric_key).map_err(|e| at("metricKey")(e.message));
        let period = row
            .period_start
            .checked()
            .map_err(at("periodStart"))
            .and_then(|start| {
                Period::new(start, row.granularity.into()).map_err(|e| at("periodStart")(e.message))
            });
        let value = row.value.checked().map_err(at("value"));
        let dim = |raw: Option<String>, field: &'static str| {
            raw.map(|k| DimensionKey::parse(&k).map_err(|e| at(field)(e.message)))
                .transpose()
        };
        let segment = dim(row.segment_key, "segmentKey");
        let stage = dim(row.stage_key, "stageKey");
        let source = row
            .source
            .map(|s| parse_text(&s, 200, false).map_err(|e| at("source")(e.message)))
            .transpose()
            .map(|s| s.filter(|t| !t.is_empty()));
        match (key, period, value, segment, stage, source) {
            (Ok(metric_key), Ok(period), Ok(value), Ok(segment), Ok(stage), Ok(source)) => parsed
                .push(NewObservation {
                    metric_key,
                    period,
                    segment,
                    stage,
                    value,
                    source,
                }),
            (key, period, value, segment, stage, source) => {
                problems.extend(key.err());
                problems.extend(period.err());
                problems.extend(value.err());
                problems.extend(segment.err());
                problems.extend(stage.err());
                problems.extend(source.err());
            }
        }
        if problems.len() >= 100 {
            break;
        }
    }
    if problems.is_empty() {
        Ok(parsed)
    } else {
        Err(ApiError::BadUserInput(problems))
    }
}

/// Recording observations (admin, revops; finance for financial metrics).
#[derive(Default)]
pub struct ObservationMutation;

#[Object]
impl ObservationMutation {
    /// Records a batch of values in one transaction: all or nothing, idempotent on
    /// (metric, period, segment, stage) so pipelines can re-send safely. Any bad row refuses
    /// the whole batch, with every problem listed by field path.
    async fn record_observations(
        &self,
        ctx: &Context<'_>,
        input: RecordObservationsInput,
    ) -> ApiResult<RecordObservationsPayload> {
        let s = session(ctx)?;
        let caller = &s.caller;
        let may = |p: DomainPerspective| caller.may(Permission::RecordObservations(p));
        if !DomainPerspective::ALL.iter().any(|p| may(*p)) {
            caller.require(Permission::RecordObservations(DomainPerspective::Financial))?;
        }
        let max = limits(ctx).max_batch_size;
        if input.observations.len() > max {
            return Err(ApiError::bad_input(
                "input.observations",
                format!(
                    "at most {max} observations per call, got {}",
                    input.observations.len()
                ),
            )
            .into());
        }
        let rows = parse_rows(input.observations)?;
        let outcome = s
            .tenant
            .record_observations(&Actor(caller.subject.clone()), &rows, input.dry_run, may)
            .await
            .map_err(ApiError::from)?;
        if !input.dry_run {
            crate::live::refresh_after_recording(&s.tenant, &outcome.touched).await;
        }
        let count = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(RecordObservationsPayload {
            created: count(outcome.created),
            updated: count(outcome.updated),
            unchanged: count(outcome.unchanged),
            dry_run: input.dry_run,
        })
    }
}
