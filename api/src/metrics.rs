//! The metric glossary over GraphQL.

use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use tandem_domain::Invalid;
use tandem_domain::access::Permission;
use tandem_domain::metrics::{self as m, MetricDefinition, MetricKey, MetricPatch, parse_text};
use tandem_persistence::{Actor, MAX_SEARCH_CHARS, Metric, MetricFilter, MetricVersion};

use crate::error::{ApiError, ApiResult};
use crate::graphql::enums::{Aggregation, Direction, MetricKind, MetricStatus, Perspective, Unit};
use crate::graphql::relay::{PageArgs, connection, expect_global_id, global_id};
use crate::graphql::scalars::DateTime;
use crate::graphql::{authorized, limits, selects};

/// An entry of the shared metric glossary: what a number means, how it is measured and
/// rolled up, and who owns it.
#[derive(Clone)]
pub struct MetricObject(pub Metric);

/// An entry of the shared metric glossary: what a number means, how it is measured and rolled up, and who owns it.
#[Object(name = "Metric")]
impl MetricObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id("Metric", self.0.id)
    }

    /// Unique key, used by pipelines and formulas (`net_revenue_retention`).
    async fn key(&self) -> &str {
        self.0.definition.key.as_str()
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.definition.name
    }

    /// What the metric means and how it is measured.
    async fn definition(&self) -> &str {
        &self.0.definition.definition
    }

    /// Unit of the metric's values.
    async fn unit(&self) -> Unit {
        self.0.definition.unit.kind().into()
    }

    /// ISO 4217 currency code, for `CURRENCY` metrics.
    async fn currency(&self) -> Option<&'static str> {
        self.0.definition.unit.currency_code()
    }

    /// Which way is good.
    async fn direction(&self) -> Direction {
        self.0.definition.direction.into()
    }

    /// Balanced-scorecard perspective.
    async fn perspective(&self) -> Perspective {
        self.0.definition.perspective.into()
    }

    /// Lever (input) or outcome (output).
    async fn kind(&self) -> MetricKind {
        self.0.definition.kind.into()
    }

    /// How values roll up over time and across segments.
    async fn aggregation(&self) -> Aggregation {
        self.0.definition.aggregation.into()
    }

    /// Team accountable for the definition and its data.
    async fn owner_team(&self) -> Option<&str> {
        self.0.definition.owner_team.as_deref()
    }

    /// Life-cycle status.
    async fn status(&self) -> MetricStatus {
        self.0.status.into()
    }

    /// Formula over other metrics' keys, as text.
    async fn formula(&self) -> Option<&str> {
        self.0.definition.formula.as_deref()
    }

    /// Current version number: 1 when defined, one more on every change.
    async fn version(&self) -> i32 {
        self.0.version
    }

    /// Who defined the metric.
    async fn created_by(&self) -> &str {
        &self.0.created_by
    }

    /// When the metric was defined.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// Who changed the metric last.
    async fn updated_by(&self) -> &str {
        &self.0.updated_by
    }

    /// When the metric last changed.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }

    /// Every version of the definition, oldest first: who changed what, when.
    async fn versions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<MetricVersionConnection> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, last, before)
            .page(lim.max_page_size, lim.default_page_size)?;
        let versions = s.loaders.versions(self.0.id).await?;
        Ok(MetricVersionConnection::from_slice(
            page.slice(versions),
            MetricVersionObject,
        ))
    }
}

/// One version of a metric definition.
#[derive(Clone)]
pub struct MetricVersionObject(MetricVersion);

/// One version of a metric definition: who changed what, when.
#[Object(name = "MetricVersion")]
impl MetricVersionObject {
    /// Version number.
    async fn version(&self) -> i32 {
        self.0.version
    }

    /// What happened: `DEFINED`, `UPDATED`, `APPROVED` or `RETIRED`.
    async fn change(&self) -> &str {
        &self.0.change
    }

    /// Who made the change.
    async fn changed_by(&self) -> &str {
        &self.0.changed_by
    }

    /// When.
    async fn changed_at(&self) -> DateTime {
        DateTime(self.0.changed_at)
    }

    /// The definition before the change; null for the first version.
    async fn before(&self) -> Option<Json<serde_json::Value>> {
        self.0.before.clone().map(Json)
    }

    /// The definition after the change.
    async fn after(&self) -> Option<Json<serde_json::Value>> {
        self.0.after.clone().map(Json)
    }
}

connection!(
    MetricConnection,
    MetricEdge,
    MetricObject,
    "A page of glossary metrics.",
    "A glossary metric with its cursor."
);
connection!(
    MetricVersionConnection,
    MetricVersionEdge,
    MetricVersionObject,
    "A page of metric versions.",
    "A metric version with its cursor."
);

/// Narrows a metric list.
#[derive(InputObject, Default)]
pub struct MetricFilterInput {
    /// Only metrics in this status.
    pub status: Option<MetricStatus>,
    /// Only metrics in this perspective.
    pub perspective: Option<Perspective>,
    /// Only metrics whose key or name contains this text, ignoring case.
    pub search: Option<String>,
}

/// Refuses a `filter.search` text longer than [`MAX_SEARCH_CHARS`] before it reaches the
/// database.
pub(crate) fn check_search(search: Option<&str>) -> Result<(), ApiError> {
    let length = search.map_or(0, |t| t.chars().count());
    if length > MAX_SEARCH_CHARS {
        return Err(ApiError::bad_input(
            "filter.search",
            format!(
                "the search text has {length} characters; at most {MAX_SEARCH_CHARS} are accepted"
            ),
        ));
    }
    Ok(())
}

/// Glossary queries.
#[derive(Default)]
pub struct MetricQuery;

#[Object]
impl MetricQuery {
    /// The glossary, ordered by key.
    async fn metrics(
        &self,
        ctx: &Context<'_>,
        filter: Option<MetricFilterInput>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<MetricConnection> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, last, before)
            .page(lim.max_page_size, lim.default_page_size)?;
        let filter = filter.unwrap_or_default();
        check_search(filter.search.as_deref())?;
        let filter = MetricFilter {
            status: filter.status.map(Into::into),
            perspective: filter.perspective.map(Into::into),
            search: filter.search,
        };
        let slice = s
            .tenant
            .metrics(&filter, page)
            .await
            .map_err(ApiError::from)?;
        if selects(ctx, &["versions"]) {
            s.loaders
                .prime_versions(slice.items.iter().map(|m| m.id))
                .await?;
        }
        Ok(MetricConnection::from_slice(slice, MetricObject))
    }

    /// One metric by key; null when there is none.
    async fn metric(&self, ctx: &Context<'_>, key: String) -> ApiResult<Option<MetricObject>> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let Ok(key) = MetricKey::parse(&key) else {
            return Ok(None);
        };
        Ok(s.tenant
            .metric_by_key(&key)
            .await
            .map_err(ApiError::from)?
            .map(MetricObject))
    }
}

/// A new glossary entry. It starts as a `DRAFT`, version 1.
#[derive(InputObject)]
pub struct DefineMetricInput {
    /// Unique key: lower-case letters, digits and `_`, starting with a letter.
    pub key: String,
    /// Display name.
    pub name: String,
    /// What the metric means and how it is measured.
    pub definition: String,
    /// Unit of its values.
    pub unit: Unit,
    /// ISO 4217 code; required for `CURRENCY`, refused otherwise.
    pub currency: Option<String>,
    /// Which way is good.
    pub direction: Direction,
    /// Balanced-scorecard perspective.
    pub perspective: Perspective,
    /// Lever or outcome.
    pub kind: MetricKind,
    /// How values roll up.
    pub aggregation: Aggregation,
    /// Team accountable for it.
    pub owner_team: Option<String>,
    /// Formula over other metrics' keys, stored as text.
    pub formula: Option<String>,
}

/// Changes to a metric's definition; omitted fields stay as they are, `null` clears
/// `ownerTeam` or `formula`. The key never changes.
#[derive(InputObject)]
pub struct UpdateMetricInput {
    /// The metric.
    pub id: ID,
    /// When given, the change is refused with CONFLICT unless the metric is still at this version.
    pub expected_version: Option<i32>,
    /// New display name.
    pub name: Option<String>,
    /// New definition text.
    pub definition: Option<String>,
    /// New unit (with `currency` for `CURRENCY`).
    pub unit: Option<Unit>,
    /// New currency code, for `CURRENCY` metrics.
    pub currency: Option<String>,
    /// New direction.
    pub direction: Option<Direction>,
    /// New perspective.
    pub perspective: Option<Perspective>,
    /// New kind.
    pub kind: Option<MetricKind>,
    /// New aggregation.
    pub aggregation: Option<Aggregation>,
    /// New owner team; null clears it.
    pub owner_team: MaybeUndefined<String>,
    /// New formula; null clears it.
    pub formula: MaybeUndefined<String>,
}

/// Names a metric for a life-cycle change.
#[derive(InputObject)]
pub struct MetricIdInput {
    /// The metric.
    pub id: ID,
}

/// The metric after a change.
#[derive(SimpleObject)]
pub struct MetricPayload {
    /// The metric as it now stands.
    pub metric: MetricObject,
}

fn at(field: &'static str) -> impl Fn(Invalid) -> ApiError {
    move |e| ApiError::bad_input(format!("input.{field}"), e.message)
}

fn optional_text(
    value: Option<String>,
    max: usize,
    field: &'static str,
) -> Result<Option<String>, ApiError> {
    value
        .map(|v| parse_text(&v, max, false).map_err(at(field)))
        .transpose()
        .map(|v| v.filter(|s| !s.is_empty()))
}

fn definition_from(input: DefineMetricInput) -> Result<MetricDefinition, ApiError> {
    Ok(MetricDefinition {
        key: MetricKey::parse(&input.key).map_err(at("key"))?,
        name: parse_text(&input.name, 200, true).map_err(at("name"))?,
        definition: parse_text(&input.definition, 10_000, true).map_err(at("definition"))?,
        unit: m::Unit::parse(input.unit.into(), input.currency.as_deref())
            .map_err(at("currency"))?,
        direction: input.direction.into(),
        perspective: input.perspective.into(),
        kind: input.kind.into(),
        aggregation: input.aggregation.into(),
        owner_team: optional_text(input.owner_team, 200, "ownerTeam")?,
        formula: optional_text(input.formula, 10_000, "formula")?,
    })
}

fn maybe_text(
    value: MaybeUndefined<String>,
    max: usize,
    field: &'static str,
) -> Result<Option<Option<String>>, ApiError> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Ok(Some(None)),
        MaybeUndefined::Value(v) => Ok(Some(optional_text(Some(v), max, field)?)),
    }
}

fn patch_from(input: &mut UpdateMetricInput) -> Result<MetricPatch, ApiError> {
    let unit = match (input.unit, input.currency.as_deref()) {
        (None, None) => None,
        (Some(kind), currency) => {
            Some(m::Unit::parse(kind.into(), currency).map_err(at("currency"))?)
        }
        (None, Some(code)) => {
            Some(m::Unit::parse(m::UnitKind::Currency, Some(code)).map_err(at("currency"))?)
        }
    };
    Ok(MetricPatch {
        name: input
            .name
            .as_deref()
            .map(|v| parse_text(v, 200, true).map_err(at("name")))
            .transpose()?,
        definition: input
            .definition
            .as_deref()
            .map(|v| parse_text(v, 10_000, true).map_err(at("definition")))
            .transpose()?,
        unit,
        direction: input.direction.map(Into::into),
        perspective: input.perspective.map(Into::into),
        kind: input.kind.map(Into::into),
        aggregation: input.aggregation.map(Into::into),
        owner_team: maybe_text(std::mem::take(&mut input.owner_team), 200, "ownerTeam")?,
        formula: maybe_text(std::mem::take(&mut input.formula), 10_000, "formula")?,
    })
}

/// Glossary changes (admin, revops).
#[derive(Default)]
pub struct MetricMutation;

#[Object]
impl MetricMutation {
    /// Adds a metric to the glossary as a draft.
    async fn define_metric(
        &self,
        ctx: &Context<'_>,
        input: DefineMetricInput,
    ) -> ApiResult<MetricPayload> {
        let s = authorized(ctx, Permission::ManageGlossary)?;
        let definition = definition_from(input)?;
        let actor = Actor(s.caller.subject.clone());
        let metric = s
            .tenant
            .define_metric(&actor, definition)
            .await
            .map_err(ApiError::from)?;
        Ok(MetricPayload {
            metric: MetricObject(metric),
        })
    }

    /// Changes a metric's definition; each change is kept as a new version.
    async fn update_metric(
        &self,
        ctx: &Context<'_>,
        mut input: UpdateMetricInput,
    ) -> ApiResult<MetricPayload> {
        let s = authorized(ctx, Permission::ManageGlossary)?;
        let id = expect_global_id(&input.id, "Metric", "input.id")?;
        let patch = patch_from(&mut input)?;
        let actor = Actor(s.caller.subject.clone());
        let metric = s
            .tenant
            .update_metric(&actor, id, &patch, input.expected_version)
            .await
            .map_err(ApiError::from)?;
        Ok(MetricPayload {
            metric: MetricObject(metric),
        })
    }

    /// Approves a draft metric so scorecards, goals and plans can rely on it.
    async fn approve_metric(
        &self,
        ctx: &Context<'_>,
        input: MetricIdInput,
    ) -> ApiResult<MetricPayload> {
        let s = authorized(ctx, Permission::ManageGlossary)?;
        let id = expect_global_id(&input.id, "Metric", "input.id")?;
        let actor = Actor(s.caller.subject.clone());
        let metric = s
            .tenant
            .approve_metric(&actor, id)
            .await
            .map_err(ApiError::from)?;
        Ok(MetricPayload {
            metric: MetricObject(metric),
        })
    }

    /// Retires a metric: it keeps its history and observations and takes no new ones.
    async fn retire_metric(
        &self,
        ctx: &Context<'_>,
        input: MetricIdInput,
    ) -> ApiResult<MetricPayload> {
        let s = authorized(ctx, Permission::ManageGlossary)?;
        let id = expect_global_id(&input.id, "Metric", "input.id")?;
        let actor = Actor(s.caller.subject.clone());
        let metric = s
            .tenant
            .retire_metric(&actor, id)
            .await
            .map_err(ApiError::from)?;
        Ok(MetricPayload {
            metric: MetricObject(metric),
        })
    }
}
