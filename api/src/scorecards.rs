//! Balanced scorecards over GraphQL: definition, evaluation for a period, balance, and the
//! organization's share of roles with balanced KPIs.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use tandem_domain::access::Permission;
use tandem_domain::metrics::{Perspective as DomainPerspective, parse_text};
use tandem_domain::periods::Period;
use tandem_domain::rollup::value_for_period;
use tandem_domain::scorecards::{
    self as rules, DEFAULT_AMBER_SCORE, DEFAULT_GREEN_SCORE, ItemSpec,
    OwnerKind as DomainOwnerKind, Rag, Thresholds,
};
use tandem_persistence::{Actor, NewScorecard, Owner, Scorecard, ScorecardItem, ScorecardPatch};
use uuid::Uuid;

use crate::dimensions::SegmentObject;
use crate::error::{ApiError, ApiResult};
use crate::graphql::enums::{Granularity, Perspective};
use crate::graphql::loaders::loader_error;
use crate::graphql::relay::{PageArgs, connection, expect_global_id, global_id};
use crate::graphql::scalars::{Date, DateTime, Decimal};
use crate::graphql::{Session, authorized, limits, selects, session};
use crate::metrics::MetricObject;
use crate::people::{Collector, JobRoleObject, KpiItemInput, TeamObject, parse_items};

/// Most items one scorecard may hold.
const MAX_ITEMS: usize = 100;

/// Red / amber / green.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum RagStatus {
    /// On track.
    Green,
    /// At risk.
    Amber,
    /// Off track.
    Red,
}

impl From<Rag> for RagStatus {
    fn from(r: Rag) -> Self {
        match r {
            Rag::Green => RagStatus::Green,
            Rag::Amber => RagStatus::Amber,
            Rag::Red => RagStatus::Red,
        }
    }
}

/// Who a scorecard belongs to.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ScorecardOwnerKind {
    /// A job role: its KPI assignment, carried by everyone in the role.
    Role,
    /// A team.
    Team,
    /// The whole company.
    Company,
}

impl From<DomainOwnerKind> for ScorecardOwnerKind {
    fn from(k: DomainOwnerKind) -> Self {
        match k {
            DomainOwnerKind::Role => ScorecardOwnerKind::Role,
            DomainOwnerKind::Team => ScorecardOwnerKind::Team,
            DomainOwnerKind::Company => ScorecardOwnerKind::Company,
        }
    }
}

impl From<ScorecardOwnerKind> for DomainOwnerKind {
    fn from(k: ScorecardOwnerKind) -> Self {
        match k {
            ScorecardOwnerKind::Role => DomainOwnerKind::Role,
            ScorecardOwnerKind::Team => DomainOwnerKind::Team,
            ScorecardOwnerKind::Company => DomainOwnerKind::Company,
        }
    }
}

/// A balanced scorecard: weighted KPIs with targets and thresholds, owned by a role, a team or
/// the company.
#[derive(Clone)]
pub struct ScorecardObject(pub Scorecard);

async fn items_of(s: &Session, id: Uuid) -> Result<Vec<ScorecardItem>, ApiError> {
    Ok(s.loaders
        .items
        .load_one(id)
        .await
        .map_err(loader_error)?
        .unwrap_or_default())
}

/// A balanced scorecard: weighted KPIs with targets and thresholds, owned by a role, a team or
/// the company.
#[Object(name = "Scorecard")]
impl ScorecardObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id("Scorecard", self.0.id)
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Kind of owner.
    async fn owner_kind(&self) -> ScorecardOwnerKind {
        self.0.owner.kind().into()
    }

    /// The owning job role, for role scorecards.
    async fn role(&self, ctx: &Context<'_>) -> ApiResult<Option<JobRoleObject>> {
        let Owner::Role(id) = self.0.owner else {
            return Ok(None);
        };
        let s = session(ctx)?;
        Ok(s.loaders
            .job_roles
            .load_one(id)
            .await
            .map_err(loader_error)?
            .map(JobRoleObject))
    }

    /// The owning team, for team scorecards.
    async fn team(&self, ctx: &Context<'_>) -> ApiResult<Option<TeamObject>> {
        let Owner::Team(id) = self.0.owner else {
            return Ok(None);
        };
        let s = session(ctx)?;
        Ok(s.loaders
            .teams
            .load_one(id)
            .await
            .map_err(loader_error)?
            .map(TeamObject))
    }

    /// Score at or above which the scorecard is GREEN (default 0.95).
    async fn green_score(&self) -> Decimal {
        self.0.green_score.into()
    }

    /// Score at or above which the scorecard is AMBER (default 0.8); RED below.
    async fn amber_score(&self) -> Decimal {
        self.0.amber_score.into()
    }

    /// The KPIs, in display order.
    async fn items(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<ScorecardItemConnection> {
        let s = session(ctx)?;
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, last, before)
            .page(lim.max_page_size, lim.default_page_size)?;
        let items = items_of(s, self.0.id).await?;
        Ok(ScorecardItemConnection::from_slice(
            page.slice(items),
            ScorecardItemObject,
        ))
    }

    /// Whether the scorecard balances financial and customer KPIs, and why not.
    async fn balance(&self, ctx: &Context<'_>) -> ApiResult<ScorecardBalance> {
        let s = session(ctx)?;
        let settings = s.tenant.settings().await.map_err(ApiError::from)?;
        let items = items_of(s, self.0.id).await?;
        Ok(judge_balance(s, &items, settings.max_perspective_share).await?)
    }

    /// The scorecard's result for one period: each item's actual value (rolled up from
    /// observations by the metric's aggregation), attainment, score and status, and the
    /// weighted total. Items without a value are left out of the score and reported.
    async fn evaluation(
        &self,
        ctx: &Context<'_>,
        period_start: Date,
        granularity: Granularity,
    ) -> ApiResult<ScorecardEvaluation> {
        let s = session(ctx)?;
        let start = period_start.at("periodStart")?;
        let period = Period::new(start, granularity.into())
            .map_err(|e| ApiError::bad_input("periodStart", e.message))?;
        Ok(evaluate(s, &self.0, period).await?)
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// When it last changed.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }
}

async fn evaluate(
    s: &Session,
    card: &Scorecard,
    period: Period,
) -> Result<ScorecardEvaluation, ApiError> {
    let items = items_of(s, card.id).await?;
    let metrics = s
        .loaders
        .metrics_many(items.iter().map(|i| i.metric_id))
        .await?;
    let facts = s
        .loaders
        .facts
        .load_many(items.iter().map(|i| (i.metric_id, period)))
        .await
        .map_err(loader_error)?;
    let specs = item_specs(&items, &metrics, period, |metric| {
        facts
            .get(&(metric, period))
            .map(Vec::as_slice)
            .unwrap_or_default()
    })?;
    let result = rules::evaluate(&specs, card.green_score, card.amber_score);
    Ok(ScorecardEvaluation {
        period,
        score: result.score,
        status: result.status.map(Into::into),
        items_without_data: i32::try_from(result.items_without_data).unwrap_or(i32::MAX),
        items: items
            .into_iter()
            .zip(specs)
            .zip(result.items)
            .map(|((item, spec), r)| ItemEvaluation {
                actual: spec.actual,
                attainment: r.attainment,
                score: r.score,
                status: r.status.map(Into::into),
                effective_weight: r.effective_weight,
                item,
            })
            .collect(),
    })
}

/// Each item's direction, weight, target, thresholds and actual value for `period`, from the
/// recorded values `facts_of` gives for a metric (at least those inside the period).
pub(crate) fn item_specs<'f>(
    items: &[ScorecardItem],
    metrics: &std::collections::HashMap<Uuid, tandem_persistence::Metric>,
    period: Period,
    facts_of: impl Fn(Uuid) -> &'f [tandem_domain::rollup::Fact<Uuid>],
) -> Result<Vec<ItemSpec>, ApiError> {
    let mut specs = Vec::with_capacity(items.len());
    for item in items {
        let metric = metrics
            .get(&item.metric_id)
            .ok_or_else(|| ApiError::Internal(format!("item {} has no metric", item.id)))?;
        let direction = metric.definition.direction;
        let actual = value_for_period(
            facts_of(item.metric_id),
            metric.definition.aggregation,
            period,
            item.segment_id.as_ref(),
        )
        .map_err(|e| ApiError::Conflict(e.to_string()))?;
        let thresholds = Thresholds::parse(direction, item.green, item.amber)
            .map_err(|e| ApiError::Internal(format!("stored thresholds: {}", e.message)))?;
        specs.push(ItemSpec {
            direction,
            weight: item.weight,
            target: item.target,
            thresholds,
            actual,
        });
    }
    Ok(specs)
}

async fn judge_balance(
    s: &Session,
    items: &[ScorecardItem],
    max_share: rust_decimal::Decimal,
) -> Result<ScorecardBalance, ApiError> {
    let metrics = s
        .loaders
        .metrics_many(items.iter().map(|i| i.metric_id))
        .await?;
    let weighted: Vec<(DomainPerspective, rust_decimal::Decimal)> = items
        .iter()
        .filter_map(|i| {
            metrics
                .get(&i.metric_id)
                .map(|m| (m.definition.perspective, i.weight))
        })
        .collect();
    let b = rules::balance(&weighted, max_share);
    Ok(ScorecardBalance {
        balanced: b.balanced,
        reasons: b.reasons,
        max_perspective_share: max_share.into(),
        perspective_shares: b
            .shares
            .into_iter()
            .map(|(p, share)| PerspectiveShare {
                perspective: p.into(),
                share: share.into(),
            })
            .collect(),
    })
}

/// One KPI of a scorecard.
#[derive(Clone)]
pub struct ScorecardItemObject(pub ScorecardItem);

/// One KPI of a scorecard: a metric with a weight, a target and RAG thresholds.
#[Object(name = "ScorecardItem")]
impl ScorecardItemObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id("ScorecardItem", self.0.id)
    }

    /// The metric measured.
    async fn metric(&self, ctx: &Context<'_>) -> ApiResult<MetricObject> {
        let s = session(ctx)?;
        s.loaders
            .metric(self.0.metric_id)
            .await?
            .map(MetricObject)
            .ok_or_else(|| ApiError::Internal(format!("item {} has no metric", self.0.id)).into())
    }

    /// Only this segment's values count; null for the organization total.
    async fn segment(&self, ctx: &Context<'_>) -> ApiResult<Option<SegmentObject>> {
        let Some(id) = self.0.segment_id else {
            return Ok(None);
        };
        Ok(session(ctx)?.loaders.segment(id).await?.map(SegmentObject))
    }

    /// Relative weight; weights are normalised over the items that have a value.
    async fn weight(&self) -> Decimal {
        self.0.weight.into()
    }

    /// Target value, in the metric's unit.
    async fn target(&self) -> Decimal {
        self.0.target.into()
    }

    /// GREEN at or beyond this value (above it when higher is better, below when lower is).
    async fn green(&self) -> Decimal {
        self.0.green.into()
    }

    /// AMBER at or beyond this value; RED past it.
    async fn amber(&self) -> Decimal {
        self.0.amber.into()
    }

    /// Display order, from 1.
    async fn position(&self) -> i32 {
        self.0.position
    }
}

connection!(
    ScorecardConnection,
    ScorecardEdge,
    ScorecardObject,
    "A page of scorecards.",
    "A scorecard with its cursor."
);
connection!(
    ScorecardItemConnection,
    ScorecardItemEdge,
    ScorecardItemObject,
    "A page of scorecard items.",
    "A scorecard item with its cursor."
);

/// A scorecard's result for one period.
pub struct ScorecardEvaluation {
    period: Period,
    score: Option<rust_decimal::Decimal>,
    status: Option<RagStatus>,
    items_without_data: i32,
    items: Vec<ItemEvaluation>,
}

/// A scorecard's result for one period.
#[Object]
impl ScorecardEvaluation {
    /// First day of the period.
    async fn period_start(&self) -> Date {
        self.period.start().into()
    }

    /// Last day of the period.
    async fn period_end(&self) -> Date {
        self.period.end().into()
    }

    /// Length of the period.
    async fn granularity(&self) -> Granularity {
        self.period.granularity().into()
    }

    /// Weighted mean of the item scores that have a value (1 = on target); null when no item
    /// has a value.
    async fn score(&self) -> Option<Decimal> {
        self.score.map(Into::into)
    }

    /// Status from the score and the scorecard's thresholds; null when there is no score.
    async fn status(&self) -> Option<RagStatus> {
        self.status
    }

    /// How many items had no value for the period and were left out of the score.
    async fn items_without_data(&self) -> i32 {
        self.items_without_data
    }

    /// Each item's result, in display order.
    async fn items(&self) -> &[ItemEvaluation] {
        &self.items
    }
}

/// One item's result for a period.
pub struct ItemEvaluation {
    item: ScorecardItem,
    actual: Option<rust_decimal::Decimal>,
    attainment: Option<rust_decimal::Decimal>,
    score: Option<rust_decimal::Decimal>,
    status: Option<RagStatus>,
    effective_weight: rust_decimal::Decimal,
}

/// One item's result for a period.
#[Object]
impl ItemEvaluation {
    /// The item.
    async fn item(&self) -> ScorecardItemObject {
        ScorecardItemObject(self.item.clone())
    }

    /// Whether a value was recorded for the period.
    async fn has_data(&self) -> bool {
        self.actual.is_some()
    }

    /// The actual value, rolled up by the metric's aggregation; null without data.
    async fn actual(&self) -> Option<Decimal> {
        self.actual.map(Into::into)
    }

    /// How far the actual is towards its target (1 = on target), direction-aware.
    async fn attainment(&self) -> Option<Decimal> {
        self.attainment.map(Into::into)
    }

    /// The attainment clamped to [0, 1.5].
    async fn score(&self) -> Option<Decimal> {
        self.score.map(Into::into)
    }

    /// The item's status from its thresholds.
    async fn status(&self) -> Option<RagStatus> {
        self.status
    }

    /// The item's share of the weight that counted this period (0 without data).
    async fn effective_weight(&self) -> Decimal {
        self.effective_weight.into()
    }
}

/// One perspective's share of a scorecard's weight.
#[derive(SimpleObject)]
pub struct PerspectiveShare {
    /// The perspective.
    pub perspective: Perspective,
    /// Its share of the total weight (0.4 = 40%): exact Decimal division, up to 28
    /// significant digits, never rounded (1 of 3 is "0.3333333333333333333333333333"); this
    /// exact value is what is compared with the maximum share.
    pub share: Decimal,
}

/// Whether a scorecard is balanced, and why not.
#[derive(SimpleObject)]
pub struct ScorecardBalance {
    /// At least one FINANCIAL and one CUSTOMER item, and no perspective above the maximum share.
    pub balanced: bool,
    /// Why it is not balanced; empty when it is.
    pub reasons: Vec<String>,
    /// The organization's maximum share of weight for one perspective.
    pub max_perspective_share: Decimal,
    /// Each perspective's share of the weight.
    pub perspective_shares: Vec<PerspectiveShare>,
}

/// A role whose KPIs are not balanced, and why.
#[derive(SimpleObject, Clone)]
pub struct UnbalancedRole {
    /// The role.
    pub role: JobRoleObject,
    /// Why not; `no KPI assignment` when the role has no scorecard.
    pub reasons: Vec<String>,
}

connection!(
    UnbalancedRoleConnection,
    UnbalancedRoleEdge,
    UnbalancedRole,
    "A page of roles whose KPIs are not balanced.",
    "An unbalanced role with its cursor."
);

/// "% of roles with balanced KPIs": the organization's figure and the roles behind it.
pub struct RoleBalanceReport {
    role_count: usize,
    unbalanced: Vec<UnbalancedRole>,
}

impl RoleBalanceReport {
    /// Active roles counted.
    pub(crate) fn roles(&self) -> usize {
        self.role_count
    }

    /// Roles whose KPI assignment is balanced.
    pub(crate) fn balanced(&self) -> usize {
        self.role_count - self.unbalanced.len()
    }
}

/// "% of roles with balanced KPIs": the organization's figure and the roles behind it.
#[Object]
impl RoleBalanceReport {
    /// Active job roles counted.
    async fn role_count(&self) -> i32 {
        i32::try_from(self.role_count).unwrap_or(i32::MAX)
    }

    /// Roles whose KPI assignment is balanced.
    async fn balanced_count(&self) -> i32 {
        i32::try_from(self.role_count - self.unbalanced.len()).unwrap_or(i32::MAX)
    }

    /// Share of roles with balanced KPIs (0.75 = 75%); null when there are no roles. Exact
    /// Decimal division, up to 28 significant digits, as retention ratios (1 of 3 is
    /// "0.3333333333333333333333333333"); round it for display.
    async fn balanced_share(&self) -> Option<Decimal> {
        rules::balanced_share(self.role_count - self.unbalanced.len(), self.role_count)
            .map(Into::into)
    }

    /// The roles that are not balanced, by key, with the reasons.
    async fn unbalanced_roles(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<UnbalancedRoleConnection> {
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, last, before)
            .page(lim.max_page_size, lim.default_page_size)?;
        Ok(UnbalancedRoleConnection::from_slice(
            page.slice(self.unbalanced.clone()),
            |r| r,
        ))
    }
}

/// Judges every active job role's KPI assignment: the figure behind "% of roles with balanced
/// KPIs", used by `roleBalance` and by the maturity view.
pub(crate) async fn role_balance_report(s: &Session) -> Result<RoleBalanceReport, ApiError> {
    let settings = s.tenant.settings().await.map_err(ApiError::from)?;
    let roles: Vec<_> = s
        .tenant
        .all_job_roles()
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .filter(|r| r.active)
        .collect();
    let ids: Vec<Uuid> = roles.iter().map(|r| r.id).collect();
    let cards = s
        .tenant
        .scorecards_of_roles(&ids)
        .await
        .map_err(ApiError::from)?;
    let card_ids: Vec<Uuid> = cards.values().map(|c| c.id).collect();
    let items = s
        .loaders
        .items
        .load_many(card_ids)
        .await
        .map_err(loader_error)?;
    s.loaders
        .metrics_many(items.values().flatten().map(|i| i.metric_id))
        .await?;
    let mut unbalanced = Vec::new();
    for role in &roles {
        let reasons = match cards.get(&role.id) {
            None => vec!["no KPI assignment".to_owned()],
            Some(card) => {
                let list = items.get(&card.id).cloned().unwrap_or_default();
                judge_balance(s, &list, settings.max_perspective_share)
                    .await?
                    .reasons
            }
        };
        if !reasons.is_empty() {
            unbalanced.push(UnbalancedRole {
                role: JobRoleObject(role.clone()),
                reasons,
            });
        }
    }
    Ok(RoleBalanceReport {
        role_count: roles.len(),
        unbalanced,
    })
}

/// Organization-wide settings.
#[derive(SimpleObject)]
pub struct OrganizationSettings {
    /// Largest share of weight one perspective may hold in a balanced scorecard (0.7 = 70%).
    pub max_perspective_share: Decimal,
    /// Whether a FINANCIAL goal needs a link to at least one CUSTOMER goal before it can become
    /// ACTIVE (on by default).
    pub require_customer_link: bool,
}

impl From<tandem_persistence::OrgSettings> for OrganizationSettings {
    fn from(s: tandem_persistence::OrgSettings) -> Self {
        Self {
            max_perspective_share: s.max_perspective_share.into(),
            require_customer_link: s.require_customer_link,
        }
    }
}

/// Scorecard queries.
#[derive(Default)]
pub struct ScorecardQuery;

#[Object]
impl ScorecardQuery {
    /// Scorecards, by name.
    async fn scorecards(
        &self,
        ctx: &Context<'_>,
        owner_kind: Option<ScorecardOwnerKind>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<ScorecardConnection> {
        let s = authorized(ctx, Permission::ReadPeople)?;
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, last, before)
            .page(lim.max_page_size, lim.default_page_size)?;
        let slice = s
            .tenant
            .scorecards(owner_kind.map(Into::into), page)
            .await
            .map_err(ApiError::from)?;
        if selects(ctx, &["items"]) || selects(ctx, &["evaluation"]) || selects(ctx, &["balance"]) {
            let items = s
                .loaders
                .items
                .load_many(slice.items.iter().map(|c| c.id))
                .await
                .map_err(loader_error)?;
            s.loaders
                .metrics_many(items.values().flatten().map(|i| i.metric_id))
                .await?;
        }
        Ok(ScorecardConnection::from_slice(slice, ScorecardObject))
    }

    /// "% of roles with balanced KPIs" over the active job roles, with the unbalanced roles.
    async fn role_balance(&self, ctx: &Context<'_>) -> ApiResult<RoleBalanceReport> {
        let s = authorized(ctx, Permission::ReadPeople)?;
        Ok(role_balance_report(s).await?)
    }

    /// The organization's settings.
    async fn organization_settings(&self, ctx: &Context<'_>) -> ApiResult<OrganizationSettings> {
        let s = authorized(ctx, Permission::ReadPeople)?;
        let settings = s.tenant.settings().await.map_err(ApiError::from)?;
        Ok(settings.into())
    }
}

/// A team or company scorecard to define (role scorecards come from `assignRoleKpis` or the
/// HR sync, but may be defined here too).
#[derive(InputObject)]
pub struct DefineScorecardInput {
    /// Display name.
    pub name: String,
    /// Kind of owner.
    pub owner_kind: ScorecardOwnerKind,
    /// The owning role's key, for ROLE scorecards.
    pub role_key: Option<String>,
    /// The owning team's HR id, for TEAM scorecards.
    pub team_external_id: Option<String>,
    /// Score at or above which the scorecard is GREEN (default 0.95).
    pub green_score: Option<Decimal>,
    /// Score at or above which the scorecard is AMBER (default 0.8).
    pub amber_score: Option<Decimal>,
    /// The KPIs, in display order (at most 100).
    pub items: Vec<KpiItemInput>,
}

/// Changes to a scorecard; omitted fields stay; `items` replaces all items.
#[derive(InputObject)]
pub struct UpdateScorecardInput {
    /// The scorecard.
    pub id: ID,
    /// New name.
    pub name: Option<String>,
    /// New green score threshold.
    pub green_score: Option<Decimal>,
    /// New amber score threshold.
    pub amber_score: Option<Decimal>,
    /// New items (replace the current ones).
    pub items: Option<Vec<KpiItemInput>>,
}

/// New organization settings; omitted settings stay as they are.
#[derive(InputObject)]
pub struct UpdateOrganizationSettingsInput {
    /// Largest share of weight one perspective may hold (more than 0, at most 1).
    pub max_perspective_share: Option<Decimal>,
    /// Whether a FINANCIAL goal needs a CUSTOMER link before it becomes ACTIVE.
    pub require_customer_link: Option<bool>,
}

/// The scorecard after a change.
#[derive(SimpleObject)]
pub struct ScorecardPayload {
    /// The scorecard as it now stands.
    pub scorecard: ScorecardObject,
}

/// The settings after a change.
#[derive(SimpleObject)]
pub struct OrganizationSettingsPayload {
    /// The settings as they now stand.
    pub settings: OrganizationSettings,
}

fn score_thresholds(
    green: Option<&Decimal>,
    amber: Option<&Decimal>,
    current: (rust_decimal::Decimal, rust_decimal::Decimal),
) -> Result<(rust_decimal::Decimal, rust_decimal::Decimal), ApiError> {
    let read = |v: Option<&Decimal>, field: &str, default| match v {
        None => Ok(default),
        Some(d) => d.checked().map_err(|m| ApiError::bad_input(field, m)),
    };
    let green = read(green, "input.greenScore", current.0)?;
    let amber = read(amber, "input.amberScore", current.1)?;
    rules::parse_score_thresholds(green, amber)
        .map_err(|e| ApiError::bad_input("input.greenScore", e.message))
}

fn parse_item_list(items: &[KpiItemInput]) -> Result<Vec<tandem_persistence::NewItem>, ApiError> {
    if items.len() > MAX_ITEMS {
        return Err(ApiError::bad_input(
            "input.items",
            format!("at most {MAX_ITEMS} items"),
        ));
    }
    let mut c = Collector::default();
    let parsed = parse_items(&mut c, "input.items", items);
    c.finish()?;
    Ok(parsed)
}

/// Scorecard changes: team and company scorecards (admin, executive), role scorecards (admin,
/// hr), settings (admin).
#[derive(Default)]
pub struct ScorecardMutation;

#[Object]
impl ScorecardMutation {
    /// Defines a scorecard with its KPIs.
    async fn define_scorecard(
        &self,
        ctx: &Context<'_>,
        input: DefineScorecardInput,
    ) -> ApiResult<ScorecardPayload> {
        let s = authorized(ctx, Permission::ManageScorecards(input.owner_kind.into()))?;
        let name = parse_text(&input.name, 200, true)
            .map_err(|e| ApiError::bad_input("input.name", e.message))?;
        let owner = match input.owner_kind {
            ScorecardOwnerKind::Company => Owner::Company,
            ScorecardOwnerKind::Role => {
                let key = input.role_key.as_deref().ok_or_else(|| {
                    ApiError::bad_input("input.roleKey", "a ROLE scorecard needs a role key")
                })?;
                let role = s
                    .tenant
                    .job_role_by_key(key)
                    .await
                    .map_err(ApiError::from)?;
                Owner::Role(
                    role.ok_or_else(|| {
                        ApiError::bad_input("input.roleKey", format!("no job role `{key}`"))
                    })?
                    .id,
                )
            }
            ScorecardOwnerKind::Team => {
                let ext = input.team_external_id.as_deref().ok_or_else(|| {
                    ApiError::bad_input("input.teamExternalId", "a TEAM scorecard needs a team")
                })?;
                let team = s
                    .tenant
                    .team_by_external_id(ext)
                    .await
                    .map_err(ApiError::from)?;
                Owner::Team(
                    team.ok_or_else(|| {
                        ApiError::bad_input("input.teamExternalId", format!("no team `{ext}`"))
                    })?
                    .id,
                )
            }
        };
        let (green_score, amber_score) = score_thresholds(
            input.green_score.as_ref(),
            input.amber_score.as_ref(),
            (DEFAULT_GREEN_SCORE, DEFAULT_AMBER_SCORE),
        )?;
        let items = parse_item_list(&input.items)?;
        let new = NewScorecard {
            name,
            owner,
            green_score,
            amber_score,
            items,
        };
        let card = s
            .tenant
            .define_scorecard(&Actor(s.caller.subject.clone()), new)
            .await
            .map_err(prefix_input)?;
        Ok(ScorecardPayload {
            scorecard: ScorecardObject(card),
        })
    }

    /// Changes a scorecard's name, score thresholds or items.
    async fn update_scorecard(
        &self,
        ctx: &Context<'_>,
        input: UpdateScorecardInput,
    ) -> ApiResult<ScorecardPayload> {
        let s = authorized(ctx, Permission::ReadPeople)?;
        let id = expect_global_id(&input.id, "Scorecard", "input.id")?;
        let current = s
            .tenant
            .scorecards_by_ids(&[id])
            .await
            .map_err(ApiError::from)?
            .remove(&id)
            .ok_or_else(|| {
                ApiError::NotFound(format!("Scorecard `{}` was not found", input.id.as_str()))
            })?;
        s.caller
            .require(Permission::ManageScorecards(current.owner.kind()))?;
        let name = input
            .name
            .as_deref()
            .map(|n| {
                parse_text(n, 200, true).map_err(|e| ApiError::bad_input("input.name", e.message))
            })
            .transpose()?;
        let thresholds = if input.green_score.is_some() || input.amber_score.is_some() {
            Some(score_thresholds(
                input.green_score.as_ref(),
                input.amber_score.as_ref(),
                (current.green_score, current.amber_score),
            )?)
        } else {
            None
        };
        let items = input.items.as_deref().map(parse_item_list).transpose()?;
        let patch = ScorecardPatch {
            name,
            score_thresholds: thresholds,
            items,
        };
        let card = s
            .tenant
            .update_scorecard(&Actor(s.caller.subject.clone()), id, patch)
            .await
            .map_err(prefix_input)?;
        crate::live::refresh_after_scorecard_change(&s.tenant, card.id).await;
        Ok(ScorecardPayload {
            scorecard: ScorecardObject(card),
        })
    }

    /// Changes organization-wide settings (admin).
    async fn update_organization_settings(
        &self,
        ctx: &Context<'_>,
        input: UpdateOrganizationSettingsInput,
    ) -> ApiResult<OrganizationSettingsPayload> {
        let s = authorized(ctx, Permission::ManageSettings)?;
        let share = input
            .max_perspective_share
            .as_ref()
            .map(|d| {
                d.checked()
                    .map_err(|m| ApiError::bad_input("input.maxPerspectiveShare", m))
            })
            .transpose()?;
        let settings = s
            .tenant
            .update_settings(
                &Actor(s.caller.subject.clone()),
                share,
                input.require_customer_link,
            )
            .await
            .map_err(ApiError::from)?;
        Ok(OrganizationSettingsPayload {
            settings: settings.into(),
        })
    }
}

/// Store problems are relative to the input (`items[2].metricKey`); `ApiError::from` already
/// puts them under `input.`.
fn prefix_input(e: tandem_persistence::StoreError) -> ApiError {
    ApiError::from(e)
}
