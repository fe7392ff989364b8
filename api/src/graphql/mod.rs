//! The GraphQL schema: each area contributes its queries and mutations, merged here.

pub mod enums;
pub mod extensions;
pub mod gate;
pub mod loaders;
pub mod relay;
pub mod scalars;

use std::sync::Arc;

use async_graphql::{Context, ID, Interface, MergedObject, Object, Schema};
use tandem_domain::access::Permission;
use tandem_persistence::{Store, Tenant};

use crate::audit::{AuditEventObject, AuditQuery};
use crate::auth::Caller;
use crate::dimensions::{DimensionMutation, DimensionQuery, JourneyStageObject, SegmentObject};
use crate::error::{ApiError, ApiResult};
use crate::goals::{CheckInObject, GoalMutation, GoalObject, GoalQuery, ObjectiveObject};
use crate::metrics::{MetricMutation, MetricObject, MetricQuery};
use crate::observations::{ObservationMutation, ObservationObject, ObservationQuery};
use crate::organization::{OrganizationObject, OrganizationQuery};
use crate::people::{JobRoleObject, PeopleMutation, PeopleQuery, PersonObject, TeamObject};
use crate::scorecards::{ScorecardMutation, ScorecardObject, ScorecardQuery};
use crate::sync::SyncQuery;
use loaders::Loaders;
use relay::decode_global_id;

/// Bounds on what one request may ask for.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deepest nesting of data fields (introspection has its own bound).
    pub max_depth: usize,
    /// Highest cost of one query (objects it can return plus the price of computed reports).
    pub max_cost: u64,
    /// Most fields in a document once its fragments are expanded.
    pub max_fields: usize,
    /// Most fragment spreads in a document once its fragments are expanded.
    pub max_fragment_spreads: usize,
    /// Most aliased fields in a document once its fragments are expanded.
    pub max_aliases: usize,
    /// Most operations in one document.
    pub max_operations: usize,
    /// Most fields at the root of one operation.
    pub max_root_fields: usize,
    /// Longest a request may run before it is stopped.
    pub request_timeout: std::time::Duration,
    /// Whether callers without a token may introspect the schema.
    pub public_introspection: bool,
    /// Points in each caller's budget (0: no budgets).
    pub rate_limit_bucket: u64,
    /// Points restored to each budget per second.
    pub rate_limit_restore: u64,
    /// Largest page.
    pub max_page_size: u64,
    /// Page size when a connection is asked for without `first` or `last`.
    pub default_page_size: u64,
    /// Most rows in one bulk write.
    pub max_batch_size: usize,
    /// How old a change must be before incremental sync and exports hand it out, so that a
    /// write still committing cannot land behind a cursor already given out.
    pub sync_settle: std::time::Duration,
    /// How long tombstones of removed rows are listed (and kept) for incremental sync.
    pub tombstone_retention: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_cost: 5_000_000,
            max_fields: 2_000,
            max_fragment_spreads: 500,
            max_aliases: 200,
            max_operations: 10,
            max_root_fields: 50,
            request_timeout: std::time::Duration::from_secs(30),
            public_introspection: false,
            rate_limit_bucket: 2_000,
            rate_limit_restore: 100,
            max_page_size: 500,
            default_page_size: 50,
            max_batch_size: 10_000,
            sync_settle: std::time::Duration::from_secs(5),
            tombstone_retention: std::time::Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// A verified request: the caller, their organization's data, and per-request loaders.
pub struct Session {
    /// Who is calling.
    pub caller: Caller,
    /// The caller's organization.
    pub tenant: Tenant,
    /// Batched readers for this request.
    pub loaders: Loaders,
    /// The caller's own person record and everyone below them, found on first use.
    contact_scope: tokio::sync::OnceCell<ContactScope>,
    /// Every goal of the organization, read once when a tree is asked for.
    goal_tree: tokio::sync::OnceCell<crate::goals::GoalTree>,
    /// Forums, sessions and rules, read once when asked for.
    pub(crate) governance: tokio::sync::OnceCell<crate::governance::GovernanceData>,
}

/// Whose personal data a caller may see besides their own: their reports, at any depth.
#[derive(Debug, Default)]
pub struct ContactScope {
    /// The caller's own person record, when their token subject is on the roster.
    pub me: Option<uuid::Uuid>,
    /// Everyone below the caller in the management chain.
    pub reports: std::collections::HashSet<uuid::Uuid>,
}

/// What the HTTP layer attaches to each request: a session, or why there is none.
#[derive(Clone)]
pub struct RequestAuth(pub Result<Arc<Session>, ApiError>);

/// Authentication still to be done: the HTTP layer attaches it, and the gate runs it only
/// once the document was found affordable and valid, so a hostile document costs no token
/// check or database read.
pub struct PendingAuth(std::sync::Mutex<Option<Authentication>>);

/// The authentication a request still has to run.
type Authentication = futures::future::BoxFuture<'static, Result<Arc<Session>, ApiError>>;

impl PendingAuth {
    /// Authentication that `future` will perform.
    pub fn new(
        future: impl std::future::Future<Output = Result<Arc<Session>, ApiError>> + Send + 'static,
    ) -> Self {
        Self(std::sync::Mutex::new(Some(Box::pin(future))))
    }

    /// Runs the authentication (once; a second call finds nothing left to run).
    pub async fn resolve(&self) -> RequestAuth {
        let future = self.0.lock().ok().and_then(|mut f| f.take());
        match future {
            Some(future) => RequestAuth(future.await),
            None => RequestAuth(Err(ApiError::Unauthenticated(
                "the request was already authenticated".to_owned(),
            ))),
        }
    }
}

impl Session {
    /// Builds a session for a verified caller.
    pub fn new(store: &Store, caller: Caller) -> Self {
        let tenant = store.tenant(caller.org_id);
        let loaders = Loaders::new(&tenant);
        Self {
            caller,
            tenant,
            loaders,
            contact_scope: tokio::sync::OnceCell::new(),
            goal_tree: tokio::sync::OnceCell::new(),
            governance: tokio::sync::OnceCell::new(),
        }
    }

    /// Every goal of the organization as a tree (one statement, once per request).
    pub async fn goal_tree(&self) -> Result<&crate::goals::GoalTree, ApiError> {
        self.goal_tree
            .get_or_try_init(|| async {
                Ok::<_, ApiError>(crate::goals::GoalTree::new(self.tenant.all_goals().await?))
            })
            .await
    }

    /// The caller's person record and reports (loaded once per request).
    pub async fn contact_scope(&self) -> Result<&ContactScope, ApiError> {
        self.contact_scope
            .get_or_try_init(|| async {
                let me = self.tenant.person_by_subject(&self.caller.subject).await?;
                let reports = match &me {
                    Some(p) => self.tenant.all_reports(p.id).await?,
                    None => Default::default(),
                };
                Ok::<_, ApiError>(ContactScope {
                    me: me.map(|p| p.id),
                    reports,
                })
            })
            .await
    }

    /// Whether the caller may see `person`'s personal data: with a role that reads contact
    /// data, as the person themself, or as one of their managers.
    pub async fn may_see_personal_data(&self, person: uuid::Uuid) -> Result<bool, ApiError> {
        if self.caller.may(Permission::ReadContactData) {
            return Ok(true);
        }
        if !self.caller.may(Permission::ReadPeople) {
            return Ok(false);
        }
        let scope = self.contact_scope().await?;
        Ok(scope.me == Some(person) || scope.reports.contains(&person))
    }
}

/// The session of the request, or `UNAUTHENTICATED`.
pub fn session<'a>(ctx: &Context<'a>) -> Result<&'a Session, ApiError> {
    match ctx.data::<RequestAuth>() {
        Ok(RequestAuth(Ok(session))) => Ok(session.as_ref()),
        Ok(RequestAuth(Err(e))) => Err(e.clone()),
        Err(_) => Err(ApiError::Unauthenticated(
            "send `Authorization: Bearer <token>`".to_owned(),
        )),
    }
}

/// The session of the request if the caller holds `permission`.
pub fn authorized<'a>(ctx: &Context<'a>, permission: Permission) -> Result<&'a Session, ApiError> {
    let session = session(ctx)?;
    session.caller.require(permission)?;
    Ok(session)
}

/// Whether the selection of a connection field asks for `path` under its items, through
/// either `edges { node { ... } }` or `nodes { ... }`. Inside `path`, `*` stands for the items
/// of a nested connection the same way.
pub fn selects(ctx: &Context<'_>, path: &[&str]) -> bool {
    fn walk(look: async_graphql::Lookahead<'_>, path: &[&str]) -> bool {
        match path.split_first() {
            None => look.exists(),
            Some((&"*", rest)) => {
                walk(look.field("nodes"), rest) || walk(look.field("edges").field("node"), rest)
            }
            Some((name, rest)) => walk(look.field(name), rest),
        }
    }
    let mut full = Vec::with_capacity(path.len() + 1);
    full.push("*");
    full.extend_from_slice(path);
    walk(ctx.look_ahead(), &full)
}

/// The request's limits.
pub fn limits(ctx: &Context<'_>) -> Limits {
    ctx.data::<Limits>().copied().unwrap_or_default()
}

/// Anything with a global id that `node(id:)` can fetch.
#[derive(Interface)]
#[graphql(field(
    name = "id",
    ty = "ID",
    desc = "Opaque global id; pass it to `node(id:)`."
))]
pub enum Node {
    /// A tenant.
    Organization(OrganizationObject),
    /// A glossary metric.
    Metric(MetricObject),
    /// A customer segment.
    Segment(SegmentObject),
    /// A journey stage.
    JourneyStage(JourneyStageObject),
    /// A recorded value.
    Observation(ObservationObject),
    /// An audit event.
    AuditEvent(AuditEventObject),
    /// A person.
    Person(PersonObject),
    /// A team.
    Team(TeamObject),
    /// A job role.
    JobRole(JobRoleObject),
    /// A scorecard.
    Scorecard(ScorecardObject),
    /// A goal.
    Goal(GoalObject),
    /// An objective.
    Objective(ObjectiveObject),
    /// A key result.
    KeyResult(crate::goals::KeyResultObject),
    /// A check-in.
    CheckIn(CheckInObject),
    /// A review forum.
    Forum(crate::governance::ForumObject),
    /// A review session.
    ReviewSession(crate::governance::ReviewSessionObject),
    /// A trade-off rule.
    TradeOffRule(crate::governance::TradeOffRuleObject),
    /// A decision.
    Decision(crate::governance::DecisionObject),
    /// An incentive plan.
    IncentivePlan(crate::incentives::IncentivePlanObject),
    /// A customer account.
    Account(crate::revenue::AccountObject),
    /// An MRR movement.
    RevenueMovement(crate::revenue::RevenueMovementObject),
    /// A saved dashboard.
    Dashboard(crate::dashboards::DashboardObject),
}

/// Fetching any object by global id.
#[derive(Default)]
pub struct NodeQuery;

async fn load_node(ctx: &Context<'_>, id: &ID) -> Result<Option<Node>, ApiError> {
    let Some((kind, uuid)) = decode_global_id(id) else {
        return Err(ApiError::bad_input("id", "not a valid id"));
    };
    let s = authorized(ctx, Permission::ReadOrgData)?;
    let l = &s.loaders;
    let node = match kind.as_str() {
        "Organization" if uuid == s.tenant.org_id() => s
            .tenant
            .organization()
            .await?
            .map(|o| Node::Organization(OrganizationObject(o))),
        "Metric" => l.metric(uuid).await?.map(|m| Node::Metric(MetricObject(m))),
        "Segment" => l
            .segment(uuid)
            .await?
            .map(|m| Node::Segment(SegmentObject(m))),
        "JourneyStage" => l
            .stage(uuid)
            .await?
            .map(|m| Node::JourneyStage(JourneyStageObject(m))),
        "Observation" => l
            .observation(uuid)
            .await?
            .map(|m| Node::Observation(ObservationObject(m))),
        "Person" => {
            s.caller.require(Permission::ReadPeople)?;
            l.people
                .load_one(uuid)
                .await
                .map_err(loaders::loader_error)?
                .map(|m| Node::Person(PersonObject(m)))
        }
        "Team" => {
            s.caller.require(Permission::ReadPeople)?;
            l.teams
                .load_one(uuid)
                .await
                .map_err(loaders::loader_error)?
                .map(|m| Node::Team(TeamObject(m)))
        }
        "JobRole" => {
            s.caller.require(Permission::ReadPeople)?;
            l.job_roles
                .load_one(uuid)
                .await
                .map_err(loaders::loader_error)?
                .map(|m| Node::JobRole(JobRoleObject(m)))
        }
        "Scorecard" => {
            s.caller.require(Permission::ReadPeople)?;
            l.scorecards
                .load_one(uuid)
                .await
                .map_err(loaders::loader_error)?
                .map(|m| Node::Scorecard(ScorecardObject(m)))
        }
        "Goal" => l
            .goals
            .load_one(uuid)
            .await
            .map_err(loaders::loader_error)?
            .map(|g| Node::Goal(GoalObject(g))),
        "Objective" => l
            .objectives
            .load_one(uuid)
            .await
            .map_err(loaders::loader_error)?
            .map(|o| Node::Objective(ObjectiveObject(o))),
        "KeyResult" => match l
            .key_results
            .load_one(uuid)
            .await
            .map_err(loaders::loader_error)?
        {
            None => None,
            Some(kr) => l
                .objectives
                .load_one(kr.objective_id)
                .await
                .map_err(loaders::loader_error)?
                .map(|o| Node::KeyResult(crate::goals::KeyResultObject(kr, o))),
        },
        "CheckIn" => s
            .tenant
            .check_in_by_id(uuid)
            .await?
            .map(|c| Node::CheckIn(CheckInObject(c))),
        "Forum" => s
            .governance()
            .await?
            .forums
            .iter()
            .find(|f| f.id == uuid)
            .cloned()
            .map(|f| Node::Forum(crate::governance::ForumObject(f))),
        "ReviewSession" => s
            .governance()
            .await?
            .sessions
            .iter()
            .find(|r| r.id == uuid)
            .cloned()
            .map(|r| Node::ReviewSession(crate::governance::ReviewSessionObject(r))),
        "TradeOffRule" => s
            .governance()
            .await?
            .rules
            .iter()
            .find(|r| r.id == uuid)
            .cloned()
            .map(|r| Node::TradeOffRule(crate::governance::TradeOffRuleObject(r))),
        "Decision" => s
            .tenant
            .decision(uuid)
            .await?
            .map(|d| Node::Decision(crate::governance::DecisionObject(d))),
        "IncentivePlan" => {
            s.caller.require(Permission::ReadPayAggregates)?;
            s.tenant
                .plans_by_ids(&[uuid])
                .await?
                .remove(&uuid)
                .map(|p| Node::IncentivePlan(crate::incentives::IncentivePlanObject(p)))
        }
        "Account" => l
            .accounts
            .load_one(uuid)
            .await
            .map_err(loaders::loader_error)?
            .map(|a| Node::Account(crate::revenue::AccountObject(a))),
        "RevenueMovement" => s
            .tenant
            .revenue_movement(uuid)
            .await?
            .map(|m| Node::RevenueMovement(crate::revenue::RevenueMovementObject(m))),
        "Dashboard" => crate::dashboards::load_dashboard(s, uuid)
            .await?
            .map(Node::Dashboard),
        "AuditEvent" => {
            s.caller.require(Permission::ReadAudit)?;
            l.audit_event(uuid)
                .await?
                .map(|m| Node::AuditEvent(AuditEventObject(m)))
        }
        _ => None,
    };
    Ok(node)
}

#[Object]
impl NodeQuery {
    /// Fetches any object by its global id; null when it does not exist in your organization.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Node>> {
        Ok(load_node(ctx, &id).await?)
    }

    /// Fetches several objects by global id, in the order given; null for any not found.
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> ApiResult<Vec<Option<Node>>> {
        if ids.len() as u64 > limits(ctx).max_page_size {
            return Err(ApiError::bad_input(
                "ids",
                format!("at most {} ids", limits(ctx).max_page_size),
            )
            .into());
        }
        let mut nodes = Vec::with_capacity(ids.len());
        for id in &ids {
            nodes.push(load_node(ctx, id).await?);
        }
        Ok(nodes)
    }
}

/// Every query.
#[derive(MergedObject, Default)]
pub struct Query(
    NodeQuery,
    OrganizationQuery,
    MetricQuery,
    DimensionQuery,
    ObservationQuery,
    AuditQuery,
    PeopleQuery,
    ScorecardQuery,
    GoalQuery,
    crate::incentives::IncentiveQuery,
    crate::governance::GovernanceQuery,
    crate::revenue::RevenueQuery,
    crate::insights::InsightQuery,
    crate::dashboards::DashboardQuery,
    SyncQuery,
);

/// Every mutation.
#[derive(MergedObject, Default)]
pub struct Mutation(
    MetricMutation,
    DimensionMutation,
    ObservationMutation,
    PeopleMutation,
    ScorecardMutation,
    GoalMutation,
    crate::incentives::IncentiveMutation,
    crate::governance::GovernanceMutation,
    crate::revenue::RevenueMutation,
    crate::insights::InsightMutation,
    crate::dashboards::DashboardMutation,
);

/// The schema type.
pub type ApiSchema = Schema<Query, Mutation, crate::live::Subscription>;

/// Most directives on one field.
pub const MAX_DIRECTIVES_PER_FIELD: usize = 8;

/// How many automatic persisted queries the server remembers (least recently used go first).
pub const PERSISTED_QUERY_CACHE_ENTRIES: usize = 1000;

/// Builds the schema with its limits and per-caller budgets kept in this process.
pub fn build_schema(limits: Limits) -> ApiSchema {
    let limiter = crate::throttle::RateLimiter::in_memory(
        limits.rate_limit_bucket,
        limits.rate_limit_restore,
    );
    build_schema_with(limits, Arc::new(limiter))
}

/// Builds the schema with its limits, the admission gate (size, depth and cost before
/// validation; authentication and budgets before execution), subscriptions (fresh sessions
/// per event), automatic persisted queries and the operation facts the HTTP layer reads.
pub fn build_schema_with(limits: Limits, limiter: Arc<crate::throttle::RateLimiter>) -> ApiSchema {
    use async_graphql::extensions::apollo_persisted_queries::{
        ApolloPersistedQueries, LruCacheStorage,
    };
    Schema::build(
        Query::default(),
        Mutation::default(),
        crate::live::Subscription,
    )
    .extension(extensions::Gate)
    .extension(crate::live::FreshSessions)
    // Depth, size and cost are bounded by the gate before validation; the library's own
    // checks would walk every fragment expansion first.
    .limit_directives(MAX_DIRECTIVES_PER_FIELD)
    .data(limits)
    .data(limiter)
    .extension(ApolloPersistedQueries::new(LruCacheStorage::new(
        PERSISTED_QUERY_CACHE_ENTRIES,
    )))
    .extension(extensions::Operations)
    .extension(extensions::ErrorCodes)
    .finish()
}
