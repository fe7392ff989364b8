//! Incentive plans over GraphQL: definitions, payout previews, locked statements, totals.
//!
//! Individual pay is visible only to admin, finance and hr, to the person, and to their
//! managers; `bi` sees plans and totals only.

use std::collections::{BTreeMap, HashSet};

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use rust_decimal::Decimal as Dec;
use serde::{Deserialize, Serialize};
use tandem_domain::access::{AccessRole, Permission};
use tandem_domain::incentives::{self as pay, Curve, CurvePoint, Money as DomainMoney};
use tandem_domain::metrics::{MetricKey, Perspective as DomainPerspective, parse_text};
use tandem_domain::people::{ExternalId, RoleKey};
use tandem_domain::periods::{DateRange, Period};
use tandem_domain::rollup::value_for_period;
use tandem_domain::scorecards::attainment;
use tandem_domain::segments::DimensionKey;
use tandem_persistence::{
    Actor, NewComponent, NewGate, NewPlan, Plan, PlanDetails, Problem, Statement,
};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::graphql::enums::Granularity;
use crate::graphql::loaders::loader_error;
use crate::graphql::relay::{PageArgs, connection, expect_global_id, global_id};
use crate::graphql::scalars::{Date, DateTime, Decimal};
use crate::graphql::{Session, authorized, limits, session};
use crate::metrics::MetricObject;
use crate::people::{Collector, JobRoleObject, PersonObject};

/// Smallest group whose pay total callers without individual-pay access may see.
const MIN_AGGREGATE_GROUP: usize = 3;

/// Largest plan target accepted (per person).
const MAX_TARGET: i64 = 1_000_000_000_000;

/// An amount of money in one currency.
#[derive(SimpleObject, Clone)]
pub struct Money {
    /// The amount, exact, written with the currency's minor-unit digits after the point
    /// ("0.00" and "4500.00" in EUR, "1200" in JPY, "7.000" in BHD); an exact line amount with
    /// more significant digits keeps them.
    amount: Decimal,
    /// ISO 4217 currency code.
    currency: String,
}

/// The only way to build a `Money`, so every amount carries its currency's scale.
impl From<DomainMoney> for Money {
    fn from(m: DomainMoney) -> Self {
        let m = m.at_minor_scale();
        Money {
            amount: m.amount.into(),
            currency: m.currency.code().to_owned(),
        }
    }
}

/// A point of a payout curve.
#[derive(SimpleObject, Clone)]
pub struct CurvePointView {
    /// Attainment (1 = on target).
    pub attainment: Decimal,
    /// Payout as a share of the component's target amount (1 = 100%).
    pub payout: Decimal,
}

/// A plan component: a metric with a target, a weight and a payout curve.
#[derive(Clone)]
pub struct PlanComponentObject(tandem_persistence::PlanComponent);

/// A plan component: a metric with a target, a weight and a payout curve.
#[Object(name = "PlanComponent")]
impl PlanComponentObject {
    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The metric it pays for.
    async fn metric(&self, ctx: &Context<'_>) -> ApiResult<Option<MetricObject>> {
        Ok(session(ctx)?
            .loaders
            .metric(self.0.metric_id)
            .await?
            .map(MetricObject))
    }

    /// The metric target attainment is measured against.
    async fn target(&self) -> Decimal {
        self.0.target.into()
    }

    /// Relative weight (normalised across components).
    async fn weight(&self) -> Decimal {
        self.0.weight.into()
    }

    /// Curve points, by attainment.
    async fn curve(&self) -> Vec<CurvePointView> {
        self.0
            .curve
            .points()
            .iter()
            .map(|p| CurvePointView {
                attainment: p.attainment.into(),
                payout: p.payout.into(),
            })
            .collect()
    }

    /// Below this attainment the component pays nothing.
    async fn threshold(&self) -> Decimal {
        self.0.curve.threshold().into()
    }

    /// The most the component pays, as a share of its target amount.
    async fn cap(&self) -> Decimal {
        self.0.curve.cap().into()
    }
}

/// A customer gate: if its metric misses the minimum attainment, financial components pay at
/// most the factor.
#[derive(Clone)]
pub struct PlanGateObject(tandem_persistence::PlanGate);

/// A customer gate: if its metric misses the minimum attainment, financial components pay at
/// most the factor.
#[Object(name = "PlanGate")]
impl PlanGateObject {
    /// The customer metric.
    async fn metric(&self, ctx: &Context<'_>) -> ApiResult<Option<MetricObject>> {
        Ok(session(ctx)?
            .loaders
            .metric(self.0.metric_id)
            .await?
            .map(MetricObject))
    }

    /// The metric's target.
    async fn target(&self) -> Decimal {
        self.0.target.into()
    }

    /// Minimum attainment to pass the gate.
    async fn min_attainment(&self) -> Decimal {
        self.0.min_attainment.into()
    }

    /// The most financial components pay when the gate is missed (0.5 = 50%).
    async fn factor(&self) -> Decimal {
        self.0.factor.into()
    }
}

/// An incentive plan: for roles or people over a period, a target amount paid through
/// components and limited by customer gates.
#[derive(Clone)]
pub struct IncentivePlanObject(pub Plan);

async fn details(s: &Session, plan: Uuid) -> Result<PlanDetails, ApiError> {
    let mut map = s.tenant.plan_details(&[plan]).await?;
    map.remove(&plan)
        .ok_or_else(|| ApiError::Internal("plan details missing".into()))
}

/// An incentive plan: for roles or people over a period, a target amount paid through
/// components and limited by customer gates.
#[Object(name = "IncentivePlan")]
impl IncentivePlanObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id("IncentivePlan", self.0.id)
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// First day of the period it pays for.
    async fn period_start(&self) -> Date {
        self.0.period.start().into()
    }

    /// Last day of that period.
    async fn period_end(&self) -> Date {
        self.0.period.end().into()
    }

    /// Length of the period.
    async fn granularity(&self) -> Granularity {
        self.0.period.granularity().into()
    }

    /// Target amount per person at 100% on every component.
    async fn target(&self) -> Money {
        self.0.target.into()
    }

    /// Components, in order.
    async fn components(&self, ctx: &Context<'_>) -> ApiResult<Vec<PlanComponentObject>> {
        Ok(details(session(ctx)?, self.0.id)
            .await?
            .components
            .into_iter()
            .map(PlanComponentObject)
            .collect())
    }

    /// Customer gates, in order.
    async fn gates(&self, ctx: &Context<'_>) -> ApiResult<Vec<PlanGateObject>> {
        Ok(details(session(ctx)?, self.0.id)
            .await?
            .gates
            .into_iter()
            .map(PlanGateObject)
            .collect())
    }

    /// Job roles assigned to the plan.
    async fn roles(&self, ctx: &Context<'_>) -> ApiResult<Vec<JobRoleObject>> {
        let s = session(ctx)?;
        let d = details(s, self.0.id).await?;
        let roles = s
            .loaders
            .job_roles
            .load_many(d.role_ids)
            .await
            .map_err(loader_error)?;
        let mut list: Vec<_> = roles.into_values().map(JobRoleObject).collect();
        list.sort_by(|a, b| a.0.key.cmp(&b.0.key));
        Ok(list)
    }

    /// Whether the plan pays for customer value: it has a CUSTOMER component or a customer
    /// gate. Plans without either are "unbalanced".
    async fn balanced(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        let s = session(ctx)?;
        Ok(is_balanced(s, &details(s, self.0.id).await?).await?)
    }

    /// Who defined it.
    async fn created_by(&self) -> &str {
        &self.0.created_by
    }

    /// When.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
}

async fn is_balanced(s: &Session, d: &PlanDetails) -> Result<bool, ApiError> {
    if !d.gates.is_empty() {
        return Ok(true);
    }
    let metrics = s
        .loaders
        .metrics_many(d.components.iter().map(|c| c.metric_id))
        .await?;
    Ok(d.components.iter().any(|c| {
        metrics
            .get(&c.metric_id)
            .is_some_and(|m| m.definition.perspective == DomainPerspective::Customer)
    }))
}

/// One line of a statement, as computed and stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredLine {
    component: String,
    metric_id: Uuid,
    actual: Option<Dec>,
    attainment: Option<Dec>,
    curve_payout: Dec,
    curve_segment: String,
    gate_applied: bool,
    payout: Dec,
    weight: Dec,
    amount: Dec,
}

/// A gate's outcome, as computed and stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredGate {
    metric_id: Uuid,
    actual: Option<Dec>,
    attainment: Option<Dec>,
    missed: bool,
}

/// What a statement is made of, stored with it so it never changes.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredStatement {
    lines: Vec<StoredLine>,
    gates: Vec<StoredGate>,
}

/// One component's line on a statement.
#[derive(Clone)]
pub struct PayoutLine(StoredLine, pay::Currency);

/// One component's line on a statement: the actual, attainment, curve segment used, gate
/// applied or not, and the amount.
#[Object]
impl PayoutLine {
    /// The component.
    async fn component(&self) -> &str {
        &self.0.component
    }

    /// The metric it pays for.
    async fn metric(&self, ctx: &Context<'_>) -> ApiResult<Option<MetricObject>> {
        Ok(session(ctx)?
            .loaders
            .metric(self.0.metric_id)
            .await?
            .map(MetricObject))
    }

    /// The metric's value for the plan period; null without data (the line pays nothing).
    async fn actual(&self) -> Option<Decimal> {
        self.0.actual.map(Into::into)
    }

    /// Attainment against the component's target.
    async fn attainment(&self) -> Option<Decimal> {
        self.0.attainment.map(Into::into)
    }

    /// Payout share from the curve, before gates.
    async fn curve_payout(&self) -> Decimal {
        self.0.curve_payout.into()
    }

    /// Which part of the curve gave it.
    async fn curve_segment(&self) -> &str {
        &self.0.curve_segment
    }

    /// Whether a missed customer gate limited this line.
    async fn gate_applied(&self) -> bool {
        self.0.gate_applied
    }

    /// Payout share after gates.
    async fn payout(&self) -> Decimal {
        self.0.payout.into()
    }

    /// The component's normalised weight.
    async fn weight(&self) -> Decimal {
        self.0.weight.into()
    }

    /// The line's amount, exact (the statement total is rounded once).
    async fn amount(&self) -> Money {
        DomainMoney {
            amount: self.0.amount,
            currency: self.1,
        }
        .into()
    }
}

/// A customer gate's outcome on a statement.
#[derive(Clone)]
pub struct GateOutcome(StoredGate);

/// A customer gate's outcome on a statement.
#[Object]
impl GateOutcome {
    /// The customer metric.
    async fn metric(&self, ctx: &Context<'_>) -> ApiResult<Option<MetricObject>> {
        Ok(session(ctx)?
            .loaders
            .metric(self.0.metric_id)
            .await?
            .map(MetricObject))
    }

    /// Its value for the plan period.
    async fn actual(&self) -> Option<Decimal> {
        self.0.actual.map(Into::into)
    }

    /// Its attainment.
    async fn attainment(&self) -> Option<Decimal> {
        self.0.attainment.map(Into::into)
    }

    /// Whether the gate was missed (no data counts as missed).
    async fn missed(&self) -> bool {
        self.0.missed
    }
}

/// A person's payout under a plan: locked once computed; recomputing writes a new version.
#[derive(Clone)]
pub struct PayoutStatementObject {
    statement: Option<Statement>,
    plan: Plan,
    person: Uuid,
    total: Dec,
    body: StoredStatement,
}

/// A person's payout under a plan, line by line. A locked statement never changes when
/// observations change later; recomputing writes a new version.
#[Object(name = "PayoutStatement")]
impl PayoutStatementObject {
    /// Opaque global id; null for a preview.
    async fn id(&self) -> Option<ID> {
        self.statement
            .as_ref()
            .map(|s| global_id("PayoutStatement", s.id))
    }

    /// The plan.
    async fn plan(&self) -> IncentivePlanObject {
        IncentivePlanObject(self.plan.clone())
    }

    /// The person paid.
    async fn person(&self, ctx: &Context<'_>) -> ApiResult<Option<PersonObject>> {
        Ok(session(ctx)?
            .loaders
            .people
            .load_one(self.person)
            .await
            .map_err(loader_error)?
            .map(PersonObject))
    }

    /// Whether the statement is locked (false for a preview).
    async fn locked(&self) -> bool {
        self.statement.is_some()
    }

    /// Version: 1 for the first computation; null for a preview.
    async fn version(&self) -> Option<i32> {
        self.statement.as_ref().map(|s| s.version)
    }

    /// Total, rounded once to the currency's minor unit, half away from zero.
    async fn total(&self) -> Money {
        DomainMoney {
            amount: self.total,
            currency: self.plan.target.currency,
        }
        .into()
    }

    /// Every component's line.
    async fn lines(&self) -> Vec<PayoutLine> {
        let currency = self.plan.target.currency;
        self.body
            .lines
            .iter()
            .cloned()
            .map(|l| PayoutLine(l, currency))
            .collect()
    }

    /// Every gate's outcome.
    async fn gates(&self) -> Vec<GateOutcome> {
        self.body.gates.iter().cloned().map(GateOutcome).collect()
    }

    /// Who computed it; null for a preview.
    async fn computed_by(&self) -> Option<&str> {
        self.statement.as_ref().map(|s| s.computed_by.as_str())
    }

    /// When; null for a preview.
    async fn computed_at(&self) -> Option<DateTime> {
        self.statement.as_ref().map(|s| DateTime(s.computed_at))
    }
}

connection!(
    IncentivePlanConnection,
    IncentivePlanEdge,
    IncentivePlanObject,
    "A page of incentive plans.",
    "An incentive plan with its cursor."
);
connection!(
    PayoutStatementConnection,
    PayoutStatementEdge,
    PayoutStatementObject,
    "A page of payout statements.",
    "A payout statement with its cursor."
);

/// Computes the statement body and total every person of a plan gets for its period.
async fn compute(
    s: &Session,
    plan: &Plan,
    d: &PlanDetails,
) -> Result<(Dec, StoredStatement), ApiError> {
    let metric_ids: Vec<Uuid> = d
        .components
        .iter()
        .map(|c| c.metric_id)
        .chain(d.gates.iter().map(|g| g.metric_id))
        .collect();
    let metrics = s.loaders.metrics_many(metric_ids.iter().copied()).await?;
    let range = DateRange::new(plan.period.start(), plan.period.end())
        .map_err(|e| ApiError::Internal(e.message))?;
    let facts = s.tenant.observation_facts_for(&metric_ids, range).await?;
    let value = |metric: Uuid,
                 segment: Option<Uuid>,
                 target: Dec|
     -> Result<(Option<Dec>, Option<Dec>), ApiError> {
        let m = metrics
            .get(&metric)
            .ok_or_else(|| ApiError::Internal("plan metric missing".into()))?;
        let actual = value_for_period(
            facts.get(&metric).map(Vec::as_slice).unwrap_or_default(),
            m.definition.aggregation,
            plan.period,
            segment.as_ref(),
        )
        .map_err(|e| ApiError::Conflict(e.to_string()))?;
        Ok((
            actual,
            actual.map(|a| attainment(m.definition.direction, target, a)),
        ))
    };
    let mut comps = Vec::new();
    let mut actuals = Vec::new();
    let mut atts = Vec::new();
    for c in &d.components {
        let perspective = metrics
            .get(&c.metric_id)
            .map_or(DomainPerspective::Financial, |m| m.definition.perspective);
        comps.push(pay::Component {
            name: c.name.clone(),
            perspective,
            weight: c.weight,
            curve: c.curve.clone(),
        });
        let (actual, att) = value(c.metric_id, c.segment_id, c.target)?;
        actuals.push(actual);
        atts.push(att);
    }
    let mut gate_specs = Vec::new();
    let mut gate_values = Vec::new();
    for g in &d.gates {
        gate_specs.push(pay::Gate {
            min_attainment: g.min_attainment,
            factor: g.factor,
        });
        gate_values.push(value(g.metric_id, None, g.target)?);
    }
    let gate_atts: Vec<Option<Dec>> = gate_values.iter().map(|(_, a)| *a).collect();
    let result = pay::payout(plan.target, &comps, &atts, &gate_specs, &gate_atts);
    let lines = d
        .components
        .iter()
        .zip(&result.lines)
        .zip(&actuals)
        .map(|((c, l), actual)| StoredLine {
            component: c.name.clone(),
            metric_id: c.metric_id,
            actual: *actual,
            attainment: l.attainment,
            curve_payout: l.curve_payout,
            curve_segment: l.segment.describe(&c.curve),
            gate_applied: l.gate_applied,
            payout: l.payout,
            weight: l.weight,
            amount: l.amount,
        })
        .collect();
    let gates = d
        .gates
        .iter()
        .zip(&result.gates)
        .zip(&gate_values)
        .map(|((g, r), (actual, _))| StoredGate {
            metric_id: g.metric_id,
            actual: *actual,
            attainment: r.attainment,
            missed: r.missed,
        })
        .collect();
    Ok((result.total.amount, StoredStatement { lines, gates }))
}

async fn plan_of(s: &Session, id: &ID, field: &str) -> Result<Plan, ApiError> {
    let uuid = expect_global_id(id, "IncentivePlan", field)?;
    s.tenant
        .plans_by_ids(&[uuid])
        .await?
        .remove(&uuid)
        .ok_or_else(|| ApiError::NotFound(format!("IncentivePlan `{}` was not found", id.as_str())))
}

/// Whose individual pay the caller may see: `None` for everyone's.
pub(crate) async fn pay_scope(s: &Session) -> Result<Option<Vec<Uuid>>, ApiError> {
    if s.caller.may(Permission::ReadAllPay) {
        return Ok(None);
    }
    let personal = s.caller.roles.iter().any(|r| {
        matches!(
            r,
            AccessRole::Manager | AccessRole::Member | AccessRole::Executive | AccessRole::Revops
        )
    });
    if !personal {
        return Err(ApiError::Forbidden(
            "individual pay is visible to admin, finance, hr, the person and their managers".into(),
        ));
    }
    let scope = s.contact_scope().await?;
    let mut ids: Vec<Uuid> = scope.reports.iter().copied().collect();
    ids.extend(scope.me);
    Ok(Some(ids))
}

/// Narrows a list of payout statements.
#[derive(InputObject, Default)]
pub struct PayoutStatementFilter {
    /// Only this plan's statements.
    pub plan_id: Option<ID>,
    /// Only this person's statements (HR id).
    pub person_external_id: Option<String>,
    /// Every version, not only the latest per person and plan.
    #[graphql(default)]
    pub all_versions: bool,
}

/// A group's pay totals.
#[derive(SimpleObject)]
pub struct PayTotal {
    /// The role or team name ("(no team)" for people without one).
    pub group: String,
    /// People with a locked statement.
    pub headcount: i32,
    /// Target: headcount x the plan's target amount.
    pub target: Money,
    /// Cost: the sum of their latest statements. Null for a group of fewer than three people
    /// when you may not see individual pay (it would reveal someone's pay).
    pub payout: Option<Money>,
}

/// A plan's cost against its target, overall and by role and team.
#[derive(SimpleObject)]
pub struct PlanTotals {
    /// The plan.
    pub plan: IncentivePlanObject,
    /// Everyone.
    pub overall: PayTotal,
    /// By job role held (a person with two of the plan's roles counts in both).
    pub by_role: Vec<PayTotal>,
    /// By team.
    pub by_team: Vec<PayTotal>,
}

/// Incentive queries.
#[derive(Default)]
pub struct IncentiveQuery;

#[Object]
impl IncentiveQuery {
    /// Incentive plans, by period then name (admin, finance, hr, executive, bi).
    async fn incentive_plans(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<IncentivePlanConnection> {
        let s = authorized(ctx, Permission::ReadPayAggregates)?;
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, last, before)
            .page(lim.max_page_size, lim.default_page_size)?;
        let slice = s.tenant.plans(page).await.map_err(ApiError::from)?;
        Ok(IncentivePlanConnection::from_slice(
            slice,
            IncentivePlanObject,
        ))
    }

    /// Plans with no CUSTOMER component and no customer gate: pay that ignores customer value.
    async fn unbalanced_plans(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<IncentivePlanConnection> {
        let s = authorized(ctx, Permission::ReadPayAggregates)?;
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, last, before)
            .page(lim.max_page_size, lim.default_page_size)?;
        let plans = s.tenant.all_plans().await.map_err(ApiError::from)?;
        let ids: Vec<Uuid> = plans.iter().map(|p| p.id).collect();
        let all_details = s.tenant.plan_details(&ids).await.map_err(ApiError::from)?;
        let mut unbalanced = Vec::new();
        for plan in plans {
            if let Some(d) = all_details.get(&plan.id)
                && !is_balanced(s, d).await?
            {
                unbalanced.push(plan);
            }
        }
        Ok(IncentivePlanConnection::from_slice(
            page.slice(unbalanced),
            IncentivePlanObject,
        ))
    }

    /// What the people of a plan would be paid now, computed from current observations and
    /// not saved. Admin, finance and hr see everyone's; the person sees their own and their
    /// managers (at any depth) their reports'; anyone else, or a caller who is neither for
    /// anybody on the plan, is refused (FORBIDDEN).
    async fn payout_preview(
        &self,
        ctx: &Context<'_>,
        plan_id: ID,
    ) -> ApiResult<Vec<PayoutStatementObject>> {
        let s = session(ctx)?;
        let scope: Option<HashSet<Uuid>> = pay_scope(s).await?.map(|ids| ids.into_iter().collect());
        let not_theirs = || {
            ApiError::Forbidden(
                "a payout preview shows the person and their managers only; no one on this plan \
                 is you or reports to you"
                    .to_owned(),
            )
        };
        if scope.as_ref().is_some_and(HashSet::is_empty) {
            return Err(not_theirs().into());
        }
        let plan = plan_of(s, &plan_id, "planId").await?;
        let d = details(s, plan.id).await?;
        let mut people = s.tenant.plan_people(&d).await.map_err(ApiError::from)?;
        if let Some(visible) = &scope {
            people.retain(|p| visible.contains(p));
            if people.is_empty() {
                return Err(not_theirs().into());
            }
        }
        let (total, body) = compute(s, &plan, &d).await?;
        Ok(people
            .into_iter()
            .map(|person| PayoutStatementObject {
                statement: None,
                plan: plan.clone(),
                person,
                total,
                body: body.clone(),
            })
            .collect())
    }

    /// Locked payout statements, newest first. Admin, finance and hr see everyone's; others
    /// see their own and their reports'; `bi` sees none (use `planTotals`). With
    /// `updatedSince` (or a cursor from such a page), every version in the order they were
    /// computed, for incremental sync; see `observations`.
    #[allow(clippy::too_many_arguments)]
    async fn payout_statements(
        &self,
        ctx: &Context<'_>,
        filter: Option<PayoutStatementFilter>,
        updated_since: Option<crate::graphql::scalars::DateTime>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<PayoutStatementConnection> {
        let s = session(ctx)?;
        let PayoutStatementFilter {
            plan_id,
            person_external_id,
            all_versions,
        } = filter.unwrap_or_default();
        let scope = pay_scope(s).await?;
        let lim = limits(ctx);
        let sync = crate::graphql::relay::SyncArgs {
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
        let plan = match &plan_id {
            Some(id) => Some(plan_of(s, id, "planId").await?.id),
            None => None,
        };
        let mut people: Option<Vec<Uuid>> = scope;
        if let Some(ext) = &person_external_id {
            let person = s
                .tenant
                .person_by_external_id(ext)
                .await
                .map_err(ApiError::from)?
                .map(|p| p.id)
                .unwrap_or(Uuid::nil());
            people = Some(match people {
                None => vec![person],
                Some(ids) => ids.into_iter().filter(|id| *id == person).collect(),
            });
        }
        let (slice, changed) = match &sync {
            None => (
                s.tenant
                    .statements(plan, people.as_deref(), !all_versions, page)
                    .await
                    .map_err(ApiError::from)?,
                None,
            ),
            Some(window) => {
                let changed = s
                    .tenant
                    .statements_changed(plan, people.as_deref(), window)
                    .await
                    .map_err(ApiError::from)?;
                let items = changed.items.iter().map(|(_, st)| st.clone()).collect();
                let slice = tandem_persistence::Slice {
                    items,
                    total: changed.total,
                    offset: 0,
                };
                (slice, Some(changed))
            }
        };
        let plan_ids: Vec<Uuid> = slice
            .items
            .iter()
            .map(|st| st.plan_id)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let plans = s
            .tenant
            .plans_by_ids(&plan_ids)
            .await
            .map_err(ApiError::from)?;
        let mut rows = Vec::with_capacity(slice.items.len());
        for st in &slice.items {
            let body: StoredStatement = serde_json::from_value(st.lines.clone())
                .map_err(|e| ApiError::Internal(format!("stored statement {}: {e}", st.id)))?;
            let plan = plans
                .get(&st.plan_id)
                .cloned()
                .ok_or_else(|| ApiError::Internal("statement plan missing".into()))?;
            rows.push(PayoutStatementObject {
                statement: Some(st.clone()),
                plan,
                person: st.person_id,
                total: st.total,
                body,
            });
        }
        if let (Some(changed), Some(window)) = (changed, &sync) {
            let synced = tandem_persistence::SyncSlice {
                items: changed
                    .items
                    .into_iter()
                    .map(|(cursor, _)| cursor)
                    .zip(rows)
                    .collect(),
                has_next: changed.has_next,
                total: changed.total,
            };
            return Ok(PayoutStatementConnection::from_sync(synced, window, |r| r));
        }
        let sliced = tandem_persistence::Slice {
            items: rows,
            total: slice.total,
            offset: slice.offset,
        };
        Ok(PayoutStatementConnection::from_slice(sliced, |r| r))
    }

    /// A plan's cost (latest locked statements) against its target, overall and by role and
    /// team (admin, finance, hr, executive, bi).
    async fn plan_totals(&self, ctx: &Context<'_>, plan_id: ID) -> ApiResult<PlanTotals> {
        let s = authorized(ctx, Permission::ReadPayAggregates)?;
        let plan = plan_of(s, &plan_id, "planId").await?;
        let d = details(s, plan.id).await?;
        let all = tandem_persistence::Page {
            first: Some(u64::MAX),
            ..Default::default()
        };
        let statements = s
            .tenant
            .statements(Some(plan.id), None, true, all)
            .await
            .map_err(ApiError::from)?
            .items;
        let person_ids: Vec<Uuid> = statements.iter().map(|st| st.person_id).collect();
        let people = s
            .loaders
            .people
            .load_many(person_ids.iter().copied())
            .await
            .map_err(loader_error)?;
        let held = s
            .loaders
            .held_roles
            .load_many(person_ids.iter().copied())
            .await
            .map_err(loader_error)?;
        let roles = s
            .loaders
            .job_roles
            .load_many(d.role_ids.iter().copied())
            .await
            .map_err(loader_error)?;
        let team_ids: Vec<Uuid> = people.values().filter_map(|p| p.team_id).collect();
        let teams = s
            .loaders
            .teams
            .load_many(team_ids)
            .await
            .map_err(loader_error)?;
        let currency = plan.target.currency;
        let sees_individual_pay = s.caller.may(Permission::ReadAllPay);
        let overflow =
            || ApiError::Conflict("the plan's totals are too large to add up exactly".to_owned());
        let total_for = |name: String, members: &[&Statement]| -> Result<PayTotal, ApiError> {
            let target = plan
                .target
                .amount
                .checked_mul(Dec::from(members.len()))
                .ok_or_else(overflow)?;
            let payout = members
                .iter()
                .try_fold(Dec::ZERO, |acc, st| acc.checked_add(st.total))
                .ok_or_else(overflow)?;
            let disclosed = sees_individual_pay || members.len() >= MIN_AGGREGATE_GROUP;
            Ok(PayTotal {
                group: name,
                headcount: i32::try_from(members.len()).unwrap_or(i32::MAX),
                target: DomainMoney {
                    amount: target,
                    currency,
                }
                .into(),
                payout: disclosed.then(|| {
                    DomainMoney {
                        amount: payout,
                        currency,
                    }
                    .into()
                }),
            })
        };
        let everyone: Vec<&Statement> = statements.iter().collect();
        let mut by_role: BTreeMap<String, Vec<&Statement>> = BTreeMap::new();
        let mut by_team: BTreeMap<String, Vec<&Statement>> = BTreeMap::new();
        for st in &statements {
            for role in held.get(&st.person_id).into_iter().flatten() {
                if let Some(r) = roles.get(role) {
                    by_role.entry(r.name.clone()).or_default().push(st);
                }
            }
            let team = people
                .get(&st.person_id)
                .and_then(|p| p.team_id)
                .and_then(|t| teams.get(&t))
                .map_or_else(|| "(no team)".to_owned(), |t| t.name.clone());
            by_team.entry(team).or_default().push(st);
        }
        Ok(PlanTotals {
            overall: total_for("all".to_owned(), &everyone)?,
            by_role: by_role
                .into_iter()
                .map(|(k, v)| total_for(k, &v))
                .collect::<Result<_, _>>()?,
            by_team: by_team
                .into_iter()
                .map(|(k, v)| total_for(k, &v))
                .collect::<Result<_, _>>()?,
            plan: IncentivePlanObject(plan),
        })
    }
}

/// A payout curve.
#[derive(InputObject)]
pub struct CurveInput {
    /// Points (attainment -> payout share), attainments strictly increasing, payouts not decreasing.
    pub points: Vec<CurvePointInput>,
    /// Below this attainment nothing is paid.
    pub threshold: Decimal,
    /// The most the component pays, as a share of its target amount.
    pub cap: Decimal,
}

/// A point of a payout curve.
#[derive(InputObject)]
pub struct CurvePointInput {
    /// Attainment (1 = on target).
    pub attainment: Decimal,
    /// Payout share (1 = 100% of the component's target amount).
    pub payout: Decimal,
}

/// A plan component.
#[derive(InputObject)]
pub struct PlanComponentInput {
    /// Display name.
    pub name: String,
    /// The metric it pays for.
    pub metric_key: String,
    /// Only this segment's values count.
    pub segment_key: Option<String>,
    /// The metric target attainment is measured against.
    pub target: Decimal,
    /// Relative weight, 0 or more.
    pub weight: Decimal,
    /// Its curve.
    pub curve: CurveInput,
}

/// A customer gate.
#[derive(InputObject)]
pub struct PlanGateInput {
    /// A CUSTOMER metric.
    pub metric_key: String,
    /// Its target.
    pub target: Decimal,
    /// Minimum attainment to pass.
    pub min_attainment: Decimal,
    /// The most financial components pay when missed (0 to 1).
    pub factor: Decimal,
}

/// An amount and currency.
#[derive(InputObject)]
pub struct MoneyInput {
    /// The amount.
    pub amount: Decimal,
    /// ISO 4217 code.
    pub currency: String,
}

/// A plan to define (admin, finance).
#[derive(InputObject)]
pub struct DefineIncentivePlanInput {
    /// Display name.
    pub name: String,
    /// First day of the period (a period start of `granularity`).
    pub period_start: Date,
    /// Length of the period.
    pub granularity: Granularity,
    /// Target amount per person at 100%.
    pub target: MoneyInput,
    /// Roles assigned.
    #[graphql(default)]
    pub role_keys: Vec<String>,
    /// People assigned directly (HR ids).
    #[graphql(default)]
    pub person_external_ids: Vec<String>,
    /// Components.
    pub components: Vec<PlanComponentInput>,
    /// Customer gates.
    #[graphql(default)]
    pub gates: Vec<PlanGateInput>,
}

/// The plan defined.
#[derive(SimpleObject)]
pub struct IncentivePlanPayload {
    /// The plan.
    pub plan: IncentivePlanObject,
}

/// Statements locked by a computation.
#[derive(SimpleObject)]
pub struct ComputePayoutsPayload {
    /// One new statement version per person.
    pub statements: Vec<PayoutStatementObject>,
}

/// Names a plan.
#[derive(InputObject)]
pub struct PlanIdInput {
    /// The plan.
    pub plan_id: ID,
}

fn dec(c: &mut Collector, path: String, d: &Decimal) -> Option<Dec> {
    c.take(|| path, d.checked().map_err(tandem_domain::Invalid::new))
}

fn parse_plan(input: &DefineIncentivePlanInput) -> Result<NewPlan, ApiError> {
    let mut c = Collector::default();
    let name = c.take(|| "input.name".into(), parse_text(&input.name, 200, true));
    let period = input
        .period_start
        .at("input.periodStart")
        .and_then(|start| {
            Period::new(start, input.granularity.into())
                .map_err(|e| ApiError::bad_input("input.periodStart", e.message))
        });
    let period = match period {
        Ok(p) => Some(p),
        Err(ApiError::BadUserInput(mut p)) => {
            c.0.append(&mut p);
            None
        }
        Err(other) => return Err(other),
    };
    let amount = dec(&mut c, "input.target.amount".into(), &input.target.amount);
    let target = amount.and_then(|a| {
        c.take(
            || "input.target.currency".into(),
            DomainMoney::parse(a, input.target.currency.trim()),
        )
    });
    if let Some(t) = &target
        && t.amount.is_sign_negative()
    {
        c.0.push(Problem::new(
            "input.target.amount",
            "the target cannot be negative",
        ));
    }
    if let Some(t) = &target
        && t.amount > Dec::from(MAX_TARGET)
    {
        c.0.push(Problem::new(
            "input.target.amount",
            format!("the target can be at most {MAX_TARGET}"),
        ));
    }
    let roles: Vec<RoleKey> = input
        .role_keys
        .iter()
        .enumerate()
        .filter_map(|(i, k)| c.take(|| format!("input.roleKeys[{i}]"), RoleKey::parse(k)))
        .collect();
    let people: Vec<ExternalId> = input
        .person_external_ids
        .iter()
        .enumerate()
        .filter_map(|(i, k)| {
            c.take(
                || format!("input.personExternalIds[{i}]"),
                ExternalId::parse(k),
            )
        })
        .collect();
    if roles.is_empty() && people.is_empty() && c.0.is_empty() {
        c.0.push(Problem::new(
            "input.roleKeys",
            "assign the plan to at least one role or person",
        ));
    }
    if input.components.is_empty() {
        c.0.push(Problem::new(
            "input.components",
            "a plan needs at least one component",
        ));
    }
    let mut comps = Vec::new();
    let mut weights = Vec::new();
    for (i, comp) in input.components.iter().enumerate() {
        let at = |f: &str| format!("input.components[{i}].{f}");
        let name = c.take(|| at("name"), parse_text(&comp.name, 200, true));
        let metric_key = c.take(|| at("metricKey"), MetricKey::parse(&comp.metric_key));
        let segment = match &comp.segment_key {
            None => Some(None),
            Some(k) => c
                .take(|| at("segmentKey"), DimensionKey::parse(k))
                .map(Some),
        };
        let target = dec(&mut c, at("target"), &comp.target);
        let weight = dec(&mut c, at("weight"), &comp.weight);
        if let Some(w) = weight {
            weights.push(w);
            if w.is_sign_negative() && !w.is_zero() {
                c.0.push(Problem::new(at("weight"), "a weight cannot be negative"));
            }
        }
        let mut points = Vec::new();
        for (j, p) in comp.curve.points.iter().enumerate() {
            let a = dec(
                &mut c,
                at(&format!("curve.points[{j}].attainment")),
                &p.attainment,
            );
            let y = dec(&mut c, at(&format!("curve.points[{j}].payout")), &p.payout);
            if let (Some(a), Some(y)) = (a, y) {
                points.push(CurvePoint {
                    attainment: a,
                    payout: y,
                });
            }
        }
        let threshold = dec(&mut c, at("curve.threshold"), &comp.curve.threshold);
        let cap = dec(&mut c, at("curve.cap"), &comp.curve.cap);
        let curve = match (threshold, cap) {
            (Some(t), Some(cp)) => c.take(|| at("curve"), Curve::new(points, t, cp)),
            _ => None,
        };
        if let (
            Some(name),
            Some(metric_key),
            Some(segment),
            Some(target),
            Some(weight),
            Some(curve),
        ) = (name, metric_key, segment, target, weight, curve)
        {
            comps.push(NewComponent {
                name,
                metric_key,
                segment,
                target,
                weight,
                curve,
            });
        }
    }
    if !weights.is_empty() && weights.iter().all(Dec::is_zero) {
        c.0.push(Problem::new(
            "input.components",
            "at least one component needs a weight above zero",
        ));
    }
    let mut gates = Vec::new();
    for (i, g) in input.gates.iter().enumerate() {
        let at = |f: &str| format!("input.gates[{i}].{f}");
        let metric_key = c.take(|| at("metricKey"), MetricKey::parse(&g.metric_key));
        let target = dec(&mut c, at("target"), &g.target);
        let min = dec(&mut c, at("minAttainment"), &g.min_attainment);
        let factor = dec(&mut c, at("factor"), &g.factor);
        // Each bound is checked on its own so a problem names the field that holds it.
        if let Some(m) = min {
            c.take(|| at("minAttainment"), pay::parse_gate(m, Dec::ZERO));
        }
        if let Some(f) = factor {
            c.take(|| at("factor"), pay::parse_gate(Dec::ZERO, f));
        }
        if let (Some(metric_key), Some(target), Some(min_attainment), Some(factor)) =
            (metric_key, target, min, factor)
        {
            gates.push(NewGate {
                metric_key,
                target,
                min_attainment,
                factor,
            });
        }
    }
    c.finish()?;
    match (name, period, target) {
        (Some(name), Some(period), Some(target)) => Ok(NewPlan {
            name,
            period,
            target,
            roles,
            people,
            components: comps,
            gates,
        }),
        _ => Err(ApiError::bad_input("input", "invalid plan")),
    }
}

/// Incentive changes (admin, finance).
#[derive(Default)]
pub struct IncentiveMutation;

#[Object]
impl IncentiveMutation {
    /// Defines an incentive plan. Refused with every problem listed: curve points not
    /// increasing, negative weights, unknown currency, a gate on a non-customer metric, or an
    /// overlap with another plan of the same role or person.
    async fn define_incentive_plan(
        &self,
        ctx: &Context<'_>,
        input: DefineIncentivePlanInput,
    ) -> ApiResult<IncentivePlanPayload> {
        let s = authorized(ctx, Permission::ManagePlans)?;
        let new = parse_plan(&input)?;
        let plan = s
            .tenant
            .define_plan(&Actor(s.caller.subject.clone()), new)
            .await
            .map_err(ApiError::from)?;
        Ok(IncentivePlanPayload {
            plan: IncentivePlanObject(plan),
        })
    }

    /// Computes and locks a statement for every person of a plan from current observations,
    /// recording who computed it, when, and the inputs used. Earlier versions stay as they were.
    async fn compute_payouts(
        &self,
        ctx: &Context<'_>,
        input: PlanIdInput,
    ) -> ApiResult<ComputePayoutsPayload> {
        let s = authorized(ctx, Permission::ManagePlans)?;
        let plan = plan_of(s, &input.plan_id, "input.planId").await?;
        let d = details(s, plan.id).await?;
        let (total, body) = compute(s, &plan, &d).await?;
        let people = s.tenant.plan_people(&d).await.map_err(ApiError::from)?;
        let json = serde_json::to_value(&body).map_err(|e| ApiError::Internal(e.to_string()))?;
        let computed: Vec<(Uuid, Dec, serde_json::Value)> =
            people.iter().map(|p| (*p, total, json.clone())).collect();
        let written = s
            .tenant
            .lock_statements(&Actor(s.caller.subject.clone()), &plan, computed)
            .await
            .map_err(ApiError::from)?;
        Ok(ComputePayoutsPayload {
            statements: written
                .into_iter()
                .map(|st| PayoutStatementObject {
                    person: st.person_id,
                    total: st.total,
                    body: body.clone(),
                    plan: plan.clone(),
                    statement: Some(st),
                })
                .collect(),
        })
    }
}
