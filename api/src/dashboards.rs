//! Saved dashboards over GraphQL: panels of metrics or formulas, shared or private, and every
//! panel's data in one query.

use std::collections::{BTreeMap, BTreeSet};

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use tandem_domain::access::{AccessRole, Permission};
use tandem_domain::dashboards::{self as rules, Panel, PanelRange, PanelSource};
use tandem_domain::formula::Formula;
use tandem_domain::metrics::{MetricKey, parse_text};
use tandem_domain::periods::DateRange;
use tandem_domain::rollup::Breakdown;
use tandem_persistence::{Actor, Dashboard, DashboardContent};

use crate::error::{ApiError, ApiResult};
use crate::graphql::enums::{ChartHint, Granularity, Visibility};
use crate::graphql::relay::{PageArgs, connection, expect_global_id, global_id};
use crate::graphql::scalars::{Date, DateTime};
use crate::graphql::{Session, authorized, limits, session};
use crate::insights::{ValuePoint, Workbench, prime_dimensions};
use crate::metrics::MetricObject;
use tandem_persistence::Problem;

/// Most points one panel may return.
const MAX_PANEL_POINTS: usize = 5_000;

/// A saved dashboard.
#[derive(Clone)]
pub struct DashboardObject(pub Dashboard);

/// A saved view: panels of metrics or formulas, each with its breakdown, range, granularity
/// and chart hint. `data` returns every panel's values in one round trip.
#[Object(name = "Dashboard")]
impl DashboardObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id("Dashboard", self.0.id)
    }

    /// Name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What it is for.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// Who may read it.
    async fn visibility(&self) -> Visibility {
        self.0.visibility.into()
    }

    /// Token subject of the owner.
    async fn owner_subject(&self) -> &str {
        &self.0.owner_subject
    }

    /// Version; 1 when saved, +1 on every change. Pass it as `expectedVersion` to avoid
    /// overwriting someone else's change.
    async fn version(&self) -> i32 {
        self.0.version
    }

    /// When it was saved.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// When it last changed.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }

    /// Its panels, in order.
    async fn panels(&self) -> Vec<DashboardPanel> {
        self.0.panels.iter().cloned().map(DashboardPanel).collect()
    }

    /// Every panel's data, computed together: relative ranges count back from `asOf`
    /// (today, UTC, when omitted).
    async fn data(&self, ctx: &Context<'_>, as_of: Option<Date>) -> ApiResult<Vec<PanelData>> {
        let s = session(ctx)?;
        let as_of = match &as_of {
            Some(d) => d.at("asOf")?,
            None => chrono::Utc::now().date_naive(),
        };
        Ok(panel_data(s, &self.0.panels, as_of).await?)
    }
}

/// Computes every panel with one read of the glossary per formula level and one of values.
async fn panel_data(
    s: &Session,
    panels: &[Panel],
    as_of: chrono::NaiveDate,
) -> Result<Vec<PanelData>, ApiError> {
    let mut ranges = Vec::with_capacity(panels.len());
    for (i, p) in panels.iter().enumerate() {
        let range = p
            .range
            .resolve(p.granularity, as_of)
            .map_err(|e| ApiError::bad_input(format!("panels.{i}"), e.message))?;
        ranges.push(range);
    }
    let (Some(from), Some(to)) = (
        ranges.iter().map(|r| r.from()).min(),
        ranges.iter().map(|r| r.to()).max(),
    ) else {
        return Ok(Vec::new());
    };
    let union = DateRange::new(from, to).map_err(|e| ApiError::bad_input("asOf", e.message))?;
    let mut keys: BTreeMap<MetricKey, bool> = BTreeMap::new();
    for p in panels {
        for key in p.source.references() {
            *keys.entry(key).or_default() |= p.breakdown.by_stage;
        }
    }
    let bench = Workbench::load_for(&s.tenant, keys, union).await?;
    let mut out = Vec::with_capacity(panels.len());
    for (i, (panel, range)) in panels.iter().zip(ranges).enumerate() {
        let points = match &panel.source {
            PanelSource::Metric(k) => {
                bench.metric_series(k, range, panel.granularity, panel.breakdown)?
            }
            PanelSource::Formula(f) => {
                bench.formula_series(f, range, panel.granularity, panel.breakdown)?
            }
        };
        if points.len() > MAX_PANEL_POINTS {
            return Err(ApiError::bad_input(
                format!("panels.{i}"),
                format!(
                    "the panel would have more than {MAX_PANEL_POINTS} points; use a coarser granularity or a shorter range"
                ),
            ));
        }
        prime_dimensions(s, points.iter()).await?;
        out.push(PanelData {
            index: i32::try_from(i).unwrap_or(i32::MAX),
            title: panel.title.clone(),
            from: range.from().into(),
            to: range.to().into(),
            granularity: panel.granularity.into(),
            chart: panel.chart.into(),
            points: points.into_iter().map(ValuePoint).collect(),
        });
    }
    Ok(out)
}

/// One panel of a dashboard.
#[derive(Clone)]
pub struct DashboardPanel(Panel);

/// One panel of a dashboard: what it shows and how.
#[Object]
impl DashboardPanel {
    /// Heading.
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// The metric shown; null for a formula panel.
    async fn metric(&self, ctx: &Context<'_>) -> ApiResult<Option<MetricObject>> {
        let PanelSource::Metric(key) = &self.0.source else {
            return Ok(None);
        };
        let s = session(ctx)?;
        Ok(s.loaders
            .metrics_by_key
            .load_one(key.clone())
            .await
            .map_err(crate::graphql::loaders::loader_error)?
            .map(MetricObject))
    }

    /// The metric's key, or null for a formula panel.
    async fn metric_key(&self) -> Option<&str> {
        match &self.0.source {
            PanelSource::Metric(k) => Some(k.as_str()),
            PanelSource::Formula(_) => None,
        }
    }

    /// The formula shown; null for a metric panel.
    async fn formula(&self) -> Option<&str> {
        match &self.0.source {
            PanelSource::Formula(f) => Some(f.source()),
            PanelSource::Metric(_) => None,
        }
    }

    /// One series per segment.
    async fn by_segment(&self) -> bool {
        self.0.breakdown.by_segment
    }

    /// One series per journey stage.
    async fn by_stage(&self) -> bool {
        self.0.breakdown.by_stage
    }

    /// Fixed first day; null for a relative range.
    async fn from(&self) -> Option<Date> {
        match self.0.range {
            PanelRange::Between(r) => Some(r.from().into()),
            PanelRange::Last(_) => None,
        }
    }

    /// Fixed last day; null for a relative range.
    async fn to(&self) -> Option<Date> {
        match self.0.range {
            PanelRange::Between(r) => Some(r.to().into()),
            PanelRange::Last(_) => None,
        }
    }

    /// For a relative range: how many periods back from the day the dashboard is read.
    async fn last_periods(&self) -> Option<i32> {
        match self.0.range {
            PanelRange::Last(n) => Some(i32::try_from(n).unwrap_or(i32::MAX)),
            PanelRange::Between(_) => None,
        }
    }

    /// Bucket size.
    async fn granularity(&self) -> Granularity {
        self.0.granularity.into()
    }

    /// How to draw it.
    async fn chart(&self) -> ChartHint {
        self.0.chart.into()
    }
}

/// One panel's data.
#[derive(SimpleObject)]
pub struct PanelData {
    /// Position of the panel on the dashboard, from 0.
    pub index: i32,
    /// The panel's heading.
    pub title: String,
    /// First day covered.
    pub from: Date,
    /// Last day covered.
    pub to: Date,
    /// Bucket size.
    pub granularity: Granularity,
    /// How to draw it.
    pub chart: ChartHint,
    /// Values by bucket, then segment, then stage; buckets without data are absent, buckets
    /// whose value cannot be computed carry a reason.
    pub points: Vec<ValuePoint>,
}

connection!(
    DashboardConnection,
    DashboardEdge,
    DashboardObject,
    "A page of dashboards.",
    "A dashboard in a page."
);

/// One panel to save.
#[derive(InputObject)]
pub struct PanelInput {
    /// Heading.
    pub title: String,
    /// A glossary metric to show (plain or formula); give this or `formula`.
    pub metric_key: Option<String>,
    /// An ad-hoc formula over glossary metric keys; give this or `metricKey`.
    pub formula: Option<String>,
    /// One series per segment.
    #[graphql(default)]
    pub by_segment: bool,
    /// One series per journey stage.
    #[graphql(default)]
    pub by_stage: bool,
    /// Fixed first day (with `to`); or give `lastPeriods`.
    pub from: Option<Date>,
    /// Fixed last day (with `from`).
    pub to: Option<Date>,
    /// Relative range: the last N periods up to the day the dashboard is read.
    pub last_periods: Option<i32>,
    /// Bucket size.
    pub granularity: Granularity,
    /// How to draw it.
    #[graphql(default_with = "ChartHint::Line")]
    pub chart: ChartHint,
}

/// A dashboard to save: a new one, or a new content for an existing one.
#[derive(InputObject)]
pub struct SaveDashboardInput {
    /// The dashboard to change; a new one is created when omitted.
    pub id: Option<ID>,
    /// Name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Who may read it.
    #[graphql(default_with = "Visibility::Private")]
    pub visibility: Visibility,
    /// Panels, in order.
    pub panels: Vec<PanelInput>,
    /// The version you last read; the save is refused if it changed since.
    pub expected_version: Option<i32>,
}

/// The result of saving a dashboard.
#[derive(SimpleObject)]
pub struct SaveDashboardPayload {
    /// The dashboard as saved.
    pub dashboard: DashboardObject,
}

/// A dashboard to delete.
#[derive(InputObject)]
pub struct DeleteDashboardInput {
    /// The dashboard.
    pub id: ID,
}

/// The result of deleting a dashboard.
#[derive(SimpleObject)]
pub struct DeleteDashboardPayload {
    /// Global id of the deleted dashboard.
    pub deleted_id: ID,
}

/// The dashboards a caller may read: administrators all of them, others the shared ones and
/// their own.
fn reader(s: &Session) -> Option<&str> {
    if s.caller.roles.contains(&AccessRole::Admin) {
        None
    } else {
        Some(s.caller.subject.as_str())
    }
}

/// Dashboard queries.
#[derive(Default)]
pub struct DashboardQuery;

#[Object]
impl DashboardQuery {
    /// Dashboards you may read (shared ones and your own), by name.
    async fn dashboards(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<DashboardConnection> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, last, before)
            .page(lim.max_page_size, lim.default_page_size)?;
        let slice = s
            .tenant
            .dashboards(reader(s), page)
            .await
            .map_err(ApiError::from)?;
        Ok(DashboardConnection::from_slice(slice, DashboardObject))
    }

    /// One dashboard; null when it does not exist or you may not read it.
    async fn dashboard(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<DashboardObject>> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let id = expect_global_id(&id, "Dashboard", "id")?;
        load_dashboard(s, id).await.map_err(Into::into)
    }
}

/// A dashboard the caller may read.
pub(crate) async fn load_dashboard(
    s: &Session,
    id: uuid::Uuid,
) -> Result<Option<DashboardObject>, ApiError> {
    Ok(s.tenant
        .dashboard(id, reader(s))
        .await
        .map_err(ApiError::from)?
        .map(DashboardObject))
}

/// NOT_FOUND for a dashboard the caller may not read, so a private dashboard's existence is
/// not revealed to those who may not see it.
async fn ensure_readable(s: &Session, id: uuid::Uuid) -> Result<(), ApiError> {
    match load_dashboard(s, id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::NotFound(format!(
            "Dashboard `{id}` was not found"
        ))),
    }
}

/// Turns panel inputs into panels, listing every problem with its field.
async fn parse_content(
    s: &Session,
    input: &SaveDashboardInput,
) -> Result<DashboardContent, ApiError> {
    let mut problems: Vec<Problem> = Vec::new();
    let mut panels = Vec::with_capacity(input.panels.len());
    // The input position of each parsed panel: a panel that fails to parse is left out, so
    // later checks must name panels by these positions, not by their place in `panels`.
    let mut positions = Vec::with_capacity(input.panels.len());
    let mut referenced: BTreeSet<MetricKey> = BTreeSet::new();
    for (i, p) in input.panels.iter().enumerate() {
        let at = |field: &str, message: String| {
            Problem::new(format!("input.panels.{i}.{field}"), message)
        };
        let source = match (&p.metric_key, &p.formula) {
            (Some(k), None) => MetricKey::parse(k)
                .map(PanelSource::Metric)
                .map_err(|e| at("metricKey", e.message)),
            (None, Some(f)) => Formula::parse(f)
                .map(PanelSource::Formula)
                .map_err(|e| at("formula", e.to_string())),
            _ => Err(at(
                "metricKey",
                "give either `metricKey` or `formula`".to_owned(),
            )),
        };
        let range = match (&p.from, &p.to, p.last_periods) {
            (Some(from), Some(to), None) => from
                .checked()
                .map_err(|m| at("from", m))
                .and_then(|f| to.checked().map_err(|m| at("to", m)).map(|t| (f, t)))
                .and_then(|(f, t)| DateRange::new(f, t).map_err(|e| at("to", e.message)))
                .map(PanelRange::Between),
            (None, None, Some(n)) => Ok(PanelRange::Last(u32::try_from(n).unwrap_or(0))),
            _ => Err(at(
                "lastPeriods",
                "give either `from` and `to`, or `lastPeriods`".to_owned(),
            )),
        };
        match (source, range) {
            (Ok(source), Ok(range)) => {
                referenced.extend(source.references());
                positions.push(i);
                panels.push(Panel {
                    title: p.title.clone(),
                    source,
                    breakdown: Breakdown {
                        by_segment: p.by_segment,
                        by_stage: p.by_stage,
                    },
                    range,
                    granularity: p.granularity.into(),
                    chart: p.chart.into(),
                });
            }
            (a, b) => {
                problems.extend(a.err());
                problems.extend(b.err());
            }
        }
    }
    let name = match rules::check_dashboard(&input.name, &panels) {
        Ok(name) => name,
        Err(found) => {
            problems.extend(found.into_iter().map(|(field, e)| {
                Problem::new(
                    format!("input.{}", input_position(&field, &positions)),
                    e.message,
                )
            }));
            String::new()
        }
    };
    let known = s
        .tenant
        .metrics_by_keys(&referenced.iter().cloned().collect::<Vec<_>>())
        .await
        .map_err(ApiError::from)?;
    for (p, i) in panels.iter().zip(&positions) {
        for key in p.source.references() {
            if !known.contains_key(&key) {
                let field = match p.source {
                    PanelSource::Metric(_) => "metricKey",
                    PanelSource::Formula(_) => "formula",
                };
                problems.push(Problem::new(
                    format!("input.panels.{i}.{field}"),
                    format!("no metric with key `{key}`"),
                ));
            }
        }
    }
    let description = input
        .description
        .as_deref()
        .map(|d| parse_text(d, 2000, false))
        .transpose()
        .unwrap_or_else(|e| {
            problems.push(Problem::new("input.description", e.message));
            None
        })
        .filter(|d| !d.is_empty());
    if !problems.is_empty() {
        return Err(ApiError::BadUserInput(problems));
    }
    Ok(DashboardContent {
        name,
        description,
        visibility: input.visibility.into(),
        panels,
    })
}

/// Rewrites a problem path `panels.<j>.<field>` naming the `j`-th parsed panel to name its
/// position in the input instead; other paths are returned as they are.
fn input_position(field: &str, positions: &[usize]) -> String {
    let Some(rest) = field.strip_prefix("panels.") else {
        return field.to_owned();
    };
    let (index, tail) = rest.split_once('.').unwrap_or((rest, ""));
    match index.parse::<usize>().ok().and_then(|j| positions.get(j)) {
        Some(i) if tail.is_empty() => format!("panels.{i}"),
        Some(i) => format!("panels.{i}.{tail}"),
        None => field.to_owned(),
    }
}

/// Dashboard changes (admin, revops).
#[derive(Default)]
pub struct DashboardMutation;

#[Object]
impl DashboardMutation {
    /// Saves a dashboard: creates it, or replaces the content of the one with `id` (its owner
    /// or an administrator only). Every panel is checked; any problem refuses the save.
    async fn save_dashboard(
        &self,
        ctx: &Context<'_>,
        input: SaveDashboardInput,
    ) -> ApiResult<SaveDashboardPayload> {
        let s = authorized(ctx, Permission::ManageDashboards)?;
        let content = parse_content(s, &input).await?;
        let actor = Actor(s.caller.subject.clone());
        let admin = s.caller.roles.contains(&AccessRole::Admin);
        let subject = s.caller.subject.clone();
        let dashboard = match &input.id {
            None => s
                .tenant
                .create_dashboard(&actor, &subject, &content)
                .await
                .map_err(ApiError::from)?,
            Some(id) => {
                let id = expect_global_id(id, "Dashboard", "input.id")?;
                ensure_readable(s, id).await?;
                s.tenant
                    .update_dashboard(&actor, id, &content, input.expected_version, |d| {
                        admin || d.owner_subject == subject
                    })
                    .await
                    .map_err(ApiError::from)?
            }
        };
        Ok(SaveDashboardPayload {
            dashboard: DashboardObject(dashboard),
        })
    }

    /// Deletes a dashboard (its owner or an administrator only).
    async fn delete_dashboard(
        &self,
        ctx: &Context<'_>,
        input: DeleteDashboardInput,
    ) -> ApiResult<DeleteDashboardPayload> {
        let s = authorized(ctx, Permission::ManageDashboards)?;
        let id = expect_global_id(&input.id, "Dashboard", "input.id")?;
        ensure_readable(s, id).await?;
        let admin = s.caller.roles.contains(&AccessRole::Admin);
        let subject = s.caller.subject.clone();
        let deleted = s
            .tenant
            .delete_dashboard(&Actor(subject.clone()), id, |d| {
                admin || d.owner_subject == subject
            })
            .await
            .map_err(ApiError::from)?;
        Ok(DeleteDashboardPayload {
            deleted_id: global_id("Dashboard", deleted.id),
        })
    }
}
