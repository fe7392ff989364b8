//! Computed metric views over GraphQL: formula metrics for any period and segment, the
//! segment x journey-stage matrix of several metrics, and metric trees with latest values and
//! trends.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::Utc;
use tandem_domain::access::Permission;
use tandem_domain::dashboards as tree_rules;
use tandem_domain::formula::{self, Formula, FormulaPoint, Source};
use tandem_domain::metrics::{MetricKey, parse_text};
use tandem_domain::periods::{DateRange, Period};
use tandem_domain::rollup::{Breakdown, Fact};
use tandem_persistence::{Actor, Metric, MetricEdge, Tenant};
use uuid::Uuid;

use crate::dimensions::{JourneyStageObject, SegmentObject};
use crate::error::{ApiError, ApiResult};
use crate::graphql::enums::{Granularity, TrendDirection};
use crate::graphql::scalars::{Date, DateTime, Decimal};
use crate::graphql::{Session, authorized, session};
use crate::metrics::MetricObject;
use crate::observations::{resolve_metric, resolve_segment, resolve_stage};

/// Most metrics one matrix may hold.
const MAX_MATRIX_METRICS: usize = 50;
/// Periods of history a metric tree reads to find each node's latest two values.
const TREE_LOOKBACK_PERIODS: u32 = 24;

/// The glossary entries and recorded values a set of series needs, read in a few statements:
/// one per level of formula nesting for the metrics, one for the values.
pub(crate) struct Workbench {
    metrics: HashMap<MetricKey, Metric>,
    formulas: HashMap<MetricKey, Formula>,
    facts: HashMap<Uuid, Vec<Fact<Uuid>>>,
}

impl Workbench {
    /// Reads `roots` and every metric their formulas read, with values in `range`.
    pub(crate) async fn load(
        tenant: &Tenant,
        roots: BTreeSet<MetricKey>,
        range: DateRange,
    ) -> Result<Self, ApiError> {
        Self::load_for(
            tenant,
            roots.into_iter().map(|k| (k, true)).collect(),
            range,
        )
        .await
    }

    /// Like [`Workbench::load`], with each root saying whether it will be broken down by
    /// journey stage: metrics only read without that breakdown skip the stage values hidden by
    /// a total recorded for the same period and segment (the roll-up never reads them).
    pub(crate) async fn load_for(
        tenant: &Tenant,
        roots: BTreeMap<MetricKey, bool>,
        range: DateRange,
    ) -> Result<Self, ApiError> {
        let mut by_stage = roots.clone();
        let mut metrics: HashMap<MetricKey, Metric> = HashMap::new();
        let mut formulas = HashMap::new();
        let mut pending: Vec<MetricKey> = roots.into_keys().collect();
        for _ in 0..=formula::MAX_NESTING {
            if pending.is_empty() {
                break;
            }
            let found = tenant
                .metrics_by_keys(&pending)
                .await
                .map_err(ApiError::from)?;
            let mut next = BTreeSet::new();
            for (key, metric) in found {
                if let Some(f) = metric
                    .definition
                    .formula
                    .as_deref()
                    .and_then(|f| Formula::parse(f).ok())
                {
                    next.extend(
                        f.references()
                            .into_iter()
                            .filter(|k| !metrics.contains_key(k) && *k != key),
                    );
                    formulas.insert(key.clone(), f);
                }
                metrics.insert(key, metric);
            }
            pending = next
                .into_iter()
                .filter(|k| !metrics.contains_key(k))
                .collect();
        }
        // A formula broken down by stage breaks its inputs down by stage.
        for _ in 0..=formula::MAX_NESTING {
            for (key, f) in &formulas {
                if by_stage.get(key).copied().unwrap_or(false) {
                    for input in f.references() {
                        by_stage.insert(input, true);
                    }
                }
            }
        }
        let (mut all_rows, mut totals_first) = (Vec::new(), Vec::new());
        for (key, metric) in metrics.iter().filter(|(k, _)| !formulas.contains_key(*k)) {
            if by_stage.get(key).copied().unwrap_or(false) {
                all_rows.push(metric.id);
            } else {
                totals_first.push(metric.id);
            }
        }
        let facts = tenant
            .observation_facts_with_totals(&all_rows, &totals_first, range)
            .await
            .map_err(ApiError::from)?;
        Ok(Self {
            metrics,
            formulas,
            facts,
        })
    }

    /// A metric of the workbench by key.
    pub(crate) fn metric(&self, key: &MetricKey) -> Option<&Metric> {
        self.metrics.get(key)
    }

    fn source(&self, key: &MetricKey) -> Option<Source<'_, Uuid>> {
        let metric = self.metrics.get(key)?;
        Some(Source {
            formula: self.formulas.get(key),
            aggregation: metric.definition.aggregation,
            facts: self.facts.get(&metric.id).map_or(&[], Vec::as_slice),
        })
    }

    /// A metric's series (rolled up, or computed from its formula).
    pub(crate) fn metric_series(
        &self,
        key: &MetricKey,
        range: DateRange,
        granularity: tandem_domain::periods::Granularity,
        breakdown: Breakdown,
    ) -> Result<Vec<FormulaPoint<Uuid>>, ApiError> {
        formula::metric_series(key, &|k| self.source(k), range, granularity, breakdown)
            .map_err(|e| ApiError::Conflict(e.to_string()))
    }

    /// An ad-hoc formula's series.
    pub(crate) fn formula_series(
        &self,
        f: &Formula,
        range: DateRange,
        granularity: tandem_domain::periods::Granularity,
        breakdown: Breakdown,
    ) -> Result<Vec<FormulaPoint<Uuid>>, ApiError> {
        formula::formula_series(f, &|k| self.source(k), range, granularity, breakdown)
            .map_err(|e| ApiError::Conflict(e.to_string()))
    }
}

/// One computed value: a bucket, optionally a segment and a stage, and the value or why there
/// is none.
#[derive(Clone)]
pub struct ValuePoint(pub FormulaPoint<Uuid>);

/// One computed value: a bucket, optionally a segment and a stage, and the value or why there
/// is none (a formula input without data, a division by zero).
#[Object]
impl ValuePoint {
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

    /// The value, exact; null when it cannot be computed.
    async fn value(&self) -> Option<Decimal> {
        self.0.value.as_ref().ok().map(|v| (*v).into())
    }

    /// Why the value is null, when it is.
    async fn reason(&self) -> Option<String> {
        self.0.value.as_ref().err().map(ToString::to_string)
    }
}

/// Primes the segment and stage loaders for a set of points.
pub(crate) async fn prime_dimensions<'a>(
    s: &Session,
    points: impl Iterator<Item = &'a FormulaPoint<Uuid>> + Clone,
) -> Result<(), ApiError> {
    s.loaders
        .prime_segments(points.clone().filter_map(|p| p.segment))
        .await?;
    s.loaders
        .prime_stages(points.filter_map(|p| p.stage))
        .await?;
    Ok(())
}

/// Which value to compute.
#[derive(InputObject)]
pub struct MetricValueInput {
    /// The metric (plain or formula).
    pub metric_key: String,
    /// First day of the period.
    pub period_start: Date,
    /// Length of the period.
    pub granularity: Granularity,
    /// Only this segment; the organization total when omitted.
    pub segment_key: Option<String>,
    /// Only this journey stage; all stages when omitted.
    pub stage_key: Option<String>,
}

/// A metric's value for one period.
#[derive(SimpleObject)]
pub struct MetricValue {
    /// The metric.
    pub metric: MetricObject,
    /// First day of the period.
    pub period_start: Date,
    /// Last day of the period (inclusive).
    pub period_end: Date,
    /// The value, exact; null when it cannot be computed.
    pub value: Option<Decimal>,
    /// Why the value is null, when it is.
    pub reason: Option<String>,
}

/// Which metrics to lay out by segment and journey stage.
#[derive(InputObject)]
pub struct MetricMatrixInput {
    /// The metrics (plain or formula), in column order.
    pub metric_keys: Vec<String>,
    /// First day of the period.
    pub period_start: Date,
    /// Length of the period.
    pub granularity: Granularity,
}

/// One metric's value in a matrix row.
#[derive(SimpleObject)]
pub struct MatrixValue {
    /// The metric's key (columns follow `metricKeys`).
    pub metric_key: String,
    /// The value, exact; null when there is none.
    pub value: Option<Decimal>,
    /// Why the value is null, when it is.
    pub reason: Option<String>,
}

/// One row of a matrix: a segment and stage (either null for "all"), with one value per metric.
pub struct MatrixRow {
    segment: Option<Uuid>,
    stage: Option<Uuid>,
    values: Vec<MatrixValue>,
}

/// One row of a matrix: a segment and stage (null for "all"), with one value per metric.
#[Object]
impl MatrixRow {
    /// The segment; null in the all-segments rows.
    async fn segment(&self, ctx: &Context<'_>) -> ApiResult<Option<SegmentObject>> {
        let Some(id) = self.segment else {
            return Ok(None);
        };
        Ok(session(ctx)?.loaders.segment(id).await?.map(SegmentObject))
    }

    /// The journey stage; null in the all-stages rows.
    async fn stage(&self, ctx: &Context<'_>) -> ApiResult<Option<JourneyStageObject>> {
        let Some(id) = self.stage else {
            return Ok(None);
        };
        Ok(session(ctx)?
            .loaders
            .stage(id)
            .await?
            .map(JourneyStageObject))
    }

    /// One value per metric, in the order of `metricKeys`.
    async fn values(&self) -> &[MatrixValue] {
        &self.values
    }
}

/// Several metrics for one period, broken out by segment x journey stage, with segment, stage
/// and overall totals.
#[derive(SimpleObject)]
pub struct MetricMatrix {
    /// First day of the period.
    pub period_start: Date,
    /// Last day of the period (inclusive).
    pub period_end: Date,
    /// The metrics, in column order.
    pub metrics: Vec<MetricObject>,
    /// The overall row first, then one row per segment, one per stage, and one per
    /// segment x stage cell that has data.
    pub rows: Vec<MatrixRow>,
}

/// Which metric tree to read.
#[derive(InputObject)]
pub struct MetricTreeInput {
    /// The output metric at the root.
    pub metric_key: String,
    /// Latest values are read up to this day; today (UTC) when omitted.
    pub as_of: Option<Date>,
    /// Period length for latest values and trends.
    #[graphql(default_with = "Granularity::Month")]
    pub granularity: Granularity,
    /// Only this segment's values; organization totals when omitted.
    pub segment_key: Option<String>,
}

/// How a value moved from the previous period.
#[derive(SimpleObject)]
pub struct Trend {
    /// Latest minus previous.
    pub change: Decimal,
    /// The change relative to the previous value; null when the previous value is zero.
    pub change_ratio: Option<Decimal>,
    /// Which way it moved.
    pub direction: TrendDirection,
    /// Whether the move is good news given the metric's direction.
    pub improving: bool,
}

/// A metric in a tree, with its latest value, trend and the inputs that ladder into it.
pub struct MetricTreeNode {
    metric: Metric,
    rationale: Option<String>,
    latest: Option<FormulaPoint<Uuid>>,
    previous: Option<FormulaPoint<Uuid>>,
    inputs: Vec<MetricTreeNode>,
}

/// A metric in a tree, with its latest value, its trend and the inputs that ladder into it.
#[Object]
impl MetricTreeNode {
    /// The metric.
    async fn metric(&self) -> MetricObject {
        MetricObject(self.metric.clone())
    }

    /// Why this input drives its output (null at the root).
    async fn rationale(&self) -> Option<&str> {
        self.rationale.as_deref()
    }

    /// The latest period with a value.
    async fn latest(&self) -> Option<ValuePoint> {
        self.latest.clone().map(ValuePoint)
    }

    /// The period before the latest one, when it has a value.
    async fn previous(&self) -> Option<ValuePoint> {
        self.previous.clone().map(ValuePoint)
    }

    /// The move from the previous period to the latest; null without both values.
    async fn trend(&self) -> Option<Trend> {
        let latest = self.latest.as_ref()?.value.as_ref().ok()?;
        let previous = self.previous.as_ref()?.value.as_ref().ok()?;
        let t = tree_rules::trend(*latest, *previous, self.metric.definition.direction)?;
        Some(Trend {
            change: t.change.into(),
            change_ratio: t.change_ratio.map(Into::into),
            direction: t.direction.into(),
            improving: t.improving,
        })
    }

    /// The input metrics that ladder into this one.
    async fn inputs(&self) -> &[MetricTreeNode] {
        &self.inputs
    }
}

/// Computed metric queries.
#[derive(Default)]
pub struct InsightQuery;

#[Object]
impl InsightQuery {
    /// A metric's value for one period, for the organization or one segment and/or stage;
    /// formula metrics are computed from their inputs. A value that cannot be computed is
    /// null with a reason.
    async fn metric_value(
        &self,
        ctx: &Context<'_>,
        input: MetricValueInput,
    ) -> ApiResult<MetricValue> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let metric = resolve_metric(&s.tenant, &input.metric_key, "input.metricKey").await?;
        let start = input.period_start.at("input.periodStart")?;
        let period = Period::new(start, input.granularity.into())
            .map_err(|e| ApiError::bad_input("input.periodStart", e.message))?;
        let segment = match &input.segment_key {
            Some(k) => Some(resolve_segment(&s.tenant, k, "input.segmentKey").await?),
            None => None,
        };
        let stage = match &input.stage_key {
            Some(k) => Some(resolve_stage(&s.tenant, k, "input.stageKey").await?),
            None => None,
        };
        let range = DateRange::new(period.start(), period.end())
            .map_err(|e| ApiError::bad_input("input.periodStart", e.message))?;
        let key = metric.definition.key.clone();
        let bench = Workbench::load(&s.tenant, [key.clone()].into_iter().collect(), range).await?;
        let breakdown = Breakdown {
            by_segment: segment.is_some(),
            by_stage: stage.is_some(),
        };
        let points = bench.metric_series(&key, range, period.granularity(), breakdown)?;
        let found = points
            .into_iter()
            .find(|p| p.period == period && p.segment == segment && p.stage == stage);
        let (value, reason) = match found.map(|p| p.value) {
            Some(Ok(v)) => (Some(v.into()), None),
            Some(Err(e)) => (None, Some(e.to_string())),
            None => (
                None,
                Some(format!("no values recorded for `{key}` in this period")),
            ),
        };
        Ok(MetricValue {
            metric: MetricObject(metric),
            period_start: period.start().into(),
            period_end: period.end().into(),
            value,
            reason,
        })
    }

    /// Several metrics for one period by segment x journey stage, in one round trip: the
    /// integrated view of revenue and customer signals. Formula metrics are computed per cell.
    async fn metric_matrix(
        &self,
        ctx: &Context<'_>,
        input: MetricMatrixInput,
    ) -> ApiResult<MetricMatrix> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        if input.metric_keys.is_empty() || input.metric_keys.len() > MAX_MATRIX_METRICS {
            return Err(ApiError::bad_input(
                "input.metricKeys",
                format!("give between 1 and {MAX_MATRIX_METRICS} metric keys"),
            )
            .into());
        }
        let start = input.period_start.at("input.periodStart")?;
        let period = Period::new(start, input.granularity.into())
            .map_err(|e| ApiError::bad_input("input.periodStart", e.message))?;
        let range = DateRange::new(period.start(), period.end())
            .map_err(|e| ApiError::bad_input("input.periodStart", e.message))?;
        let mut keys = Vec::with_capacity(input.metric_keys.len());
        for (i, raw) in input.metric_keys.iter().enumerate() {
            let field = format!("input.metricKeys[{i}]");
            let key = MetricKey::parse(raw).map_err(|e| ApiError::bad_input(&field, e.message))?;
            keys.push((key, field));
        }
        let bench = Workbench::load(
            &s.tenant,
            keys.iter().map(|(k, _)| k.clone()).collect(),
            range,
        )
        .await?;
        let mut metrics = Vec::with_capacity(keys.len());
        for (key, field) in &keys {
            let metric = bench
                .metric(key)
                .ok_or_else(|| ApiError::bad_input(field, format!("no metric with key `{key}`")))?;
            metrics.push(MetricObject(metric.clone()));
        }
        type Cell = (Option<Uuid>, Option<Uuid>);
        let mut cells: BTreeMap<
            (u8, Cell),
            BTreeMap<usize, Result<rust_decimal::Decimal, String>>,
        > = BTreeMap::new();
        let layouts = [(false, false), (true, false), (false, true), (true, true)];
        for (col, (key, _)) in keys.iter().enumerate() {
            for (order, (by_segment, by_stage)) in layouts.iter().enumerate() {
                let breakdown = Breakdown {
                    by_segment: *by_segment,
                    by_stage: *by_stage,
                };
                for p in bench.metric_series(key, range, period.granularity(), breakdown)? {
                    cells
                        .entry((u8::try_from(order).unwrap_or(u8::MAX), (p.segment, p.stage)))
                        .or_default()
                        .insert(col, p.value.map_err(|e| e.to_string()));
                }
            }
        }
        // The overall row is always there, even without data.
        cells.entry((0, (None, None))).or_default();
        s.loaders
            .prime_segments(cells.keys().filter_map(|(_, (seg, _))| *seg))
            .await?;
        s.loaders
            .prime_stages(cells.keys().filter_map(|(_, (_, st))| *st))
            .await?;
        let rows = cells
            .into_iter()
            .map(|((_, (segment, stage)), mut values)| MatrixRow {
                segment,
                stage,
                values: keys
                    .iter()
                    .enumerate()
                    .map(|(col, (key, _))| {
                        let (value, reason) = match values.remove(&col) {
                            Some(Ok(v)) => (Some(v.into()), None),
                            Some(Err(e)) => (None, Some(e)),
                            None => (None, Some("no values recorded".to_owned())),
                        };
                        MatrixValue {
                            metric_key: key.to_string(),
                            value,
                            reason,
                        }
                    })
                    .collect(),
            })
            .collect();
        Ok(MetricMatrix {
            period_start: period.start().into(),
            period_end: period.end().into(),
            metrics,
            rows,
        })
    }

    /// The metric tree under an output metric: every input that ladders into it, at any
    /// depth, with each node's latest value and its trend from the period before.
    async fn metric_tree(
        &self,
        ctx: &Context<'_>,
        input: MetricTreeInput,
    ) -> ApiResult<MetricTreeNode> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let root = resolve_metric(&s.tenant, &input.metric_key, "input.metricKey").await?;
        let as_of = match &input.as_of {
            Some(d) => d.at("input.asOf")?,
            None => Utc::now().date_naive(),
        };
        let segment = match &input.segment_key {
            Some(k) => Some(resolve_segment(&s.tenant, k, "input.segmentKey").await?),
            None => None,
        };
        let granularity: tandem_domain::periods::Granularity = input.granularity.into();
        let edges = s.tenant.metric_edges().await.map_err(ApiError::from)?;
        let mut inputs_of: BTreeMap<Uuid, Vec<&MetricEdge>> = BTreeMap::new();
        for e in &edges {
            inputs_of.entry(e.output_id).or_default().push(e);
        }
        // Every metric under the root (the tree has no cycles; `seen` guards anyway).
        let mut seen: BTreeSet<Uuid> = [root.id].into_iter().collect();
        let mut frontier = vec![root.id];
        while let Some(id) = frontier.pop() {
            for e in inputs_of.get(&id).into_iter().flatten() {
                if seen.insert(e.input_id) {
                    frontier.push(e.input_id);
                }
            }
        }
        let ids: Vec<Uuid> = seen.iter().copied().collect();
        let by_id = s
            .tenant
            .metrics_by_ids(&ids)
            .await
            .map_err(ApiError::from)?;
        let range = tree_rules::PanelRange::Last(TREE_LOOKBACK_PERIODS)
            .resolve(granularity, as_of)
            .map_err(|e| ApiError::bad_input("input.asOf", e.message))?;
        let keys: BTreeSet<MetricKey> = by_id.values().map(|m| m.definition.key.clone()).collect();
        let bench = Workbench::load(&s.tenant, keys, range).await?;
        let breakdown = Breakdown {
            by_segment: segment.is_some(),
            by_stage: false,
        };
        let mut latest: Latest = HashMap::new();
        for m in by_id.values() {
            let points: Vec<FormulaPoint<Uuid>> = bench
                .metric_series(&m.definition.key, range, granularity, breakdown)?
                .into_iter()
                .filter(|p| p.segment == segment && p.value.is_ok() && p.period.start() <= as_of)
                .collect();
            let mut it = points.into_iter().rev();
            let last = it.next();
            let before = last.as_ref().and_then(|l| {
                let day_before = l.period.start().pred_opt()?;
                let prev = Period::new(granularity.bucket_start(day_before), granularity).ok()?;
                it.find(|p| p.period == prev)
            });
            latest.insert(m.id, (last, before));
        }
        let points: Vec<&FormulaPoint<Uuid>> = latest
            .values()
            .flat_map(|(a, b)| a.iter().chain(b.iter()))
            .collect();
        prime_dimensions(s, points.into_iter()).await?;
        build_node(
            root.id,
            None,
            &by_id,
            &inputs_of,
            &latest,
            &mut BTreeSet::new(),
        )
        .ok_or_else(|| ApiError::Internal("the root metric vanished".to_owned()).into())
    }
}

/// Latest and previous points of each metric.
type Latest = HashMap<Uuid, (Option<FormulaPoint<Uuid>>, Option<FormulaPoint<Uuid>>)>;

fn build_node(
    id: Uuid,
    rationale: Option<String>,
    by_id: &HashMap<Uuid, Metric>,
    inputs_of: &BTreeMap<Uuid, Vec<&MetricEdge>>,
    latest: &Latest,
    path: &mut BTreeSet<Uuid>,
) -> Option<MetricTreeNode> {
    let metric = by_id.get(&id)?.clone();
    path.insert(id);
    let mut inputs = Vec::new();
    for e in inputs_of.get(&id).into_iter().flatten() {
        if !path.contains(&e.input_id) {
            inputs.extend(build_node(
                e.input_id,
                e.rationale.clone(),
                by_id,
                inputs_of,
                latest,
                path,
            ));
        }
    }
    path.remove(&id);
    inputs.sort_by(|a, b| a.metric.definition.key.cmp(&b.metric.definition.key));
    let (last, previous) = latest.get(&id).cloned().unwrap_or((None, None));
    Some(MetricTreeNode {
        metric,
        rationale,
        latest: last,
        previous,
        inputs,
    })
}

/// Links an input metric into an output metric.
#[derive(InputObject)]
pub struct LinkMetricsInput {
    /// The input metric (the driver).
    pub input_metric_key: String,
    /// The output metric it ladders into.
    pub output_metric_key: String,
    /// Why the input drives the output.
    pub rationale: Option<String>,
}

/// Removes a metric-tree edge.
#[derive(InputObject)]
pub struct UnlinkMetricsInput {
    /// The input metric.
    pub input_metric_key: String,
    /// The output metric.
    pub output_metric_key: String,
}

/// An edge of the metric tree.
#[derive(SimpleObject)]
pub struct MetricEdgeObject {
    /// The input metric (the driver).
    pub input: MetricObject,
    /// The output metric it ladders into.
    pub output: MetricObject,
    /// Why the input drives the output.
    pub rationale: Option<String>,
    /// Who linked them.
    pub created_by: String,
    /// When.
    pub created_at: DateTime,
}

/// The result of `linkMetrics`.
#[derive(SimpleObject)]
pub struct LinkMetricsPayload {
    /// The edge.
    pub edge: MetricEdgeObject,
}

/// The result of `unlinkMetrics`.
#[derive(SimpleObject)]
pub struct UnlinkMetricsPayload {
    /// Whether an edge was removed (false when there was none).
    pub removed: bool,
}

/// Metric-tree changes (admin, revops).
#[derive(Default)]
pub struct InsightMutation;

#[Object]
impl InsightMutation {
    /// Links an input metric into an output metric; refused with CONFLICT when it would close
    /// a cycle. Linking again updates the rationale.
    async fn link_metrics(
        &self,
        ctx: &Context<'_>,
        input: LinkMetricsInput,
    ) -> ApiResult<LinkMetricsPayload> {
        let s = authorized(ctx, Permission::ManageMetricTree)?;
        let from =
            resolve_metric(&s.tenant, &input.input_metric_key, "input.inputMetricKey").await?;
        let to =
            resolve_metric(&s.tenant, &input.output_metric_key, "input.outputMetricKey").await?;
        let rationale = input
            .rationale
            .map(|r| parse_text(&r, 2000, false))
            .transpose()
            .map_err(|e| ApiError::bad_input("input.rationale", e.message))?
            .filter(|r| !r.is_empty());
        let edge = s
            .tenant
            .link_metrics(&Actor(s.caller.subject.clone()), to.id, from.id, rationale)
            .await
            .map_err(ApiError::from)?;
        Ok(LinkMetricsPayload {
            edge: MetricEdgeObject {
                input: MetricObject(from),
                output: MetricObject(to),
                rationale: edge.rationale,
                created_by: edge.created_by,
                created_at: DateTime(edge.created_at),
            },
        })
    }

    /// Removes the edge between two metrics.
    async fn unlink_metrics(
        &self,
        ctx: &Context<'_>,
        input: UnlinkMetricsInput,
    ) -> ApiResult<UnlinkMetricsPayload> {
        let s = authorized(ctx, Permission::ManageMetricTree)?;
        let from =
            resolve_metric(&s.tenant, &input.input_metric_key, "input.inputMetricKey").await?;
        let to =
            resolve_metric(&s.tenant, &input.output_metric_key, "input.outputMetricKey").await?;
        let removed = s
            .tenant
            .unlink_metrics(&Actor(s.caller.subject.clone()), to.id, from.id)
            .await
            .map_err(ApiError::from)?;
        Ok(UnlinkMetricsPayload { removed })
    }
}
