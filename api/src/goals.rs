//! Goals and OKRs over GraphQL: linked financial and customer goals, cascading trees,
//! objectives, key results and check-ins.

use std::collections::{HashMap, HashSet};

use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use tandem_domain::access::Permission;
use tandem_domain::goals::{GoalPeriod, GoalStatus as DomainStatus};
use tandem_domain::metrics::parse_text;
use tandem_domain::okrs::{self as okr_rules, Confidence, Span};
use tandem_persistence::{
    Actor, CheckIn, Goal, GoalFilter, GoalPatch, KeyResult, NewGoal, NewKeyResult, NewObjective,
    Objective, Ownership,
};
use uuid::Uuid;

use crate::dimensions::SegmentObject;
use crate::error::{ApiError, ApiResult};
use crate::graphql::enums::Perspective;
use crate::graphql::loaders::loader_error;
use crate::graphql::relay::{PageArgs, SyncArgs, connection, expect_global_id, global_id};
use crate::graphql::scalars::{Date, DateTime, Decimal};
use crate::graphql::{Session, authorized, limits, selects, session};
use crate::metrics::MetricObject;
use crate::people::{PersonObject, TeamObject};

/// Where a goal is in its life cycle.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum GoalStatus {
    /// Being written; may change freely.
    Draft,
    /// Committed and being worked on.
    Active,
    /// Reached.
    Achieved,
    /// Not reached by the end of its period.
    Missed,
    /// Dropped.
    Cancelled,
}

impl From<DomainStatus> for GoalStatus {
    fn from(s: DomainStatus) -> Self {
        match s {
            DomainStatus::Draft => GoalStatus::Draft,
            DomainStatus::Active => GoalStatus::Active,
            DomainStatus::Achieved => GoalStatus::Achieved,
            DomainStatus::Missed => GoalStatus::Missed,
            DomainStatus::Cancelled => GoalStatus::Cancelled,
        }
    }
}

impl From<GoalStatus> for DomainStatus {
    fn from(s: GoalStatus) -> Self {
        match s {
            GoalStatus::Draft => DomainStatus::Draft,
            GoalStatus::Active => DomainStatus::Active,
            GoalStatus::Achieved => DomainStatus::Achieved,
            GoalStatus::Missed => DomainStatus::Missed,
            GoalStatus::Cancelled => DomainStatus::Cancelled,
        }
    }
}

/// Where a key result's current value comes from.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum KeyResultSource {
    /// The latest observation of a metric in the objective's period.
    Metric,
    /// The latest manual check-in.
    CheckIn,
}

async fn owner_person(ctx: &Context<'_>, owner: Ownership) -> ApiResult<Option<PersonObject>> {
    let Ownership::Person(id) = owner else {
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

async fn owner_team(ctx: &Context<'_>, owner: Ownership) -> ApiResult<Option<TeamObject>> {
    let Ownership::Team(id) = owner else {
        return Ok(None);
    };
    Ok(session(ctx)?
        .loaders
        .teams
        .load_one(id)
        .await
        .map_err(loader_error)?
        .map(TeamObject))
}

/// A strategic outcome with a perspective, an owner, a period and a life cycle, cascaded
/// through parent goals and linked to the goals that drive it.
#[derive(Clone)]
pub struct GoalObject(pub Goal);

/// A strategic outcome with a perspective, an owner, a period and a life cycle, cascaded
/// through parent goals and linked to the goals that drive it.
#[Object(name = "Goal")]
impl GoalObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id("Goal", self.0.id)
    }

    /// What the goal is ("Grow NRR to 115% in FY27").
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// Why and how.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// Balanced-scorecard perspective.
    async fn perspective(&self) -> Perspective {
        self.0.perspective.into()
    }

    /// Life-cycle status.
    async fn status(&self) -> GoalStatus {
        self.0.status.into()
    }

    /// First day of the goal's period.
    async fn period_start(&self) -> Date {
        self.0.period.start().into()
    }

    /// Last day of the goal's period.
    async fn period_end(&self) -> Date {
        self.0.period.end().into()
    }

    /// The owning person, when a person owns it.
    async fn owner_person(&self, ctx: &Context<'_>) -> ApiResult<Option<PersonObject>> {
        owner_person(ctx, self.0.owner).await
    }

    /// The owning team, when a team owns it.
    async fn owner_team(&self, ctx: &Context<'_>) -> ApiResult<Option<TeamObject>> {
        owner_team(ctx, self.0.owner).await
    }

    /// The goal this one cascades from.
    async fn parent(&self, ctx: &Context<'_>) -> ApiResult<Option<GoalObject>> {
        let Some(id) = self.0.parent_id else {
            return Ok(None);
        };
        let s = session(ctx)?;
        Ok(s.loaders
            .goals
            .load_one(id)
            .await
            .map_err(loader_error)?
            .map(GoalObject))
    }

    /// Goals that cascade directly from this one, by title.
    async fn children(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<GoalConnection> {
        let s = session(ctx)?;
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, last, before)
            .page(lim.max_page_size, lim.default_page_size)?;
        let tree = s.goal_tree().await?;
        let children: Vec<Goal> = tree.children(self.0.id).into_iter().cloned().collect();
        Ok(GoalConnection::from_slice(page.slice(children), GoalObject))
    }

    /// The whole tree below this goal, to any depth, parents before children. The tree is read
    /// in one statement, and the objectives and key results of every goal in it in one batch
    /// each, whatever its size.
    async fn descendants(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<GoalTreeNodeConnection> {
        let s = session(ctx)?;
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, last, before)
            .page(lim.max_page_size, lim.default_page_size)?;
        let tree = s.goal_tree().await?;
        let nodes = tree.descendants(self.0.id);
        let slice = page.slice(nodes);
        let ids: Vec<Uuid> = slice.items.iter().map(|n| n.goal.0.id).collect();
        if selects(ctx, &["goal", "objectives"]) {
            prime_okrs(ctx, s, &ids, &["goal", "objectives"]).await?;
        }
        if selects(ctx, &["goal", "links"]) {
            s.loaders
                .goal_links
                .load_many(ids.iter().copied())
                .await
                .map_err(loader_error)?;
        }
        Ok(GoalTreeNodeConnection::from_slice(slice, |n| n))
    }

    /// Links to other goals, with the rationale for each.
    async fn links(&self, ctx: &Context<'_>) -> ApiResult<Vec<GoalLinkObject>> {
        Ok(links_of(ctx, self.0.id).await?)
    }

    /// Whether the goal is linked to at least one CUSTOMER goal (what a FINANCIAL goal needs
    /// before it can become ACTIVE).
    async fn has_customer_link(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        let links = links_of(ctx, self.0.id).await?;
        Ok(links
            .iter()
            .any(|l| l.goal.0.perspective == tandem_domain::metrics::Perspective::Customer))
    }

    /// Objectives aligned to this goal.
    async fn objectives(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<ObjectiveConnection> {
        let s = session(ctx)?;
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, last, before)
            .page(lim.max_page_size, lim.default_page_size)?;
        let list = s
            .loaders
            .objectives_of_goal
            .load_one(self.0.id)
            .await
            .map_err(loader_error)?
            .unwrap_or_default();
        Ok(ObjectiveConnection::from_slice(
            page.slice(list),
            ObjectiveObject,
        ))
    }

    /// Who created it.
    async fn created_by(&self) -> &str {
        &self.0.created_by
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

async fn links_of(ctx: &Context<'_>, goal: Uuid) -> Result<Vec<GoalLinkObject>, ApiError> {
    let s = session(ctx)?;
    let links = s
        .loaders
        .goal_links
        .load_one(goal)
        .await
        .map_err(loader_error)?
        .unwrap_or_default();
    let others = s
        .loaders
        .goals
        .load_many(links.iter().map(|l| l.other_goal_id))
        .await
        .map_err(loader_error)?;
    Ok(links
        .into_iter()
        .filter_map(|l| {
            others.get(&l.other_goal_id).map(|g| GoalLinkObject {
                goal: GoalObject(g.clone()),
                rationale: l.rationale,
                created_by: l.created_by,
                created_at: DateTime(l.created_at),
            })
        })
        .collect())
}

/// Loads objectives, key results, check-ins and metric values for a set of goals in one batch
/// per relation, as far as the selection under `prefix` asks for them.
async fn prime_okrs(
    ctx: &Context<'_>,
    s: &Session,
    goal_ids: &[Uuid],
    prefix: &[&str],
) -> Result<(), ApiError> {
    let objectives = s
        .loaders
        .objectives_of_goal
        .load_many(goal_ids.iter().copied())
        .await
        .map_err(loader_error)?;
    let mut path: Vec<&str> = prefix.to_vec();
    path.extend(["*", "keyResults"]);
    if !selects(ctx, &path) {
        return Ok(());
    }
    let objective_ids: Vec<Uuid> = objectives.values().flatten().map(|o| o.id).collect();
    let krs = s
        .loaders
        .key_results_of
        .load_many(objective_ids)
        .await
        .map_err(loader_error)?;
    let by_objective: HashMap<Uuid, &Objective> =
        objectives.values().flatten().map(|o| (o.id, o)).collect();
    let all: Vec<&KeyResult> = krs.values().flatten().collect();
    s.loaders
        .check_ins
        .load_many(all.iter().filter(|k| k.metric_id.is_none()).map(|k| k.id))
        .await
        .map_err(loader_error)?;
    let metric_keys: Vec<_> = all
        .iter()
        .filter_map(|k| {
            let o = by_objective.get(&k.objective_id)?;
            k.metric_id
                .map(|m| (m, k.segment_id, o.period.start(), o.period.end()))
        })
        .collect();
    s.loaders
        .latest_values
        .load_many(metric_keys)
        .await
        .map_err(loader_error)?;
    s.loaders
        .metrics_many(all.iter().filter_map(|k| k.metric_id))
        .await?;
    Ok(())
}

/// A link from one goal to another, with why they belong together.
#[derive(SimpleObject, Clone)]
pub struct GoalLinkObject {
    /// The goal at the other end.
    pub goal: GoalObject,
    /// Why the two goals belong together.
    pub rationale: String,
    /// Who linked them.
    pub created_by: String,
    /// When.
    pub created_at: DateTime,
}

/// A goal in a tree, with its depth below the goal the tree was read from (1 = child).
#[derive(SimpleObject, Clone)]
pub struct GoalTreeNode {
    /// The goal.
    pub goal: GoalObject,
    /// Depth below the root (1 = child, 2 = grandchild, ...).
    pub depth: i32,
    /// Global id of its parent.
    pub parent_id: ID,
}

/// Every goal of the organization, read once per request to answer tree queries.
pub struct GoalTree {
    goals: HashMap<Uuid, Goal>,
    children: HashMap<Uuid, Vec<Uuid>>,
}

impl GoalTree {
    /// Builds the tree from all goals.
    pub fn new(all: Vec<Goal>) -> Self {
        let mut children: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for g in &all {
            if let Some(p) = g.parent_id {
                children.entry(p).or_default().push(g.id);
            }
        }
        let goals: HashMap<Uuid, Goal> = all.into_iter().map(|g| (g.id, g)).collect();
        for list in children.values_mut() {
            list.sort_by(|a, b| goals[a].title.cmp(&goals[b].title).then(a.cmp(b)));
        }
        Self { goals, children }
    }

    fn children(&self, id: Uuid) -> Vec<&Goal> {
        self.children
            .get(&id)
            .into_iter()
            .flatten()
            .filter_map(|c| self.goals.get(c))
            .collect()
    }

    fn descendants(&self, root: Uuid) -> Vec<GoalTreeNode> {
        let mut out = Vec::new();
        let mut seen = HashSet::from([root]);
        let mut level = vec![root];
        let mut depth = 1;
        while !level.is_empty() {
            let mut next = Vec::new();
            for parent in level {
                for child in self.children(parent) {
                    if seen.insert(child.id) {
                        out.push(GoalTreeNode {
                            goal: GoalObject(child.clone()),
                            depth,
                            parent_id: global_id("Goal", parent),
                        });
                        next.push(child.id);
                    }
                }
            }
            level = next;
            depth += 1;
        }
        out
    }
}

/// An objective: a qualitative aim aligned to a goal, measured by its key results.
#[derive(Clone)]
pub struct ObjectiveObject(pub Objective);

/// An objective: a qualitative aim aligned to a goal, measured by its key results.
#[Object(name = "Objective")]
impl ObjectiveObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id("Objective", self.0.id)
    }

    /// What the objective is.
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// The goal it aligns to.
    async fn goal(&self, ctx: &Context<'_>) -> ApiResult<Option<GoalObject>> {
        let s = session(ctx)?;
        Ok(s.loaders
            .goals
            .load_one(self.0.goal_id)
            .await
            .map_err(loader_error)?
            .map(GoalObject))
    }

    /// The owning person.
    async fn owner_person(&self, ctx: &Context<'_>) -> ApiResult<Option<PersonObject>> {
        owner_person(ctx, self.0.owner).await
    }

    /// The owning team.
    async fn owner_team(&self, ctx: &Context<'_>) -> ApiResult<Option<TeamObject>> {
        owner_team(ctx, self.0.owner).await
    }

    /// First day of the period its key results are measured over.
    async fn period_start(&self) -> Date {
        self.0.period.start().into()
    }

    /// Last day of that period.
    async fn period_end(&self) -> Date {
        self.0.period.end().into()
    }

    /// Its key results, oldest first.
    async fn key_results(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<KeyResultConnection> {
        let s = session(ctx)?;
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, last, before)
            .page(lim.max_page_size, lim.default_page_size)?;
        let list = s
            .loaders
            .key_results_of
            .load_one(self.0.id)
            .await
            .map_err(loader_error)?
            .unwrap_or_default();
        let objective = self.0.clone();
        Ok(KeyResultConnection::from_slice(page.slice(list), |k| {
            KeyResultObject(k, objective.clone())
        }))
    }

    /// Weighted mean of its key results' progress (those with a current value), 0 to 1; null
    /// when none has a value.
    async fn progress(&self, ctx: &Context<'_>) -> ApiResult<Option<Decimal>> {
        let s = session(ctx)?;
        let list = s
            .loaders
            .key_results_of
            .load_one(self.0.id)
            .await
            .map_err(loader_error)?
            .unwrap_or_default();
        let mut parts = Vec::with_capacity(list.len());
        for kr in &list {
            let current = current_value(s, kr, &self.0).await?;
            parts.push((kr.weight, current.map(|c| kr.span.progress(c))));
        }
        Ok(okr_rules::objective_progress(&parts).map(Into::into))
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

async fn current_value(
    s: &Session,
    kr: &KeyResult,
    objective: &Objective,
) -> Result<Option<rust_decimal::Decimal>, ApiError> {
    match kr.metric_id {
        Some(metric) => s
            .loaders
            .latest_values
            .load_one((
                metric,
                kr.segment_id,
                objective.period.start(),
                objective.period.end(),
            ))
            .await
            .map_err(loader_error),
        None => Ok(s
            .loaders
            .check_ins
            .load_one(kr.id)
            .await
            .map_err(loader_error)?
            .and_then(|list| list.first().map(|c| c.value))),
    }
}

/// A key result: a measurable outcome from a baseline to a target.
#[derive(Clone)]
pub struct KeyResultObject(pub KeyResult, pub Objective);

/// A key result: a measurable outcome from a baseline to a target, followed through a metric
/// or through check-ins.
#[Object(name = "KeyResult")]
impl KeyResultObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id("KeyResult", self.0.id)
    }

    /// What is measured.
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// Its objective.
    async fn objective(&self) -> ObjectiveObject {
        ObjectiveObject(self.1.clone())
    }

    /// Where the starting point is.
    async fn baseline(&self) -> Decimal {
        self.0.span.baseline().into()
    }

    /// Where it should get to (may be below the baseline).
    async fn target(&self) -> Decimal {
        self.0.span.target().into()
    }

    /// Weight in its objective's progress.
    async fn weight(&self) -> Decimal {
        self.0.weight.into()
    }

    /// Where the current value comes from.
    async fn source(&self) -> KeyResultSource {
        if self.0.metric_id.is_some() {
            KeyResultSource::Metric
        } else {
            KeyResultSource::CheckIn
        }
    }

    /// The metric followed, for metric key results.
    async fn metric(&self, ctx: &Context<'_>) -> ApiResult<Option<MetricObject>> {
        let Some(id) = self.0.metric_id else {
            return Ok(None);
        };
        Ok(session(ctx)?.loaders.metric(id).await?.map(MetricObject))
    }

    /// The segment followed, when one.
    async fn segment(&self, ctx: &Context<'_>) -> ApiResult<Option<SegmentObject>> {
        let Some(id) = self.0.segment_id else {
            return Ok(None);
        };
        Ok(session(ctx)?.loaders.segment(id).await?.map(SegmentObject))
    }

    /// The owner, who checks in on it.
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

    /// The current value: the latest observation in the objective's period (metric key
    /// results) or the latest check-in; null when there is none yet.
    async fn current(&self, ctx: &Context<'_>) -> ApiResult<Option<Decimal>> {
        Ok(current_value(session(ctx)?, &self.0, &self.1)
            .await?
            .map(Into::into))
    }

    /// (current - baseline) / (target - baseline), clamped to 0..1; null without a current value.
    async fn progress(&self, ctx: &Context<'_>) -> ApiResult<Option<Decimal>> {
        let current = current_value(session(ctx)?, &self.0, &self.1).await?;
        Ok(current.map(|c| self.0.span.progress(c).into()))
    }

    /// The latest check-in's confidence, 0 to 10.
    async fn confidence(&self, ctx: &Context<'_>) -> ApiResult<Option<i32>> {
        let s = session(ctx)?;
        let list = s
            .loaders
            .check_ins
            .load_one(self.0.id)
            .await
            .map_err(loader_error)?
            .unwrap_or_default();
        Ok(list.first().map(|c| i32::from(c.confidence)))
    }

    /// Check-ins, newest first.
    async fn check_ins(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<CheckInConnection> {
        let s = session(ctx)?;
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, last, before)
            .page(lim.max_page_size, lim.default_page_size)?;
        let list = s
            .loaders
            .check_ins
            .load_one(self.0.id)
            .await
            .map_err(loader_error)?
            .unwrap_or_default();
        Ok(CheckInConnection::from_slice(
            page.slice(list),
            CheckInObject,
        ))
    }
}

/// A check-in: a reported value with the owner's confidence and a note.
#[derive(Clone)]
pub struct CheckInObject(pub CheckIn);

/// A check-in: a reported value with the owner's confidence and a note.
#[Object(name = "CheckIn")]
impl CheckInObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id("CheckIn", self.0.id)
    }

    /// The key result checked in on.
    async fn key_result_id(&self) -> ID {
        global_id("KeyResult", self.0.key_result_id)
    }

    /// The value reported.
    async fn value(&self) -> Decimal {
        self.0.value.into()
    }

    /// Confidence the target will be met, 0 to 10.
    async fn confidence(&self) -> i32 {
        i32::from(self.0.confidence)
    }

    /// Note.
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }

    /// Who checked in (token subject).
    async fn author(&self) -> &str {
        &self.0.author
    }

    /// When.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
}

connection!(
    GoalConnection,
    GoalEdge,
    GoalObject,
    "A page of goals.",
    "A goal with its cursor."
);
connection!(
    GoalTreeNodeConnection,
    GoalTreeNodeEdge,
    GoalTreeNode,
    "A page of a goal tree, parents before children.",
    "A goal-tree node with its cursor."
);
connection!(
    ObjectiveConnection,
    ObjectiveEdge,
    ObjectiveObject,
    "A page of objectives.",
    "An objective with its cursor."
);
connection!(
    KeyResultConnection,
    KeyResultEdge,
    KeyResultObject,
    "A page of key results.",
    "A key result with its cursor."
);
connection!(
    CheckInConnection,
    CheckInEdge,
    CheckInObject,
    "A page of check-ins.",
    "A check-in with its cursor."
);

/// Narrows a goal list.
#[derive(InputObject, Default)]
pub struct GoalFilterInput {
    /// Only goals whose period overlaps the range starting here (with `to`).
    pub from: Option<Date>,
    /// Only goals whose period overlaps the range ending here (with `from`).
    pub to: Option<Date>,
    /// Only goals in this status.
    pub status: Option<GoalStatus>,
    /// Only goals in this perspective.
    pub perspective: Option<Perspective>,
    /// Only goals owned by this person (HR id).
    pub owner_person_external_id: Option<String>,
    /// Only goals owned by this team (HR id).
    pub owner_team_external_id: Option<String>,
    /// Only top-level goals (no parent).
    #[graphql(default)]
    pub top_level_only: bool,
}

fn period(
    from: &Date,
    to: &Date,
    from_field: &str,
    to_field: &str,
) -> Result<GoalPeriod, ApiError> {
    let start = from.at(from_field)?;
    let end = to.at(to_field)?;
    GoalPeriod::new(start, end).map_err(|e| ApiError::bad_input(to_field, e.message))
}

/// A range of dates, both ends included.
#[derive(InputObject)]
pub struct DateRangeInput {
    /// First day.
    pub from: Date,
    /// Last day.
    pub to: Date,
}

/// Goal and OKR queries.
#[derive(Default)]
pub struct GoalQuery;

#[Object]
impl GoalQuery {
    /// Goals, by period start then title. With `updatedSince` (or a cursor from such a
    /// page), ordered by change time then id for incremental sync; see `observations`.
    #[allow(clippy::too_many_arguments)]
    async fn goals(
        &self,
        ctx: &Context<'_>,
        filter: Option<GoalFilterInput>,
        updated_since: Option<DateTime>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<GoalConnection> {
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
        let nobody = Uuid::nil();
        let range = match (&f.from, &f.to) {
            (None, None) => None,
            (Some(from), Some(to)) => {
                let p = period(from, to, "filter.from", "filter.to")?;
                Some((p.start(), p.end()))
            }
            _ => return Err(ApiError::bad_input("filter.to", "give both `from` and `to`").into()),
        };
        let mut filter = GoalFilter {
            period: range,
            status: f.status.map(Into::into),
            perspective: f.perspective.map(Into::into),
            top_level_only: f.top_level_only,
            ..GoalFilter::default()
        };
        if let Some(ext) = &f.owner_person_external_id {
            filter.owner_person_id = Some(
                s.tenant
                    .person_by_external_id(ext)
                    .await
                    .map_err(ApiError::from)?
                    .map_or(nobody, |p| p.id),
            );
        }
        if let Some(ext) = &f.owner_team_external_id {
            filter.owner_team_id = Some(
                s.tenant
                    .team_by_external_id(ext)
                    .await
                    .map_err(ApiError::from)?
                    .map_or(nobody, |t| t.id),
            );
        }
        let (slice, changed) = match &sync {
            None => (
                s.tenant
                    .goals(&filter, page)
                    .await
                    .map_err(ApiError::from)?,
                None,
            ),
            Some(window) => {
                let changed = s
                    .tenant
                    .goals_changed(&filter, window)
                    .await
                    .map_err(ApiError::from)?;
                let rows = changed.items.iter().map(|(_, g)| g.clone()).collect();
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
        let ids: Vec<Uuid> = slice.items.iter().map(|g| g.id).collect();
        if selects(ctx, &["objectives"]) {
            prime_okrs(ctx, s, &ids, &["objectives"]).await?;
        }
        if selects(ctx, &["links"]) || selects(ctx, &["hasCustomerLink"]) {
            let links = s
                .loaders
                .goal_links
                .load_many(ids.iter().copied())
                .await
                .map_err(loader_error)?;
            s.loaders
                .goals
                .load_many(links.values().flatten().map(|l| l.other_goal_id))
                .await
                .map_err(loader_error)?;
        }
        if let (Some(changed), Some(window)) = (changed, &sync) {
            return Ok(GoalConnection::from_sync(changed, window, GoalObject));
        }
        Ok(GoalConnection::from_slice(slice, GoalObject))
    }

    /// FINANCIAL goals (DRAFT or ACTIVE) of a period with no link to a CUSTOMER goal: the
    /// revenue targets that stand alone.
    async fn unbalanced_goals(
        &self,
        ctx: &Context<'_>,
        period: DateRangeInput,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<GoalConnection> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, last, before)
            .page(lim.max_page_size, lim.default_page_size)?;
        let p = self::period(&period.from, &period.to, "period.from", "period.to")?;
        let goals = s
            .tenant
            .unbalanced_goals(p.start(), p.end())
            .await
            .map_err(ApiError::from)?;
        Ok(GoalConnection::from_slice(page.slice(goals), GoalObject))
    }
}

/// Who owns a goal or objective: a person or a team (HR ids); neither for the company.
#[derive(InputObject, Default, Clone)]
pub struct OwnerInput {
    /// The owning person's HR id.
    pub person_external_id: Option<String>,
    /// The owning team's HR id.
    pub team_external_id: Option<String>,
}

async fn resolve_owner(
    s: &Session,
    owner: Option<&OwnerInput>,
    field: &str,
) -> Result<Ownership, ApiError> {
    let Some(owner) = owner else {
        return Ok(Ownership::Company);
    };
    match (&owner.person_external_id, &owner.team_external_id) {
        (Some(_), Some(_)) => Err(ApiError::bad_input(field, "a person or a team, not both")),
        (Some(ext), None) => Ok(Ownership::Person(
            s.tenant
                .person_by_external_id(ext)
                .await
                .map_err(ApiError::from)?
                .ok_or_else(|| {
                    ApiError::bad_input(
                        format!("{field}.personExternalId"),
                        format!("no person `{ext}`"),
                    )
                })?
                .id,
        )),
        (None, Some(ext)) => Ok(Ownership::Team(
            s.tenant
                .team_by_external_id(ext)
                .await
                .map_err(ApiError::from)?
                .ok_or_else(|| {
                    ApiError::bad_input(
                        format!("{field}.teamExternalId"),
                        format!("no team `{ext}`"),
                    )
                })?
                .id,
        )),
        (None, None) => Ok(Ownership::Company),
    }
}

/// The people and teams a manager answers for: themself, everyone below them, and their teams.
async fn manager_scope(s: &Session) -> Result<(HashSet<Uuid>, HashSet<Uuid>), ApiError> {
    let scope = s.contact_scope().await?;
    let mut people: HashSet<Uuid> = scope.reports.clone();
    people.extend(scope.me);
    let records = s
        .loaders
        .people
        .load_many(people.iter().copied())
        .await
        .map_err(loader_error)?;
    let teams = records.values().filter_map(|p| p.team_id).collect();
    Ok((people, teams))
}

/// Whether the caller may write goals, objectives and key results owned by `owner`.
async fn require_goal_write(s: &Session, owner: Ownership) -> Result<(), ApiError> {
    if s.caller.may(Permission::ManageAllGoals) {
        return Ok(());
    }
    if s.caller.may(Permission::ManageTeamGoals) {
        let (people, teams) = manager_scope(s).await?;
        let inside = match owner {
            Ownership::Person(p) => people.contains(&p),
            Ownership::Team(t) => teams.contains(&t),
            Ownership::Company => false,
        };
        if inside {
            return Ok(());
        }
        return Err(ApiError::Forbidden(
            "managers write the goals and OKRs of their own teams and reports only".to_owned(),
        ));
    }
    s.caller.require(Permission::ManageAllGoals)
}

/// A goal to create; it starts as a DRAFT.
#[derive(InputObject)]
pub struct CreateGoalInput {
    /// What the goal is.
    pub title: String,
    /// Why and how.
    pub description: Option<String>,
    /// Balanced-scorecard perspective.
    pub perspective: Perspective,
    /// Owner; omit for a company goal.
    pub owner: Option<OwnerInput>,
    /// First day of the period.
    pub period_start: Date,
    /// Last day of the period.
    pub period_end: Date,
    /// The goal it cascades from.
    pub parent_id: Option<ID>,
}

/// Changes to a goal; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateGoalInput {
    /// The goal.
    pub id: ID,
    /// New title.
    pub title: Option<String>,
    /// New description; null clears it.
    pub description: MaybeUndefined<String>,
    /// New perspective.
    pub perspective: Option<Perspective>,
    /// New owner.
    pub owner: Option<OwnerInput>,
    /// New period start (with `periodEnd`).
    pub period_start: Option<Date>,
    /// New period end (with `periodStart`).
    pub period_end: Option<Date>,
    /// New parent; null makes it a top-level goal.
    pub parent_id: MaybeUndefined<ID>,
}

/// A status change.
#[derive(InputObject)]
pub struct SetGoalStatusInput {
    /// The goal.
    pub id: ID,
    /// DRAFT -> ACTIVE or CANCELLED; ACTIVE -> ACHIEVED, MISSED or CANCELLED.
    pub status: GoalStatus,
}

/// Two goals to link, in either direction.
#[derive(InputObject)]
pub struct LinkGoalsInput {
    /// One goal.
    pub goal_id: ID,
    /// The other goal.
    pub other_goal_id: ID,
    /// Why they belong together ("faster onboarding drives expansion").
    pub rationale: String,
}

/// Two goals to unlink.
#[derive(InputObject)]
pub struct UnlinkGoalsInput {
    /// One goal.
    pub goal_id: ID,
    /// The other goal.
    pub other_goal_id: ID,
}

/// An objective to create.
#[derive(InputObject)]
pub struct CreateObjectiveInput {
    /// The goal it aligns to.
    pub goal_id: ID,
    /// What the objective is.
    pub title: String,
    /// Owner; omit for the company.
    pub owner: Option<OwnerInput>,
    /// First day of the period its key results are measured over.
    pub period_start: Date,
    /// Last day of that period.
    pub period_end: Date,
}

/// A key result to add.
#[derive(InputObject)]
pub struct CreateKeyResultInput {
    /// The objective.
    pub objective_id: ID,
    /// What is measured.
    pub title: String,
    /// Starting point.
    pub baseline: Decimal,
    /// Where it should get to; must differ from the baseline (may be below it).
    pub target: Decimal,
    /// Weight in the objective (default 1).
    pub weight: Option<Decimal>,
    /// Follow this metric (current value = latest observation in the period); omit for check-ins.
    pub metric_key: Option<String>,
    /// Follow only this segment of the metric.
    pub segment_key: Option<String>,
    /// The owner (HR id), who checks in on it.
    pub owner_person_external_id: Option<String>,
}

/// Changes to a key result.
#[derive(InputObject)]
pub struct UpdateKeyResultInput {
    /// The key result.
    pub id: ID,
    /// New title.
    pub title: Option<String>,
    /// New baseline (with `target`).
    pub baseline: Option<Decimal>,
    /// New target (with `baseline`).
    pub target: Option<Decimal>,
    /// New weight.
    pub weight: Option<Decimal>,
}

/// A check-in on a key result that takes manual check-ins.
#[derive(InputObject)]
pub struct CheckInInput {
    /// The key result.
    pub key_result_id: ID,
    /// The value now.
    pub value: Decimal,
    /// Confidence the target will be met, 0 to 10.
    pub confidence: i32,
    /// Note.
    pub note: Option<String>,
}

/// The goal after a change.
#[derive(SimpleObject)]
pub struct GoalPayload {
    /// The goal as it now stands.
    pub goal: GoalObject,
}

/// The two goals after a link change.
#[derive(SimpleObject)]
pub struct GoalLinkPayload {
    /// The goal named first.
    pub goal: GoalObject,
    /// The goal named second.
    pub other_goal: GoalObject,
}

/// The objective after a change.
#[derive(SimpleObject)]
pub struct ObjectivePayload {
    /// The objective as it now stands.
    pub objective: ObjectiveObject,
}

/// The key result after a change.
#[derive(SimpleObject)]
pub struct KeyResultPayload {
    /// The key result as it now stands.
    pub key_result: KeyResultObject,
}

/// The check-in recorded.
#[derive(SimpleObject)]
pub struct CheckInPayload {
    /// The new check-in.
    pub check_in: CheckInObject,
    /// Its key result.
    pub key_result: KeyResultObject,
}

fn text(raw: &str, max: usize, field: &str) -> Result<String, ApiError> {
    parse_text(raw, max, true).map_err(|e| ApiError::bad_input(field, e.message))
}

async fn goal_of(s: &Session, id: &ID, field: &str) -> Result<Goal, ApiError> {
    let uuid = expect_global_id(id, "Goal", field)?;
    s.loaders
        .goals
        .load_one(uuid)
        .await
        .map_err(loader_error)?
        .ok_or_else(|| ApiError::NotFound(format!("Goal `{}` was not found", id.as_str())))
}

/// A key result by global id with its objective; NOT_FOUND when it is not in the organization.
async fn key_result_of(
    s: &Session,
    id: &ID,
    field: &str,
) -> Result<(Uuid, KeyResult, Objective), ApiError> {
    let uuid = expect_global_id(id, "KeyResult", field)?;
    let kr = s
        .loaders
        .key_results
        .load_one(uuid)
        .await
        .map_err(loader_error)?
        .ok_or_else(|| ApiError::NotFound(format!("KeyResult `{}` was not found", id.as_str())))?;
    let objective = s
        .loaders
        .objectives
        .load_one(kr.objective_id)
        .await
        .map_err(loader_error)?
        .ok_or_else(|| ApiError::Internal("key result without objective".into()))?;
    Ok((uuid, kr, objective))
}

fn decimal(d: &Decimal, field: &str) -> Result<rust_decimal::Decimal, ApiError> {
    d.checked().map_err(|m| ApiError::bad_input(field, m))
}

/// Goal and OKR changes: admin and executive for any, managers for their teams and reports;
/// check-ins by the key result's owner (and their managers).
#[derive(Default)]
pub struct GoalMutation;

#[Object]
impl GoalMutation {
    /// Creates a goal as a DRAFT.
    async fn create_goal(
        &self,
        ctx: &Context<'_>,
        input: CreateGoalInput,
    ) -> ApiResult<GoalPayload> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let owner = resolve_owner(s, input.owner.as_ref(), "input.owner").await?;
        require_goal_write(s, owner).await?;
        let new = NewGoal {
            title: text(&input.title, 300, "input.title")?,
            description: input
                .description
                .as_deref()
                .map(|d| parse_text(d, 10_000, false))
                .transpose()
                .map_err(|e| ApiError::bad_input("input.description", e.message))?,
            perspective: input.perspective.into(),
            owner,
            period: period(
                &input.period_start,
                &input.period_end,
                "input.periodStart",
                "input.periodEnd",
            )?,
            parent_id: input
                .parent_id
                .as_ref()
                .map(|p| expect_global_id(p, "Goal", "input.parentId"))
                .transpose()?,
        };
        let goal = s
            .tenant
            .create_goal(&Actor(s.caller.subject.clone()), new)
            .await
            .map_err(ApiError::from)?;
        Ok(GoalPayload {
            goal: GoalObject(goal),
        })
    }

    /// Changes a goal's title, description, perspective, owner, period or parent. A goal
    /// cannot become its own ancestor.
    async fn update_goal(
        &self,
        ctx: &Context<'_>,
        input: UpdateGoalInput,
    ) -> ApiResult<GoalPayload> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let current = goal_of(s, &input.id, "input.id").await?;
        require_goal_write(s, current.owner).await?;
        let owner = match &input.owner {
            None => None,
            Some(o) => {
                let owner = resolve_owner(s, Some(o), "input.owner").await?;
                require_goal_write(s, owner).await?;
                Some(owner)
            }
        };
        let period = match (&input.period_start, &input.period_end) {
            (None, None) => None,
            (Some(a), Some(b)) => Some(period(a, b, "input.periodStart", "input.periodEnd")?),
            _ => {
                return Err(ApiError::bad_input(
                    "input.periodEnd",
                    "give both `periodStart` and `periodEnd`",
                )
                .into());
            }
        };
        let patch = GoalPatch {
            title: input
                .title
                .as_deref()
                .map(|t| text(t, 300, "input.title"))
                .transpose()?,
            description: match &input.description {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(d) => {
                    Some(Some(parse_text(d, 10_000, false).map_err(|e| {
                        ApiError::bad_input("input.description", e.message)
                    })?))
                }
            },
            perspective: input.perspective.map(Into::into),
            owner,
            period,
            parent_id: match &input.parent_id {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(p) => {
                    Some(Some(expect_global_id(p, "Goal", "input.parentId")?))
                }
            },
        };
        let goal = s
            .tenant
            .update_goal(&Actor(s.caller.subject.clone()), current.id, patch)
            .await
            .map_err(ApiError::from)?;
        Ok(GoalPayload {
            goal: GoalObject(goal),
        })
    }

    /// Moves a goal through its life cycle. Activating a FINANCIAL goal with no link to a
    /// CUSTOMER goal is refused with CONFLICT while the organization requires customer links.
    async fn set_goal_status(
        &self,
        ctx: &Context<'_>,
        input: SetGoalStatusInput,
    ) -> ApiResult<GoalPayload> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let current = goal_of(s, &input.id, "input.id").await?;
        require_goal_write(s, current.owner).await?;
        let goal = s
            .tenant
            .set_goal_status(
                &Actor(s.caller.subject.clone()),
                current.id,
                input.status.into(),
            )
            .await
            .map_err(ApiError::from)?;
        Ok(GoalPayload {
            goal: GoalObject(goal),
        })
    }

    /// Links two goals with a rationale; linking again replaces the rationale.
    async fn link_goals(
        &self,
        ctx: &Context<'_>,
        input: LinkGoalsInput,
    ) -> ApiResult<GoalLinkPayload> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let a = goal_of(s, &input.goal_id, "input.goalId").await?;
        let b = goal_of(s, &input.other_goal_id, "input.otherGoalId").await?;
        require_goal_write(s, a.owner).await?;

        let rationale = text(&input.rationale, 2_000, "input.rationale")?;
        s.tenant
            .link_goals(&Actor(s.caller.subject.clone()), a.id, b.id, &rationale)
            .await
            .map_err(ApiError::from)?;
        Ok(GoalLinkPayload {
            goal: GoalObject(a),
            other_goal: GoalObject(b),
        })
    }

    /// Removes the link between two goals. The caller must be able to write both goals: a
    /// link may be what lets the other goal stay balanced.
    async fn unlink_goals(
        &self,
        ctx: &Context<'_>,
        input: UnlinkGoalsInput,
    ) -> ApiResult<GoalLinkPayload> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let a = goal_of(s, &input.goal_id, "input.goalId").await?;
        let b = goal_of(s, &input.other_goal_id, "input.otherGoalId").await?;
        require_goal_write(s, a.owner).await?;
        require_goal_write(s, b.owner).await?;
        s.tenant
            .unlink_goals(&Actor(s.caller.subject.clone()), a.id, b.id)
            .await
            .map_err(ApiError::from)?;
        Ok(GoalLinkPayload {
            goal: GoalObject(a),
            other_goal: GoalObject(b),
        })
    }

    /// Creates an objective aligned to a goal.
    async fn create_objective(
        &self,
        ctx: &Context<'_>,
        input: CreateObjectiveInput,
    ) -> ApiResult<ObjectivePayload> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let goal = goal_of(s, &input.goal_id, "input.goalId").await?;
        let owner = resolve_owner(s, input.owner.as_ref(), "input.owner").await?;
        require_goal_write(s, owner).await?;
        let new = NewObjective {
            goal_id: goal.id,
            title: text(&input.title, 300, "input.title")?,
            owner,
            period: period(
                &input.period_start,
                &input.period_end,
                "input.periodStart",
                "input.periodEnd",
            )?,
        };
        let objective = s
            .tenant
            .create_objective(&Actor(s.caller.subject.clone()), new)
            .await
            .map_err(ApiError::from)?;
        Ok(ObjectivePayload {
            objective: ObjectiveObject(objective),
        })
    }

    /// Adds a key result to an objective.
    async fn create_key_result(
        &self,
        ctx: &Context<'_>,
        input: CreateKeyResultInput,
    ) -> ApiResult<KeyResultPayload> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let objective_id = expect_global_id(&input.objective_id, "Objective", "input.objectiveId")?;
        let objective = s
            .loaders
            .objectives
            .load_one(objective_id)
            .await
            .map_err(loader_error)?
            .ok_or_else(|| {
                ApiError::bad_input(
                    "input.objectiveId",
                    "no such objective in your organization",
                )
            })?;
        require_goal_write(s, objective.owner).await?;
        let span = Span::new(
            decimal(&input.baseline, "input.baseline")?,
            decimal(&input.target, "input.target")?,
        )
        .map_err(|e| ApiError::bad_input("input.target", e.message))?;
        let weight = match &input.weight {
            None => rust_decimal::Decimal::ONE,
            Some(w) => okr_rules::parse_kr_weight(decimal(w, "input.weight")?)
                .map_err(|e| ApiError::bad_input("input.weight", e.message))?,
        };
        let owner_person_id = match &input.owner_person_external_id {
            None => None,
            Some(ext) => Some(
                s.tenant
                    .person_by_external_id(ext)
                    .await
                    .map_err(ApiError::from)?
                    .ok_or_else(|| {
                        ApiError::bad_input(
                            "input.ownerPersonExternalId",
                            format!("no person `{ext}`"),
                        )
                    })?
                    .id,
            ),
        };
        let new = NewKeyResult {
            objective_id,
            title: text(&input.title, 300, "input.title")?,
            span,
            weight,
            metric_key: input.metric_key.clone(),
            segment_key: input.segment_key.clone(),
            owner_person_id,
        };
        let kr = s
            .tenant
            .create_key_result(&Actor(s.caller.subject.clone()), new)
            .await
            .map_err(ApiError::from)?;
        Ok(KeyResultPayload {
            key_result: KeyResultObject(kr, objective),
        })
    }

    /// Changes a key result's title, baseline and target, or weight.
    async fn update_key_result(
        &self,
        ctx: &Context<'_>,
        input: UpdateKeyResultInput,
    ) -> ApiResult<KeyResultPayload> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let (id, kr, objective) = key_result_of(s, &input.id, "input.id").await?;
        require_goal_write(s, objective.owner).await?;
        let span = match (&input.baseline, &input.target) {
            (None, None) => None,
            (b, t) => {
                let baseline = b
                    .as_ref()
                    .map(|d| decimal(d, "input.baseline"))
                    .transpose()?
                    .unwrap_or(kr.span.baseline());
                let target = t
                    .as_ref()
                    .map(|d| decimal(d, "input.target"))
                    .transpose()?
                    .unwrap_or(kr.span.target());
                Some(
                    Span::new(baseline, target)
                        .map_err(|e| ApiError::bad_input("input.target", e.message))?,
                )
            }
        };
        let weight = input
            .weight
            .as_ref()
            .map(|w| {
                decimal(w, "input.weight").and_then(|w| {
                    okr_rules::parse_kr_weight(w)
                        .map_err(|e| ApiError::bad_input("input.weight", e.message))
                })
            })
            .transpose()?;
        let title = input
            .title
            .as_deref()
            .map(|t| text(t, 300, "input.title"))
            .transpose()?;
        let kr = s
            .tenant
            .update_key_result(&Actor(s.caller.subject.clone()), id, title, span, weight)
            .await
            .map_err(ApiError::from)?;
        Ok(KeyResultPayload {
            key_result: KeyResultObject(kr, objective),
        })
    }

    /// Checks in on a key result: a member on key results it owns, a manager on those of its
    /// teams and reports, admin and executive on any.
    async fn check_in(&self, ctx: &Context<'_>, input: CheckInInput) -> ApiResult<CheckInPayload> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let (id, kr, objective) =
            key_result_of(s, &input.key_result_id, "input.keyResultId").await?;
        require_check_in(s, &kr, &objective).await?;
        let confidence = Confidence::parse(i64::from(input.confidence))
            .map_err(|e| ApiError::bad_input("input.confidence", e.message))?;
        let value = decimal(&input.value, "input.value")?;
        let note = input
            .note
            .as_deref()
            .map(|n| parse_text(n, 2_000, false))
            .transpose()
            .map_err(|e| ApiError::bad_input("input.note", e.message))?
            .filter(|n| !n.is_empty());
        let check_in = s
            .tenant
            .check_in(
                &Actor(s.caller.subject.clone()),
                id,
                value,
                confidence,
                note,
            )
            .await
            .map_err(ApiError::from)?;
        Ok(CheckInPayload {
            check_in: CheckInObject(check_in),
            key_result: KeyResultObject(kr, objective),
        })
    }
}

async fn require_check_in(
    s: &Session,
    kr: &KeyResult,
    objective: &Objective,
) -> Result<(), ApiError> {
    if s.caller.may(Permission::CheckInAny) {
        return Ok(());
    }
    s.caller.require(Permission::CheckInOwn)?;
    let scope = s.contact_scope().await?;
    if kr.owner_person_id.is_some() && kr.owner_person_id == scope.me {
        return Ok(());
    }
    if s.caller.may(Permission::ManageTeamGoals) {
        let (people, teams) = manager_scope(s).await?;
        let owner_inside = kr.owner_person_id.is_some_and(|p| people.contains(&p));
        let team_inside = matches!(objective.owner, Ownership::Team(t) if teams.contains(&t));
        if owner_inside || team_inside {
            return Ok(());
        }
    }
    Err(ApiError::Forbidden(
        "you may check in only on key results you own (or, as a manager, those of your teams)"
            .to_owned(),
    ))
}
