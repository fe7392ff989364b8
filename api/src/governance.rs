//! Governance over GraphQL: review forums and sessions, trade-off rules with guards, decisions,
//! and maturity with the figures the platform computes itself.

use std::collections::HashMap;

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{NaiveDate, Utc};
use tandem_domain::access::Permission;
use tandem_domain::goals::GoalStatus;
use tandem_domain::governance::{
    self as rules, Cadence as DomainCadence, Capability as DomainCapability, GuardVerdict, Level,
};
use tandem_domain::metrics::{MetricKey, parse_text};
use tandem_persistence::{
    Actor, AuditFilter, Decision, Forum, Guard, NewDecision, NewSession, ReviewSession,
    TradeOffRule,
};
use uuid::Uuid;

use crate::audit::{AuditEventConnection, AuditEventObject};
use crate::error::{ApiError, ApiResult};
use crate::goals::GoalObject;
use crate::graphql::loaders::loader_error;
use crate::graphql::relay::{PageArgs, connection, expect_global_id, global_id};
use crate::graphql::scalars::{Date, Decimal};
use crate::graphql::{Session, authorized, limits, session};
use crate::metrics::MetricObject;
use crate::people::PersonObject;
use crate::scorecards::ScorecardObject;

macro_rules! gql_enum {
    ($(#[$m:meta])* $name:ident => $domain:ty { $($(#[$vm:meta])* $v:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Enum, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($(#[$vm])* $v),+ }
        impl From<$name> for $domain { fn from(v: $name) -> Self { match v { $($name::$v => <$domain>::$v),+ } } }
        impl From<$domain> for $name { fn from(v: $domain) -> Self { match v { $(<$domain>::$v => $name::$v),+ } } }
    };
}

gql_enum! {
    /// How often a forum meets.
    Cadence => DomainCadence {
        /// Every week.
        Weekly,
        /// Every month.
        Monthly,
        /// Every quarter.
        Quarterly,
    }
}

gql_enum! {
    /// Whether a trade-off is allowed.
    RuleKind => rules::RuleKind {
        /// A trade-off the organization accepts.
        Acceptable,
        /// A trade-off the organization refuses.
        Unacceptable,
    }
}

gql_enum! {
    /// Which side of its threshold a guarded metric must stay on.
    Comparator => rules::Comparator {
        /// At or above the threshold.
        AtLeast,
        /// At or below the threshold.
        AtMost,
    }
}

gql_enum! {
    /// The six capabilities of an integrated scorecard organization.
    Capability => DomainCapability {
        /// Strategy and narrative.
        StrategyNarrative,
        /// Scorecards and incentives.
        ScorecardsIncentives,
        /// Planning and trade-offs.
        PlanningTradeOffs,
        /// Measurement and dashboards.
        MeasurementDashboards,
        /// Governance and cadence.
        GovernanceCadence,
        /// Culture and behaviours.
        CultureBehaviours,
    }
}

/// A guard's verdict.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum GuardStatus {
    /// The guard's goal is not ACTIVE; the guard does not apply.
    Inactive,
    /// No value recorded for the metric yet.
    NoData,
    /// The metric is on the right side of the threshold.
    Holds,
    /// The metric is past the threshold.
    Violated,
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

async fn people(ctx: &Context<'_>, ids: &[Uuid]) -> ApiResult<Vec<PersonObject>> {
    let s = session(ctx)?;
    let found = s
        .loaders
        .people
        .load_many(ids.iter().copied())
        .await
        .map_err(loader_error)?;
    let mut list: Vec<PersonObject> = found.into_values().map(PersonObject).collect();
    list.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    Ok(list)
}

async fn history(
    ctx: &Context<'_>,
    id: Uuid,
    first: Option<i32>,
    after: Option<String>,
) -> ApiResult<AuditEventConnection> {
    let s = session(ctx)?;
    let lim = limits(ctx);
    let page =
        PageArgs::new(first, after, None, None).page(lim.max_page_size, lim.default_page_size)?;
    let filter = AuditFilter {
        entity_id: Some(id.to_string()),
        ..AuditFilter::default()
    };
    let slice = s
        .tenant
        .audit_events(&filter, page)
        .await
        .map_err(ApiError::from)?;
    Ok(AuditEventConnection::from_slice(slice, AuditEventObject))
}

/// A review forum that meets on a cadence to review customer and financial health together.
#[derive(Clone)]
pub struct ForumObject(pub Forum);

/// A review forum that meets on a cadence to review customer and financial health together.
#[Object(name = "Forum")]
impl ForumObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id("Forum", self.0.id)
    }

    /// Name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// How often it meets.
    async fn cadence(&self) -> Cadence {
        self.0.cadence.into()
    }

    /// When it was set up; its first session is due one cadence later.
    async fn set_up_on(&self) -> Date {
        self.0.set_up_on.into()
    }

    /// Members.
    async fn members(&self, ctx: &Context<'_>) -> ApiResult<Vec<PersonObject>> {
        people(ctx, &self.0.members).await
    }

    /// Its sessions, newest first.
    async fn sessions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<ReviewSessionConnection> {
        let s = session(ctx)?;
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, None, None)
            .page(lim.max_page_size, lim.default_page_size)?;
        let all = s.governance().await?;
        let mine: Vec<ReviewSession> = all
            .sessions
            .iter()
            .filter(|r| r.forum_id == self.0.id)
            .cloned()
            .collect();
        Ok(ReviewSessionConnection::from_slice(
            page.slice(mine),
            ReviewSessionObject,
        ))
    }

    /// When the last session was held.
    async fn last_session_on(&self, ctx: &Context<'_>) -> ApiResult<Option<Date>> {
        Ok(last_session(session(ctx)?, self.0.id)
            .await?
            .map(Into::into))
    }

    /// When the next session is due.
    async fn next_session_due(&self, ctx: &Context<'_>) -> ApiResult<Date> {
        let last = last_session(session(ctx)?, self.0.id).await?;
        Ok(
            rules::next_session(self.0.cadence, last, self.0.set_up_on, today())
                .0
                .into(),
        )
    }

    /// Whether the next session is past due today.
    async fn overdue(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        let last = last_session(session(ctx)?, self.0.id).await?;
        Ok(rules::next_session(self.0.cadence, last, self.0.set_up_on, today()).1)
    }
}

async fn last_session(s: &Session, forum: Uuid) -> Result<Option<NaiveDate>, ApiError> {
    Ok(s.governance()
        .await?
        .sessions
        .iter()
        .filter(|r| r.forum_id == forum)
        .map(|r| r.held_on)
        .max())
}

/// A review session: when a forum met, who came, what was reviewed.
#[derive(Clone)]
pub struct ReviewSessionObject(pub ReviewSession);

/// A review session: when a forum met, who came, what was reviewed.
#[Object(name = "ReviewSession")]
impl ReviewSessionObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id("ReviewSession", self.0.id)
    }

    /// The forum.
    async fn forum(&self, ctx: &Context<'_>) -> ApiResult<Option<ForumObject>> {
        let s = session(ctx)?;
        Ok(s.governance()
            .await?
            .forums
            .iter()
            .find(|f| f.id == self.0.forum_id)
            .cloned()
            .map(ForumObject))
    }

    /// When it was held.
    async fn held_on(&self) -> Date {
        self.0.held_on.into()
    }

    /// Notes.
    async fn notes(&self) -> Option<&str> {
        self.0.notes.as_deref()
    }

    /// Dashboards used in the session, by name.
    async fn dashboards_used(&self) -> &[String] {
        &self.0.dashboards_used
    }

    /// Who attended.
    async fn attendees(&self, ctx: &Context<'_>) -> ApiResult<Vec<PersonObject>> {
        people(ctx, &self.0.attendees).await
    }

    /// Goals reviewed.
    async fn goals(&self, ctx: &Context<'_>) -> ApiResult<Vec<GoalObject>> {
        let s = session(ctx)?;
        let found = s
            .loaders
            .goals
            .load_many(self.0.goal_ids.iter().copied())
            .await
            .map_err(loader_error)?;
        let mut list: Vec<GoalObject> = found.into_values().map(GoalObject).collect();
        list.sort_by(|a, b| a.0.title.cmp(&b.0.title).then(a.0.id.cmp(&b.0.id)));
        Ok(list)
    }

    /// Scorecards reviewed.
    async fn scorecards(&self, ctx: &Context<'_>) -> ApiResult<Vec<ScorecardObject>> {
        let s = session(ctx)?;
        let found = s
            .loaders
            .scorecards
            .load_many(self.0.scorecard_ids.iter().copied())
            .await
            .map_err(loader_error)?;
        let mut list: Vec<ScorecardObject> = found.into_values().map(ScorecardObject).collect();
        list.sort_by(|a, b| a.0.name.cmp(&b.0.name).then(a.0.id.cmp(&b.0.id)));
        Ok(list)
    }

    /// Who recorded it.
    async fn recorded_by(&self) -> &str {
        &self.0.created_by
    }
}

/// A machine-checkable guard: "metric X stays at or above (or at or below) Y while goal Z is ACTIVE".
#[derive(Clone)]
pub struct GuardObject(Guard);

/// A machine-checkable guard: "metric X stays at or above (or at or below) Y while goal Z is ACTIVE".
#[Object(name = "Guard")]
impl GuardObject {
    /// The metric watched.
    async fn metric(&self, ctx: &Context<'_>) -> ApiResult<Option<MetricObject>> {
        Ok(session(ctx)?
            .loaders
            .metric(self.0.metric_id)
            .await?
            .map(MetricObject))
    }

    /// Which side of the threshold it must stay on.
    async fn comparator(&self) -> Comparator {
        self.0.comparator.into()
    }

    /// The threshold.
    async fn threshold(&self) -> Decimal {
        self.0.threshold.into()
    }

    /// The goal whose being ACTIVE switches the guard on.
    async fn goal(&self, ctx: &Context<'_>) -> ApiResult<Option<GoalObject>> {
        Ok(session(ctx)?
            .loaders
            .goals
            .load_one(self.0.goal_id)
            .await
            .map_err(loader_error)?
            .map(GoalObject))
    }
}

/// A documented trade-off rule, so trade-offs are settled by rule rather than by who shouts loudest.
#[derive(Clone)]
pub struct TradeOffRuleObject(pub TradeOffRule);

/// A documented trade-off rule, so trade-offs are settled by rule rather than by who shouts loudest.
#[Object(name = "TradeOffRule")]
impl TradeOffRuleObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id("TradeOffRule", self.0.id)
    }

    /// Acceptable or unacceptable.
    async fn kind(&self) -> RuleKind {
        self.0.kind.into()
    }

    /// The rule in words.
    async fn statement(&self) -> &str {
        &self.0.statement
    }

    /// Its owner.
    async fn owner(&self, ctx: &Context<'_>) -> ApiResult<Option<PersonObject>> {
        let Some(id) = self.0.owner_person_id else {
            return Ok(None);
        };
        Ok(session(ctx)?
            .loaders
            .people
            .load_one(id)
            .await
            .map_err(loader_error)?
            .map(PersonObject))
    }

    /// Its guard, if it has one.
    async fn guard(&self) -> Option<GuardObject> {
        self.0.guard.map(GuardObject)
    }

    /// Every change to the rule, newest first.
    async fn history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<AuditEventConnection> {
        history(ctx, self.0.id, first, after).await
    }
}

/// A guard checked against the latest observation.
#[derive(SimpleObject)]
pub struct GuardCheck {
    /// The rule.
    pub rule: TradeOffRuleObject,
    /// The verdict.
    pub status: GuardStatus,
    /// The metric's latest value (organization total).
    pub latest_value: Option<Decimal>,
    /// The threshold.
    pub threshold: Decimal,
    /// How far past the threshold, when violated.
    pub gap: Option<Decimal>,
}

/// A decision, with the rules applied and whether it escalated.
#[derive(Clone)]
pub struct DecisionObject(pub Decision);

/// A decision, with the rules applied and whether it escalated.
#[Object(name = "Decision")]
impl DecisionObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id("Decision", self.0.id)
    }

    /// Short title.
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// The situation.
    async fn context(&self) -> &str {
        &self.0.context
    }

    /// Options considered.
    async fn options(&self) -> &[String] {
        &self.0.options
    }

    /// What was decided.
    async fn outcome(&self) -> &str {
        &self.0.outcome
    }

    /// Whether it was escalated.
    async fn escalated(&self) -> bool {
        self.0.escalated
    }

    /// Whether an agreed rule resolved it.
    async fn resolved_by_rule(&self) -> bool {
        self.0.resolved_by_rule
    }

    /// When it was decided.
    async fn decided_on(&self) -> Date {
        self.0.decided_on.into()
    }

    /// The session it was taken in.
    async fn session(&self, ctx: &Context<'_>) -> ApiResult<Option<ReviewSessionObject>> {
        let Some(id) = self.0.session_id else {
            return Ok(None);
        };
        let s = session(ctx)?;
        Ok(s.governance()
            .await?
            .sessions
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .map(ReviewSessionObject))
    }

    /// Rules applied.
    async fn rules(&self, ctx: &Context<'_>) -> ApiResult<Vec<TradeOffRuleObject>> {
        let s = session(ctx)?;
        let all = &s.governance().await?.rules;
        Ok(all
            .iter()
            .filter(|r| self.0.rule_ids.contains(&r.id))
            .cloned()
            .map(TradeOffRuleObject)
            .collect())
    }

    /// Who logged it.
    async fn logged_by(&self) -> &str {
        &self.0.created_by
    }

    /// Every change to the decision, newest first.
    async fn history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<AuditEventConnection> {
        history(ctx, self.0.id, first, after).await
    }
}

/// A figure the platform computes itself for a capability.
#[derive(SimpleObject)]
pub struct PlatformFigure {
    /// What the figure is.
    pub name: String,
    /// Its value; null when it cannot be computed yet.
    pub value: Option<Decimal>,
    /// How it was computed, or why it is missing.
    pub note: String,
}

/// A capability's maturity: the latest assessment and the platform's own figure.
#[derive(SimpleObject)]
pub struct CapabilityMaturity {
    /// The capability.
    pub capability: Capability,
    /// Latest assessed level, 1 (ad hoc) to 5 (integrated); null when never assessed.
    pub level: Option<i32>,
    /// The owner of the capability.
    pub owner: Option<PersonObject>,
    /// Evidence given with the latest assessment.
    pub evidence: Option<String>,
    /// When it was last assessed.
    pub assessed_on: Option<Date>,
    /// The figure the platform computes for it.
    pub figure: PlatformFigure,
}

connection!(
    ForumConnection,
    ForumEdge,
    ForumObject,
    "A page of forums.",
    "A forum with its cursor."
);
connection!(
    ReviewSessionConnection,
    ReviewSessionEdge,
    ReviewSessionObject,
    "A page of review sessions.",
    "A review session with its cursor."
);
connection!(
    TradeOffRuleConnection,
    TradeOffRuleEdge,
    TradeOffRuleObject,
    "A page of trade-off rules.",
    "A trade-off rule with its cursor."
);
connection!(
    DecisionConnection,
    DecisionEdge,
    DecisionObject,
    "A page of decisions.",
    "A decision with its cursor."
);

/// Forums, sessions and rules of the organization, read once per request.
pub struct GovernanceData {
    /// Forums.
    pub forums: Vec<Forum>,
    /// Sessions, newest first.
    pub sessions: Vec<ReviewSession>,
    /// Rules, oldest first.
    pub rules: Vec<TradeOffRule>,
}

impl Session {
    /// The organization's governance data (three statements, once per request).
    pub async fn governance(&self) -> Result<&GovernanceData, ApiError> {
        self.governance
            .get_or_try_init(|| async {
                Ok::<_, ApiError>(GovernanceData {
                    forums: self.tenant.forums().await?,
                    sessions: self.tenant.review_sessions().await?,
                    rules: self.tenant.trade_off_rules().await?,
                })
            })
            .await
    }
}

/// Governance queries.
#[derive(Default)]
pub struct GovernanceQuery;

#[Object]
impl GovernanceQuery {
    /// Review forums, by name.
    async fn forums(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<ForumConnection> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, None, None)
            .page(lim.max_page_size, lim.default_page_size)?;
        Ok(ForumConnection::from_slice(
            page.slice(s.governance().await?.forums.clone()),
            ForumObject,
        ))
    }

    /// Trade-off rules, oldest first.
    async fn trade_off_rules(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<TradeOffRuleConnection> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, None, None)
            .page(lim.max_page_size, lim.default_page_size)?;
        Ok(TradeOffRuleConnection::from_slice(
            page.slice(s.governance().await?.rules.clone()),
            TradeOffRuleObject,
        ))
    }

    /// Every guard evaluated against the latest observations (organization totals). With
    /// `onlyViolations` (the default), only the violated ones, with the numbers behind each.
    async fn guard_checks(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = true, desc = "Only violated guards.")] only_violations: bool,
    ) -> ApiResult<Vec<GuardCheck>> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let guarded: Vec<TradeOffRule> = s
            .governance()
            .await?
            .rules
            .iter()
            .filter(|r| r.guard.is_some())
            .cloned()
            .collect();
        let wanted: Vec<(Uuid, Option<Uuid>)> = guarded
            .iter()
            .filter_map(|r| r.guard.map(|g| (g.metric_id, None)))
            .collect();
        // Any period start a pipeline may record; both backends compare these dates exactly.
        let far_past = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or_default();
        let far_future = NaiveDate::from_ymd_opt(2200, 12, 31).unwrap_or_default();
        let latest = s
            .tenant
            .latest_values(&wanted, far_past, far_future)
            .await
            .map_err(ApiError::from)?;
        let goals = s
            .loaders
            .goals
            .load_many(guarded.iter().filter_map(|r| r.guard.map(|g| g.goal_id)))
            .await
            .map_err(loader_error)?;
        let mut out = Vec::new();
        for rule in guarded {
            let Some(g) = rule.guard else { continue };
            let active = goals
                .get(&g.goal_id)
                .is_some_and(|goal| goal.status == GoalStatus::Active);
            let value = latest.get(&(g.metric_id, None)).copied();
            let verdict = rules::evaluate_guard(g.comparator, g.threshold, active, value);
            let (status, gap) = match verdict {
                GuardVerdict::Inactive => (GuardStatus::Inactive, None),
                GuardVerdict::NoData => (GuardStatus::NoData, None),
                GuardVerdict::Holds => (GuardStatus::Holds, None),
                GuardVerdict::Violated { gap } => (GuardStatus::Violated, Some(gap)),
            };
            if only_violations && status != GuardStatus::Violated {
                continue;
            }
            out.push(GuardCheck {
                rule: TradeOffRuleObject(rule),
                status,
                latest_value: value.map(Into::into),
                threshold: g.threshold.into(),
                gap: gap.map(Into::into),
            });
        }
        Ok(out)
    }

    /// Decisions, newest first; optionally only escalated (or not) ones, or one session's.
    async fn decisions(
        &self,
        ctx: &Context<'_>,
        escalated: Option<bool>,
        session_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<DecisionConnection> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, None, None)
            .page(lim.max_page_size, lim.default_page_size)?;
        let session_id = session_id
            .as_ref()
            .map(|id| expect_global_id(id, "ReviewSession", "sessionId"))
            .transpose()?;
        let slice = s
            .tenant
            .decisions(escalated, session_id, page)
            .await
            .map_err(ApiError::from)?;
        Ok(DecisionConnection::from_slice(slice, DecisionObject))
    }

    /// The six capabilities with their latest assessment and the figure the platform
    /// computes itself for each.
    async fn maturity(&self, ctx: &Context<'_>) -> ApiResult<Vec<CapabilityMaturity>> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let latest = s
            .tenant
            .latest_assessments()
            .await
            .map_err(ApiError::from)?;
        let figures = platform_figures(s).await?;
        let owners: Vec<Uuid> = latest.values().filter_map(|a| a.owner_person_id).collect();
        let people = s
            .loaders
            .people
            .load_many(owners)
            .await
            .map_err(loader_error)?;
        let mut out = Vec::new();
        for capability in DomainCapability::ALL {
            let a = latest.get(capability);
            out.push(CapabilityMaturity {
                capability: (*capability).into(),
                level: a.map(|a| i32::from(a.level.value())),
                owner: a
                    .and_then(|a| a.owner_person_id)
                    .and_then(|p| people.get(&p).cloned())
                    .map(PersonObject),
                evidence: a.and_then(|a| a.evidence.clone()),
                assessed_on: a.map(|a| a.assessed_on.into()),
                figure: figures.get(capability).map_or_else(
                    || PlatformFigure {
                        name: "none".into(),
                        value: None,
                        note: "no platform figure for this capability".into(),
                    },
                    |f| PlatformFigure {
                        name: f.0.clone(),
                        value: f.1.map(Into::into),
                        note: f.2.clone(),
                    },
                ),
            });
        }
        Ok(out)
    }
}

type Figure = (String, Option<rust_decimal::Decimal>, String);

/// The KPIs the platform computes itself, by capability.
async fn platform_figures(s: &Session) -> Result<HashMap<DomainCapability, Figure>, ApiError> {
    let mut out = HashMap::new();
    // Balanced roles, judged exactly as `roleBalance` judges them.
    let report = crate::scorecards::role_balance_report(s).await?;
    let (balanced, roles) = (report.balanced(), report.roles());
    out.insert(
        DomainCapability::ScorecardsIncentives,
        (
            "% of roles with balanced KPIs".to_owned(),
            rules::share(balanced, roles),
            format!("{balanced} of {roles} active roles"),
        ),
    );
    // Decisions resolved by rule.
    let (escalated, by_rule) = s.tenant.escalation_counts().await?;
    out.insert(
        DomainCapability::PlanningTradeOffs,
        (
            "share of escalated decisions resolved by an agreed rule".to_owned(),
            rules::share(by_rule, escalated),
            format!("{by_rule} of {escalated} escalated decisions"),
        ),
    );
    // Review cadence and dashboard use over the last year.
    let g = s.governance().await?;
    let year_ago = today() - chrono::Days::new(365);
    let recent: Vec<&ReviewSession> = g.sessions.iter().filter(|r| r.held_on > year_ago).collect();
    let per_quarter = rules::sessions_per_quarter(recent.len(), g.forums.len());
    out.insert(
        DomainCapability::GovernanceCadence,
        (
            "review sessions per quarter per forum".to_owned(),
            per_quarter,
            format!(
                "{} sessions of {} forums in the last 365 days",
                recent.len(),
                g.forums.len()
            ),
        ),
    );
    let with_dashboard = recent
        .iter()
        .filter(|r| !r.dashboards_used.is_empty())
        .count();
    out.insert(
        DomainCapability::MeasurementDashboards,
        (
            "share of review sessions that used a dashboard".to_owned(),
            rules::share(with_dashboard, recent.len()),
            format!(
                "{with_dashboard} of {} sessions in the last 365 days",
                recent.len()
            ),
        ),
    );
    // Net revenue retention over the last twelve months, from the MRR movements.
    let (from, to) = (
        today() - chrono::Days::new(365),
        today() - chrono::Days::new(1),
    );
    let flows = s.tenant.revenue_flows(&[from], to).await?;
    let nrr = tandem_domain::revenue::retention_series(&flows, 1).pop();
    let (value, note) = match nrr {
        Some(r) if r.nrr.is_some() => (
            r.nrr,
            format!(
                "accounts paying on {from}: starting MRR {}, expansion {}, contraction {}, churn {} up to {to}",
                r.starting, r.expansion, r.contraction, r.churn
            ),
        ),
        Some(r) => (None, r.reason.unwrap_or_default()),
        None => (None, "no revenue movements".to_owned()),
    };
    out.insert(
        DomainCapability::StrategyNarrative,
        (
            "net revenue retention, last 12 months".to_owned(),
            value,
            note,
        ),
    );
    Ok(out)
}

/// A forum to create.
#[derive(InputObject)]
pub struct CreateForumInput {
    /// Name.
    pub name: String,
    /// How often it meets.
    pub cadence: Cadence,
    /// When it was set up (default today).
    pub set_up_on: Option<Date>,
    /// Members (HR ids).
    #[graphql(default)]
    pub member_external_ids: Vec<String>,
}

/// A review session to record.
#[derive(InputObject)]
pub struct RecordReviewSessionInput {
    /// The forum.
    pub forum_id: ID,
    /// When it was held.
    pub held_on: Date,
    /// Attendees (HR ids).
    #[graphql(default)]
    pub attendee_external_ids: Vec<String>,
    /// Goals reviewed.
    #[graphql(default)]
    pub goal_ids: Vec<ID>,
    /// Scorecards reviewed.
    #[graphql(default)]
    pub scorecard_ids: Vec<ID>,
    /// Dashboards used, by name.
    #[graphql(default)]
    pub dashboards_used: Vec<String>,
    /// Notes.
    pub notes: Option<String>,
}

/// A guard to attach to a rule.
#[derive(InputObject)]
pub struct GuardInput {
    /// The metric watched.
    pub metric_key: String,
    /// Which side of the threshold it must stay on.
    pub comparator: Comparator,
    /// The threshold.
    pub threshold: Decimal,
    /// The goal whose being ACTIVE switches the guard on.
    pub goal_id: ID,
}

/// A trade-off rule to write.
#[derive(InputObject)]
pub struct DefineTradeOffRuleInput {
    /// Acceptable or unacceptable.
    pub kind: RuleKind,
    /// The rule in words.
    pub statement: String,
    /// Owner (HR id).
    pub owner_external_id: Option<String>,
    /// Optional guard.
    pub guard: Option<GuardInput>,
}

/// Changes to a trade-off rule; omitted fields stay, null clears the owner or the guard.
#[derive(InputObject)]
pub struct UpdateTradeOffRuleInput {
    /// The rule.
    pub id: ID,
    /// New kind.
    pub kind: Option<RuleKind>,
    /// New wording.
    pub statement: Option<String>,
    /// New owner (HR id); null clears it.
    pub owner_external_id: async_graphql::MaybeUndefined<String>,
    /// New guard; null removes it.
    pub guard: async_graphql::MaybeUndefined<GuardInput>,
}

/// A revision of a decision; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateDecisionInput {
    /// The decision.
    pub id: ID,
    /// New outcome.
    pub outcome: Option<String>,
    /// Whether it was escalated.
    pub escalated: Option<bool>,
    /// Whether an agreed rule resolved it.
    pub resolved_by_rule: Option<bool>,
    /// Rules applied (replaces the list).
    pub rule_ids: Option<Vec<ID>>,
}

/// A decision to log.
#[derive(InputObject)]
pub struct LogDecisionInput {
    /// Short title.
    pub title: String,
    /// The situation.
    pub context: String,
    /// Options considered.
    #[graphql(default)]
    pub options: Vec<String>,
    /// What was decided.
    pub outcome: String,
    /// Rules applied.
    #[graphql(default)]
    pub rule_ids: Vec<ID>,
    /// Whether it was escalated.
    #[graphql(default)]
    pub escalated: bool,
    /// Whether an agreed rule resolved it.
    #[graphql(default)]
    pub resolved_by_rule: bool,
    /// The session it was taken in.
    pub session_id: Option<ID>,
    /// When it was decided (default today).
    pub decided_on: Option<Date>,
}

/// A maturity assessment.
#[derive(InputObject)]
pub struct AssessCapabilityInput {
    /// The capability.
    pub capability: Capability,
    /// Level 1 (ad hoc) to 5 (integrated).
    pub level: i32,
    /// The capability's owner (HR id).
    pub owner_external_id: Option<String>,
    /// Evidence.
    pub evidence: Option<String>,
    /// When assessed (default today).
    pub assessed_on: Option<Date>,
}

/// The forum created.
#[derive(SimpleObject)]
pub struct ForumPayload {
    /// The forum.
    pub forum: ForumObject,
}

/// The session recorded.
#[derive(SimpleObject)]
pub struct ReviewSessionPayload {
    /// The session.
    pub session: ReviewSessionObject,
}

/// The rule written.
#[derive(SimpleObject)]
pub struct TradeOffRulePayload {
    /// The rule.
    pub rule: TradeOffRuleObject,
}

/// The decision logged.
#[derive(SimpleObject)]
pub struct DecisionPayload {
    /// The decision.
    pub decision: DecisionObject,
}

/// The assessment recorded.
#[derive(SimpleObject)]
pub struct AssessCapabilityPayload {
    /// Level recorded.
    pub level: i32,
    /// The capability.
    pub capability: Capability,
}

fn text(raw: &str, max: usize, field: &str) -> Result<String, ApiError> {
    parse_text(raw, max, true).map_err(|e| ApiError::bad_input(field, e.message))
}

fn optional_date(d: Option<&Date>, field: &str) -> Result<NaiveDate, ApiError> {
    d.map_or_else(|| Ok(today()), |d| d.at(field))
}

async fn person_ids(s: &Session, ext_ids: &[String], field: &str) -> Result<Vec<Uuid>, ApiError> {
    let mut out = Vec::with_capacity(ext_ids.len());
    for (i, ext) in ext_ids.iter().enumerate() {
        let p = s
            .tenant
            .person_by_external_id(ext.trim())
            .await?
            .ok_or_else(|| {
                ApiError::bad_input(format!("{field}[{i}]"), format!("no person `{ext}`"))
            })?;
        out.push(p.id);
    }
    Ok(out)
}

/// One person by HR id; a problem at `field` itself (not at an index) when unknown.
async fn person_id(s: &Session, ext_id: &str, field: &str) -> Result<Uuid, ApiError> {
    Ok(s.tenant
        .person_by_external_id(ext_id.trim())
        .await?
        .ok_or_else(|| ApiError::bad_input(field, format!("no person `{ext_id}`")))?
        .id)
}

/// Resolves a guard's metric key and goal id.
async fn guard_of(s: &Session, g: &GuardInput) -> Result<Guard, ApiError> {
    let unknown = || {
        ApiError::bad_input(
            "input.guard.metricKey",
            format!("no metric with key `{}`", g.metric_key),
        )
    };
    let key = MetricKey::parse(&g.metric_key).map_err(|_| unknown())?;
    let metric = s
        .tenant
        .metric_by_key(&key)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(unknown)?;
    Ok(Guard {
        metric_id: metric.id,
        comparator: g.comparator.into(),
        threshold: g
            .threshold
            .checked()
            .map_err(|m| ApiError::bad_input("input.guard.threshold", m))?,
        goal_id: expect_global_id(&g.goal_id, "Goal", "input.guard.goalId")?,
    })
}

fn ids(list: &[ID], kind: &str, field: &str) -> Result<Vec<Uuid>, ApiError> {
    list.iter()
        .enumerate()
        .map(|(i, id)| expect_global_id(id, kind, &format!("{field}[{i}]")))
        .collect()
}

/// Governance changes (admin, executive).
#[derive(Default)]
pub struct GovernanceMutation;

#[Object]
impl GovernanceMutation {
    /// Creates a review forum.
    async fn create_forum(
        &self,
        ctx: &Context<'_>,
        input: CreateForumInput,
    ) -> ApiResult<ForumPayload> {
        let s = authorized(ctx, Permission::ManageGovernance)?;
        let name = text(&input.name, 200, "input.name")?;
        let set_up = optional_date(input.set_up_on.as_ref(), "input.setUpOn")?;
        let members = person_ids(s, &input.member_external_ids, "input.memberExternalIds").await?;
        let forum = s
            .tenant
            .create_forum(
                &Actor(s.caller.subject.clone()),
                &name,
                input.cadence.into(),
                set_up,
                &members,
            )
            .await
            .map_err(ApiError::from)?;
        Ok(ForumPayload {
            forum: ForumObject(forum),
        })
    }

    /// Records a review session of a forum.
    async fn record_review_session(
        &self,
        ctx: &Context<'_>,
        input: RecordReviewSessionInput,
    ) -> ApiResult<ReviewSessionPayload> {
        let s = authorized(ctx, Permission::ManageGovernance)?;
        let new = NewSession {
            forum_id: expect_global_id(&input.forum_id, "Forum", "input.forumId")?,
            held_on: {
                let held_on = input.held_on.at("input.heldOn")?;
                if held_on > today() {
                    return Err(ApiError::bad_input(
                        "input.heldOn",
                        "a session is recorded once it has been held, not before",
                    )
                    .into());
                }
                held_on
            },
            notes: input
                .notes
                .as_deref()
                .map(|n| parse_text(n, 20_000, false))
                .transpose()
                .map_err(|e| ApiError::bad_input("input.notes", e.message))?,
            dashboards_used: input
                .dashboards_used
                .iter()
                .enumerate()
                .map(|(i, d)| text(d, 200, &format!("input.dashboardsUsed[{i}]")))
                .collect::<Result<_, _>>()?,
            attendees: person_ids(s, &input.attendee_external_ids, "input.attendeeExternalIds")
                .await?,
            goal_ids: ids(&input.goal_ids, "Goal", "input.goalIds")?,
            scorecard_ids: ids(&input.scorecard_ids, "Scorecard", "input.scorecardIds")?,
        };
        let session = s
            .tenant
            .record_session(&Actor(s.caller.subject.clone()), new)
            .await
            .map_err(ApiError::from)?;
        Ok(ReviewSessionPayload {
            session: ReviewSessionObject(session),
        })
    }

    /// Writes a trade-off rule, optionally with a guard the platform checks.
    async fn define_trade_off_rule(
        &self,
        ctx: &Context<'_>,
        input: DefineTradeOffRuleInput,
    ) -> ApiResult<TradeOffRulePayload> {
        let s = authorized(ctx, Permission::ManageGovernance)?;
        let statement = text(&input.statement, 2_000, "input.statement")?;
        let owner = match &input.owner_external_id {
            None => None,
            Some(ext) => Some(person_id(s, ext, "input.ownerExternalId").await?),
        };
        let guard = match &input.guard {
            None => None,
            Some(g) => Some(guard_of(s, g).await?),
        };
        let rule = s
            .tenant
            .define_rule(
                &Actor(s.caller.subject.clone()),
                input.kind.into(),
                &statement,
                owner,
                guard,
            )
            .await
            .map_err(ApiError::from)?;
        Ok(TradeOffRulePayload {
            rule: TradeOffRuleObject(rule),
        })
    }

    /// Changes a trade-off rule; every change is kept in its `history`.
    async fn update_trade_off_rule(
        &self,
        ctx: &Context<'_>,
        input: UpdateTradeOffRuleInput,
    ) -> ApiResult<TradeOffRulePayload> {
        let s = authorized(ctx, Permission::ManageGovernance)?;
        let id = expect_global_id(&input.id, "TradeOffRule", "input.id")?;
        let statement = input
            .statement
            .as_deref()
            .map(|t| text(t, 2_000, "input.statement"))
            .transpose()?;
        let owner = match &input.owner_external_id {
            async_graphql::MaybeUndefined::Undefined => None,
            async_graphql::MaybeUndefined::Null => Some(None),
            async_graphql::MaybeUndefined::Value(ext) => {
                Some(Some(person_id(s, ext, "input.ownerExternalId").await?))
            }
        };
        let guard = match &input.guard {
            async_graphql::MaybeUndefined::Undefined => None,
            async_graphql::MaybeUndefined::Null => Some(None),
            async_graphql::MaybeUndefined::Value(g) => Some(Some(guard_of(s, g).await?)),
        };
        let rule = s
            .tenant
            .update_rule(
                &Actor(s.caller.subject.clone()),
                id,
                input.kind.map(Into::into),
                statement,
                owner,
                guard,
            )
            .await
            .map_err(ApiError::from)?;
        Ok(TradeOffRulePayload {
            rule: TradeOffRuleObject(rule),
        })
    }

    /// Revises a decision's outcome, escalation or rules; every change is kept in its `history`.
    async fn update_decision(
        &self,
        ctx: &Context<'_>,
        input: UpdateDecisionInput,
    ) -> ApiResult<DecisionPayload> {
        let s = authorized(ctx, Permission::ManageGovernance)?;
        let id = expect_global_id(&input.id, "Decision", "input.id")?;
        let outcome = input
            .outcome
            .as_deref()
            .map(|o| text(o, 20_000, "input.outcome"))
            .transpose()?;
        let rule_ids = input
            .rule_ids
            .as_deref()
            .map(|r| ids(r, "TradeOffRule", "input.ruleIds"))
            .transpose()?;
        let decision = s
            .tenant
            .update_decision(
                &Actor(s.caller.subject.clone()),
                id,
                outcome,
                input.escalated,
                input.resolved_by_rule,
                rule_ids,
            )
            .await
            .map_err(ApiError::from)?;
        Ok(DecisionPayload {
            decision: DecisionObject(decision),
        })
    }

    /// Logs a decision.
    async fn log_decision(
        &self,
        ctx: &Context<'_>,
        input: LogDecisionInput,
    ) -> ApiResult<DecisionPayload> {
        let s = authorized(ctx, Permission::ManageGovernance)?;
        let new = NewDecision {
            title: text(&input.title, 300, "input.title")?,
            context: text(&input.context, 20_000, "input.context")?,
            options: input
                .options
                .iter()
                .enumerate()
                .map(|(i, o)| text(o, 2_000, &format!("input.options[{i}]")))
                .collect::<Result<_, _>>()?,
            outcome: text(&input.outcome, 20_000, "input.outcome")?,
            escalated: input.escalated,
            resolved_by_rule: input.resolved_by_rule,
            session_id: input
                .session_id
                .as_ref()
                .map(|id| expect_global_id(id, "ReviewSession", "input.sessionId"))
                .transpose()?,
            decided_on: optional_date(input.decided_on.as_ref(), "input.decidedOn")?,
            rule_ids: ids(&input.rule_ids, "TradeOffRule", "input.ruleIds")?,
        };
        let decision = s
            .tenant
            .log_decision(&Actor(s.caller.subject.clone()), new)
            .await
            .map_err(ApiError::from)?;
        Ok(DecisionPayload {
            decision: DecisionObject(decision),
        })
    }

    /// Records a maturity assessment of one capability.
    async fn assess_capability(
        &self,
        ctx: &Context<'_>,
        input: AssessCapabilityInput,
    ) -> ApiResult<AssessCapabilityPayload> {
        let s = authorized(ctx, Permission::ManageGovernance)?;
        let level = Level::parse(i64::from(input.level))
            .map_err(|e| ApiError::bad_input("input.level", e.message))?;
        let owner = match &input.owner_external_id {
            None => None,
            Some(ext) => Some(person_id(s, ext, "input.ownerExternalId").await?),
        };
        let evidence = input
            .evidence
            .as_deref()
            .map(|e| parse_text(e, 20_000, false))
            .transpose()
            .map_err(|e| ApiError::bad_input("input.evidence", e.message))?;
        let on = optional_date(input.assessed_on.as_ref(), "input.assessedOn")?;
        let a = s
            .tenant
            .assess(
                &Actor(s.caller.subject.clone()),
                input.capability.into(),
                level,
                owner,
                evidence,
                on,
            )
            .await
            .map_err(ApiError::from)?;
        Ok(AssessCapabilityPayload {
            level: i32::from(a.level.value()),
            capability: a.capability.into(),
        })
    }
}
