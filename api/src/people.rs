//! People, teams and job roles over GraphQL, and the HR sync.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use tandem_domain::Invalid;
use tandem_domain::access::Permission;
use tandem_domain::metrics::{MetricKey, parse_text};
use tandem_domain::people::{Email, ExternalId, RoleKey};
use tandem_domain::scorecards::parse_weight;
use tandem_domain::segments::DimensionKey;
use tandem_persistence::{
    Actor, Diff, JobRole, NewItem, Person, PersonFilter, Problem, SyncAssignment, SyncMode,
    SyncOutcome, SyncPerson, SyncRequest, SyncRole, SyncTeam, Team,
};

use crate::error::{ApiError, ApiResult};
use crate::graphql::loaders::loader_error;
use crate::graphql::relay::{PageArgs, connection, global_id};
use crate::graphql::scalars::{DateTime, Decimal};
use crate::graphql::{authorized, limits, selects, session};
use crate::scorecards::{ScorecardConnection, ScorecardObject};

/// A person as the HR system describes them. Email and sign-in subject are personal data,
/// visible to admin and hr, to the person, and to their managers; null for anyone else.
#[derive(Clone)]
pub struct PersonObject(pub Person);

/// A person as the HR system describes them. Email and sign-in subject are personal data,
/// visible to admin and hr, to the person, and to their managers; null for anyone else.
#[Object(name = "Person")]
impl PersonObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id("Person", self.0.id)
    }

    /// Id in the HR system.
    async fn external_id(&self) -> &str {
        &self.0.external_id
    }

    /// Full name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Work email; null when you may not see this person's personal data.
    async fn email(&self, ctx: &Context<'_>) -> ApiResult<Option<String>> {
        let s = session(ctx)?;
        Ok(if s.may_see_personal_data(self.0.id).await? {
            self.0.email.clone()
        } else {
            None
        })
    }

    /// The `sub` of the tokens this person signs in with; null when you may not see it.
    async fn subject(&self, ctx: &Context<'_>) -> ApiResult<Option<String>> {
        let s = session(ctx)?;
        Ok(if s.may_see_personal_data(self.0.id).await? {
            self.0.subject.clone()
        } else {
            None
        })
    }

    /// Their manager.
    async fn manager(&self, ctx: &Context<'_>) -> ApiResult<Option<PersonObject>> {
        let Some(id) = self.0.manager_id else {
            return Ok(None);
        };
        let s = session(ctx)?;
        Ok(s.loaders
            .people
            .load_one(id)
            .await
            .map_err(loader_error)?
            .map(PersonObject))
    }

    /// Their team.
    async fn team(&self, ctx: &Context<'_>) -> ApiResult<Option<TeamObject>> {
        let Some(id) = self.0.team_id else {
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

    /// The job roles they hold, by key.
    async fn roles(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<JobRoleConnection> {
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, last, before)
            .page(lim.max_page_size, lim.default_page_size)?;
        let mut roles = held_roles(ctx, self.0.id).await?;
        roles.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(JobRoleConnection::from_slice(
            page.slice(roles),
            JobRoleObject,
        ))
    }

    /// The KPI scorecards of the roles they hold: the person's balanced scorecard.
    async fn scorecards(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<ScorecardConnection> {
        let s = session(ctx)?;
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, last, before)
            .page(lim.max_page_size, lim.default_page_size)?;
        let roles = held_roles(ctx, self.0.id).await?;
        let cards = s
            .loaders
            .role_scorecards
            .load_many(roles.iter().map(|r| r.id))
            .await
            .map_err(loader_error)?;
        let mut list: Vec<_> = roles
            .iter()
            .filter_map(|r| cards.get(&r.id).cloned())
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(ScorecardConnection::from_slice(
            page.slice(list),
            ScorecardObject,
        ))
    }

    /// Whether they currently work here. Deactivated people keep their history.
    async fn active(&self) -> bool {
        self.0.active
    }

    /// When the record was created.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// When the record last changed.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }
}

async fn held_roles(ctx: &Context<'_>, person: uuid::Uuid) -> Result<Vec<JobRole>, ApiError> {
    let s = session(ctx)?;
    let ids = s
        .loaders
        .held_roles
        .load_one(person)
        .await
        .map_err(loader_error)?
        .unwrap_or_default();
    let roles = s
        .loaders
        .job_roles
        .load_many(ids)
        .await
        .map_err(loader_error)?;
    Ok(roles.into_values().collect())
}

/// A team, possibly inside a parent team.
#[derive(Clone)]
pub struct TeamObject(pub Team);

/// A team, possibly inside a parent team.
#[Object(name = "Team")]
impl TeamObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id("Team", self.0.id)
    }

    /// Id in the HR system.
    async fn external_id(&self) -> &str {
        &self.0.external_id
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The team this one belongs to.
    async fn parent(&self, ctx: &Context<'_>) -> ApiResult<Option<TeamObject>> {
        let Some(id) = self.0.parent_id else {
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

    /// Whether the team is current.
    async fn active(&self) -> bool {
        self.0.active
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

/// A job role, such as Account Executive or Customer Success Manager.
#[derive(Clone)]
pub struct JobRoleObject(pub JobRole);

/// A job role, such as Account Executive or Customer Success Manager.
#[Object(name = "JobRole")]
impl JobRoleObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id("JobRole", self.0.id)
    }

    /// Key used by HR systems (`account_executive`).
    async fn key(&self) -> &str {
        &self.0.key
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Whether the role is current.
    async fn active(&self) -> bool {
        self.0.active
    }

    /// The role's KPI assignment: the scorecard everyone in the role carries.
    async fn scorecard(&self, ctx: &Context<'_>) -> ApiResult<Option<ScorecardObject>> {
        let s = session(ctx)?;
        Ok(s.loaders
            .role_scorecards
            .load_one(self.0.id)
            .await
            .map_err(loader_error)?
            .map(ScorecardObject))
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

connection!(
    PersonConnection,
    PersonEdge,
    PersonObject,
    "A page of people.",
    "A person with its cursor."
);
connection!(
    TeamConnection,
    TeamEdge,
    TeamObject,
    "A page of teams.",
    "A team with its cursor."
);
connection!(
    JobRoleConnection,
    JobRoleEdge,
    JobRoleObject,
    "A page of job roles.",
    "A job role with its cursor."
);

/// Narrows a list of people.
#[derive(InputObject, Default)]
pub struct PersonFilterInput {
    /// Only active (true) or deactivated (false) people.
    pub active: Option<bool>,
    /// Only members of this team (HR id).
    pub team_external_id: Option<String>,
    /// Only holders of this job role.
    pub role_key: Option<String>,
    /// Only direct reports of this person (HR id).
    pub manager_external_id: Option<String>,
    /// Only people whose name or HR id contains this text, ignoring case.
    pub search: Option<String>,
}

/// People, teams and job roles.
#[derive(Default)]
pub struct PeopleQuery;

#[Object]
impl PeopleQuery {
    /// People, by name.
    async fn people(
        &self,
        ctx: &Context<'_>,
        filter: Option<PersonFilterInput>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<PersonConnection> {
        let s = authorized(ctx, Permission::ReadPeople)?;
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, last, before)
            .page(lim.max_page_size, lim.default_page_size)?;
        let f = filter.unwrap_or_default();
        crate::metrics::check_search(f.search.as_deref())?;
        let mut filter = PersonFilter {
            active: f.active,
            search: f.search,
            ..PersonFilter::default()
        };
        // An unknown team, role or manager matches nobody.
        let nobody = uuid::Uuid::nil();
        if let Some(ext) = &f.team_external_id {
            filter.team_id = Some(
                s.tenant
                    .team_by_external_id(ext)
                    .await
                    .map_err(ApiError::from)?
                    .map_or(nobody, |t| t.id),
            );
        }
        if let Some(key) = &f.role_key {
            filter.role_id = Some(
                s.tenant
                    .job_role_by_key(key)
                    .await
                    .map_err(ApiError::from)?
                    .map_or(nobody, |r| r.id),
            );
        }
        if let Some(ext) = &f.manager_external_id {
            filter.manager_id = Some(
                s.tenant
                    .person_by_external_id(ext)
                    .await
                    .map_err(ApiError::from)?
                    .map_or(nobody, |p| p.id),
            );
        }
        let slice = s
            .tenant
            .people(&filter, page)
            .await
            .map_err(ApiError::from)?;
        let ids: Vec<uuid::Uuid> = slice.items.iter().map(|p| p.id).collect();
        if selects(ctx, &["manager"]) {
            let managers = slice.items.iter().filter_map(|p| p.manager_id);
            s.loaders
                .people
                .load_many(managers)
                .await
                .map_err(loader_error)?;
        }
        if selects(ctx, &["team"]) {
            s.loaders
                .teams
                .load_many(slice.items.iter().filter_map(|p| p.team_id))
                .await
                .map_err(loader_error)?;
        }
        if selects(ctx, &["roles"]) || selects(ctx, &["scorecards"]) {
            let held = s
                .loaders
                .held_roles
                .load_many(ids.iter().copied())
                .await
                .map_err(loader_error)?;
            let role_ids: Vec<uuid::Uuid> = held.values().flatten().copied().collect();
            s.loaders
                .job_roles
                .load_many(role_ids.iter().copied())
                .await
                .map_err(loader_error)?;
            if selects(ctx, &["scorecards"]) {
                s.loaders
                    .role_scorecards
                    .load_many(role_ids)
                    .await
                    .map_err(loader_error)?;
            }
        }
        Ok(PersonConnection::from_slice(slice, PersonObject))
    }

    /// One person by HR id; null when there is none.
    async fn person(
        &self,
        ctx: &Context<'_>,
        external_id: String,
    ) -> ApiResult<Option<PersonObject>> {
        let s = authorized(ctx, Permission::ReadPeople)?;
        Ok(s.tenant
            .person_by_external_id(&external_id)
            .await
            .map_err(ApiError::from)?
            .map(PersonObject))
    }

    /// The caller's own person record (found by the token's subject); null when the caller is
    /// not on the roster, such as a service account.
    async fn me(&self, ctx: &Context<'_>) -> ApiResult<Option<PersonObject>> {
        let s = session(ctx)?;
        if !s.caller.may(Permission::ReadPeople) {
            return Ok(None);
        }
        Ok(s.tenant
            .person_by_subject(&s.caller.subject)
            .await
            .map_err(ApiError::from)?
            .map(PersonObject))
    }

    /// Teams, by name.
    async fn teams(
        &self,
        ctx: &Context<'_>,
        active: Option<bool>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<TeamConnection> {
        let s = authorized(ctx, Permission::ReadPeople)?;
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, last, before)
            .page(lim.max_page_size, lim.default_page_size)?;
        let slice = s.tenant.teams(active, page).await.map_err(ApiError::from)?;
        if selects(ctx, &["parent"]) {
            s.loaders
                .teams
                .load_many(slice.items.iter().filter_map(|t| t.parent_id))
                .await
                .map_err(loader_error)?;
        }
        Ok(TeamConnection::from_slice(slice, TeamObject))
    }

    /// Job roles, by key.
    async fn job_roles(
        &self,
        ctx: &Context<'_>,
        active: Option<bool>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<JobRoleConnection> {
        let s = authorized(ctx, Permission::ReadPeople)?;
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, last, before)
            .page(lim.max_page_size, lim.default_page_size)?;
        let slice = s
            .tenant
            .job_roles(active, page)
            .await
            .map_err(ApiError::from)?;
        if selects(ctx, &["scorecard"]) {
            s.loaders
                .role_scorecards
                .load_many(slice.items.iter().map(|r| r.id))
                .await
                .map_err(loader_error)?;
        }
        Ok(JobRoleConnection::from_slice(slice, JobRoleObject))
    }
}

/// A team as the HR system sends it.
#[derive(InputObject, Clone)]
pub struct TeamInput {
    /// HR id.
    pub external_id: String,
    /// Display name.
    pub name: String,
    /// Parent team's HR id.
    pub parent_external_id: Option<String>,
    /// Whether the team is current (default true).
    #[graphql(default = true)]
    pub active: bool,
}

/// A person as the HR system sends them. Every field is replaced: what is omitted is cleared.
#[derive(InputObject, Clone)]
pub struct PersonInput {
    /// HR id.
    pub external_id: String,
    /// Full name.
    pub name: String,
    /// Work email.
    pub email: Option<String>,
    /// The `sub` of the tokens they sign in with.
    pub subject: Option<String>,
    /// Manager's HR id.
    pub manager_external_id: Option<String>,
    /// Team's HR id.
    pub team_external_id: Option<String>,
    /// Keys of the job roles they hold (replaces what they held).
    #[graphql(default)]
    pub role_keys: Vec<String>,
    /// Whether they currently work here (default true).
    #[graphql(default = true)]
    pub active: bool,
}

/// A job role as the HR system sends it.
#[derive(InputObject, Clone)]
pub struct JobRoleInput {
    /// Key: lower-case letters, digits, `_` or `-`.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Whether the role is current (default true).
    #[graphql(default = true)]
    pub active: bool,
}

/// One KPI of a scorecard.
#[derive(InputObject, Clone)]
pub struct KpiItemInput {
    /// The metric, by key.
    pub metric_key: String,
    /// Only this segment's values count.
    pub segment_key: Option<String>,
    /// Relative weight, 0 or more; weights need not sum to 1.
    pub weight: Decimal,
    /// Target value, in the metric's unit.
    pub target: Decimal,
    /// Green at or beyond this value (above when higher is better, below when lower is).
    pub green: Decimal,
    /// Amber at or beyond this value; red past it.
    pub amber: Decimal,
}

/// A role's KPI assignment: the items of its scorecard (replaces what it had).
#[derive(InputObject, Clone)]
pub struct RoleKpiAssignmentInput {
    /// The role.
    pub role_key: String,
    /// Its KPIs, in display order.
    pub items: Vec<KpiItemInput>,
}

/// How a sync treats people it does not mention.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum HrSyncMode {
    /// Only the records sent change.
    #[default]
    Incremental,
    /// The payload is the whole roster: active people not in it are deactivated (never deleted).
    FullRoster,
}

/// A roster and role KPI assignments from an HR system.
#[derive(InputObject)]
pub struct HrSyncInput {
    /// Teams.
    #[graphql(default)]
    pub teams: Vec<TeamInput>,
    /// Job roles.
    #[graphql(default)]
    pub roles: Vec<JobRoleInput>,
    /// People (at most 10,000 per call by default).
    #[graphql(default)]
    pub people: Vec<PersonInput>,
    /// Role KPI assignments.
    #[graphql(default)]
    pub assignments: Vec<RoleKpiAssignmentInput>,
    /// Incremental (default) or full roster.
    #[graphql(default)]
    pub mode: HrSyncMode,
    /// Report the diff without writing anything.
    #[graphql(default)]
    pub dry_run: bool,
}

/// What a sync did to one kind of record.
#[derive(SimpleObject)]
pub struct SyncDiff {
    /// New records.
    pub created: i32,
    /// Records that changed.
    pub updated: i32,
    /// Records sent exactly as stored.
    pub unchanged: i32,
    /// Records deactivated because a full roster left them out.
    pub deactivated: i32,
}

/// One changed record.
#[derive(SimpleObject)]
pub struct SyncChangeLine {
    /// `Team`, `Person`, `JobRole` or `RoleAssignment`.
    pub entity: String,
    /// HR id or key.
    pub key: String,
    /// `CREATED`, `UPDATED` or `DEACTIVATED`.
    pub action: String,
}

/// The outcome of a sync, per kind of record.
#[derive(SimpleObject)]
pub struct HrSyncPayload {
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// Whether anything changed (or would change); false when the same payload is sent again.
    pub changed: bool,
    /// Teams.
    pub teams: SyncDiff,
    /// Job roles.
    pub roles: SyncDiff,
    /// People.
    pub people: SyncDiff,
    /// Role KPI assignments.
    pub assignments: SyncDiff,
    /// The changed records (at most 1,000).
    pub changes: Vec<SyncChangeLine>,
    /// How many changed records are not listed.
    pub changes_not_listed: i32,
}

fn count(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl From<Diff> for SyncDiff {
    fn from(d: Diff) -> Self {
        Self {
            created: count(d.created),
            updated: count(d.updated),
            unchanged: count(d.unchanged),
            deactivated: count(d.deactivated),
        }
    }
}

fn payload(outcome: SyncOutcome, dry_run: bool) -> HrSyncPayload {
    HrSyncPayload {
        dry_run,
        changed: outcome.changed_anything(),
        teams: outcome.teams.into(),
        roles: outcome.roles.into(),
        people: outcome.people.into(),
        assignments: outcome.assignments.into(),
        changes_not_listed: count(outcome.changes_not_listed),
        changes: outcome
            .changes
            .into_iter()
            .map(|c| SyncChangeLine {
                entity: c.entity.to_owned(),
                key: c.key,
                action: c.action.to_owned(),
            })
            .collect(),
    }
}

/// Collects every problem of an input before refusing it.
#[derive(Default)]
pub(crate) struct Collector(pub Vec<Problem>);

impl Collector {
    pub fn take<T>(
        &mut self,
        path: impl FnOnce() -> String,
        result: Result<T, Invalid>,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                if self.0.len() < 200 {
                    self.0.push(Problem::new(path(), e.message));
                }
                None
            }
        }
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::BadUserInput(self.0))
        }
    }
}

impl Collector {
    /// Like `take`, but stands in `fallback` for a bad value, so the row keeps its place and
    /// the later reference checks still see it.
    pub fn or<T>(
        &mut self,
        path: impl FnOnce() -> String,
        result: Result<T, Invalid>,
        fallback: T,
    ) -> T {
        self.take(path, result).unwrap_or(fallback)
    }
}

fn decimal(c: &mut Collector, path: String, value: &Decimal) -> rust_decimal::Decimal {
    c.or(
        || path,
        value.checked().map_err(Invalid::new),
        rust_decimal::Decimal::ZERO,
    )
}

/// Parses KPI items; problems at `{prefix}[i].field`. Every input item yields an item (bad
/// values replaced by placeholders) so positions match the input.
pub(crate) fn parse_items(c: &mut Collector, prefix: &str, items: &[KpiItemInput]) -> Vec<NewItem> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = |f: &str| format!("{prefix}[{i}].{f}");
        let metric_key = c.or(
            || at("metricKey"),
            MetricKey::parse(&item.metric_key),
            MetricKey::placeholder(),
        );
        let segment = match &item.segment_key {
            None => None,
            Some(k) => c.take(|| at("segmentKey"), DimensionKey::parse(k)),
        };
        let weight = decimal(c, at("weight"), &item.weight);
        let weight = c.or(
            || at("weight"),
            parse_weight(weight),
            rust_decimal::Decimal::ZERO,
        );
        let target = decimal(c, at("target"), &item.target);
        let green = decimal(c, at("green"), &item.green);
        let amber = decimal(c, at("amber"), &item.amber);
        out.push(NewItem {
            metric_key,
            segment,
            weight,
            target,
            green,
            amber,
        });
    }
    out
}

fn ext(c: &mut Collector, path: String, raw: &str) -> ExternalId {
    let fallback = ExternalId::placeholder(&path);
    c.or(|| path, ExternalId::parse(raw), fallback)
}

fn opt_ext(c: &mut Collector, path: String, raw: Option<&str>) -> Option<ExternalId> {
    raw.and_then(|r| c.take(|| path, ExternalId::parse(r)))
}

fn name(c: &mut Collector, path: String, raw: &str) -> String {
    c.or(|| path, parse_text(raw, 200, true), "invalid".to_owned())
}

fn role_key(c: &mut Collector, path: String, raw: &str) -> RoleKey {
    c.or(|| path, RoleKey::parse(raw), RoleKey::placeholder())
}

fn parse_team(c: &mut Collector, p: &str, t: &TeamInput) -> SyncTeam {
    SyncTeam {
        external_id: ext(c, format!("{p}.externalId"), &t.external_id),
        name: name(c, format!("{p}.name"), &t.name),
        parent: opt_ext(
            c,
            format!("{p}.parentExternalId"),
            t.parent_external_id.as_deref(),
        ),
        active: t.active,
    }
}

fn parse_role(c: &mut Collector, p: &str, r: &JobRoleInput) -> SyncRole {
    SyncRole {
        key: role_key(c, format!("{p}.key"), &r.key),
        name: name(c, format!("{p}.name"), &r.name),
        active: r.active,
    }
}

fn parse_person(c: &mut Collector, p: &str, x: &PersonInput) -> SyncPerson {
    let external_id = ext(c, format!("{p}.externalId"), &x.external_id);
    let name = name(c, format!("{p}.name"), &x.name);
    let email = x
        .email
        .as_ref()
        .and_then(|e| c.take(|| format!("{p}.email"), Email::parse(e)));
    let subject = x
        .subject
        .as_ref()
        .and_then(|s| c.take(|| format!("{p}.subject"), parse_text(s, 200, true)));
    let manager = opt_ext(
        c,
        format!("{p}.managerExternalId"),
        x.manager_external_id.as_deref(),
    );
    let team = opt_ext(
        c,
        format!("{p}.teamExternalId"),
        x.team_external_id.as_deref(),
    );
    let roles = x
        .role_keys
        .iter()
        .enumerate()
        .map(|(j, k)| role_key(c, format!("{p}.roleKeys[{j}]"), k))
        .collect();
    SyncPerson {
        external_id,
        name,
        email,
        subject,
        manager,
        team,
        roles,
        active: x.active,
    }
}

fn parse_assignment(c: &mut Collector, p: &str, a: &RoleKpiAssignmentInput) -> SyncAssignment {
    SyncAssignment {
        role: role_key(c, format!("{p}.roleKey"), &a.role_key),
        items: parse_items(c, &format!("{p}.items"), &a.items),
    }
}

/// Builds a sync request and the problems of its fields, by path under `input.`. Every row
/// is kept (bad values replaced by placeholders) so the store's reference checks can run on
/// the same positions and every problem can be reported at once.
fn sync_request(
    teams: &[TeamInput],
    roles: &[JobRoleInput],
    people: &[PersonInput],
    assignments: &[RoleKpiAssignmentInput],
    mode: SyncMode,
) -> (SyncRequest, Vec<Problem>) {
    let mut c = Collector::default();
    let teams = teams
        .iter()
        .enumerate()
        .map(|(i, t)| parse_team(&mut c, &format!("input.teams[{i}]"), t))
        .collect();
    let roles = roles
        .iter()
        .enumerate()
        .map(|(i, r)| parse_role(&mut c, &format!("input.roles[{i}]"), r))
        .collect();
    let people = people
        .iter()
        .enumerate()
        .map(|(i, x)| parse_person(&mut c, &format!("input.people[{i}]"), x))
        .collect();
    let assignments = assignments
        .iter()
        .enumerate()
        .map(|(i, a)| parse_assignment(&mut c, &format!("input.assignments[{i}]"), a))
        .collect();
    (
        SyncRequest {
            teams,
            people,
            roles,
            assignments,
            mode,
        },
        c.0,
    )
}

/// Refuses a request whose fields had problems, adding every reference problem the store finds
/// in the rest of the payload (a dry run), so one answer lists them all.
async fn refuse_with_all_problems(
    ctx: &Context<'_>,
    permission: Permission,
    request: &SyncRequest,
    mut problems: Vec<Problem>,
) -> Result<(), ApiError> {
    if problems.is_empty() {
        return Ok(());
    }
    let s = authorized(ctx, permission)?;
    let actor = Actor(s.caller.subject.clone());
    if let Err(tandem_persistence::StoreError::Invalid(found)) =
        s.tenant.sync_hr(&actor, request, true).await
    {
        let known: std::collections::HashSet<String> =
            problems.iter().map(|p| p.path.clone()).collect();
        problems.extend(
            found
                .into_iter()
                .map(|p| Problem::new(format!("input.{}", p.path), p.message))
                .filter(|p| !known.contains(&p.path)),
        );
    }
    Err(ApiError::BadUserInput(problems))
}

async fn run_sync(
    ctx: &Context<'_>,
    permission: Permission,
    operation: &'static str,
    request: SyncRequest,
    dry_run: bool,
) -> Result<SyncOutcome, ApiError> {
    let s = authorized(ctx, permission)?;
    let actor = Actor(s.caller.subject.clone());
    Ok(s.tenant
        .sync_hr_as(&actor, &request, dry_run, operation)
        .await?)
}

/// Changes to people, teams, roles and role KPIs (admin, hr; the sync also hr_sync).
#[derive(Default)]
pub struct PeopleMutation;

#[Object]
impl PeopleMutation {
    /// Applies a roster and role KPI assignments from an HR system in one transaction: all or
    /// nothing, idempotent on HR ids and role keys. A bad payload is refused whole with every
    /// problem listed by path; `dryRun` reports the diff without writing. Callable by admin,
    /// hr and the `hr_sync` service role.
    async fn sync_hr(&self, ctx: &Context<'_>, input: HrSyncInput) -> ApiResult<HrSyncPayload> {
        authorized(ctx, Permission::RunHrSync)?;
        let max = limits(ctx).max_batch_size;
        for (field, len) in [
            ("input.people", input.people.len()),
            ("input.teams", input.teams.len()),
            ("input.roles", input.roles.len()),
            ("input.assignments", input.assignments.len()),
        ] {
            if len > max {
                return Err(ApiError::bad_input(
                    field,
                    format!("at most {max} records per call, got {len}"),
                )
                .into());
            }
        }
        let mode = match input.mode {
            HrSyncMode::Incremental => SyncMode::Incremental,
            HrSyncMode::FullRoster => SyncMode::FullRoster,
        };
        let (request, problems) = sync_request(
            &input.teams,
            &input.roles,
            &input.people,
            &input.assignments,
            mode,
        );
        refuse_with_all_problems(ctx, Permission::RunHrSync, &request, problems).await?;
        let outcome =
            run_sync(ctx, Permission::RunHrSync, "syncHr", request, input.dry_run).await?;
        Ok(payload(outcome, input.dry_run))
    }

    /// Creates or replaces one team by HR id.
    async fn upsert_team(&self, ctx: &Context<'_>, input: TeamInput) -> ApiResult<TeamPayload> {
        authorized(ctx, Permission::ManagePeople)?;
        let (request, problems) = sync_request(
            std::slice::from_ref(&input),
            &[],
            &[],
            &[],
            SyncMode::Incremental,
        );
        refuse_with_all_problems(ctx, Permission::ManagePeople, &request, problems)
            .await
            .map_err(|e| reprefix(e, "teams[0]", "input"))?;
        run_sync(ctx, Permission::ManagePeople, "upsertTeam", request, false)
            .await
            .map_err(|e| reprefix(e, "teams[0]", "input"))?;
        let s = session(ctx)?;
        let team = s
            .tenant
            .team_by_external_id(input.external_id.trim())
            .await
            .map_err(ApiError::from)?;
        let team = team.ok_or_else(|| ApiError::Internal("team vanished after upsert".into()))?;
        Ok(TeamPayload {
            team: TeamObject(team),
        })
    }

    /// Creates or replaces one person by HR id (roles included).
    async fn upsert_person(
        &self,
        ctx: &Context<'_>,
        input: PersonInput,
    ) -> ApiResult<PersonPayload> {
        authorized(ctx, Permission::ManagePeople)?;
        let (request, problems) = sync_request(
            &[],
            &[],
            std::slice::from_ref(&input),
            &[],
            SyncMode::Incremental,
        );
        refuse_with_all_problems(ctx, Permission::ManagePeople, &request, problems)
            .await
            .map_err(|e| reprefix(e, "people[0]", "input"))?;
        run_sync(
            ctx,
            Permission::ManagePeople,
            "upsertPerson",
            request,
            false,
        )
        .await
        .map_err(|e| reprefix(e, "people[0]", "input"))?;
        let s = session(ctx)?;
        let person = s
            .tenant
            .person_by_external_id(input.external_id.trim())
            .await
            .map_err(ApiError::from)?;
        let person =
            person.ok_or_else(|| ApiError::Internal("person vanished after upsert".into()))?;
        Ok(PersonPayload {
            person: PersonObject(person),
        })
    }

    /// Creates or replaces one job role by key.
    async fn upsert_job_role(
        &self,
        ctx: &Context<'_>,
        input: JobRoleInput,
    ) -> ApiResult<JobRolePayload> {
        authorized(ctx, Permission::ManagePeople)?;
        let (request, problems) = sync_request(
            &[],
            std::slice::from_ref(&input),
            &[],
            &[],
            SyncMode::Incremental,
        );
        refuse_with_all_problems(ctx, Permission::ManagePeople, &request, problems)
            .await
            .map_err(|e| reprefix(e, "roles[0]", "input"))?;
        run_sync(
            ctx,
            Permission::ManagePeople,
            "upsertJobRole",
            request,
            false,
        )
        .await
        .map_err(|e| reprefix(e, "roles[0]", "input"))?;
        let s = session(ctx)?;
        let role = s
            .tenant
            .job_role_by_key(input.key.trim())
            .await
            .map_err(ApiError::from)?;
        let role = role.ok_or_else(|| ApiError::Internal("role vanished after upsert".into()))?;
        Ok(JobRolePayload {
            job_role: JobRoleObject(role),
        })
    }

    /// Sets a role's KPI assignment: the items of the scorecard everyone in the role carries.
    async fn assign_role_kpis(
        &self,
        ctx: &Context<'_>,
        input: RoleKpiAssignmentInput,
    ) -> ApiResult<RoleKpisPayload> {
        authorized(
            ctx,
            Permission::ManageScorecards(tandem_domain::scorecards::OwnerKind::Role),
        )?;
        let (request, problems) = sync_request(
            &[],
            &[],
            &[],
            std::slice::from_ref(&input),
            SyncMode::Incremental,
        );
        refuse_with_all_problems(
            ctx,
            Permission::ManageScorecards(tandem_domain::scorecards::OwnerKind::Role),
            &request,
            problems,
        )
        .await
        .map_err(|e| reprefix(e, "assignments[0]", "input"))?;
        let outcome = run_sync(
            ctx,
            Permission::ManageScorecards(tandem_domain::scorecards::OwnerKind::Role),
            "assignRoleKpis",
            request,
            false,
        )
        .await
        .map_err(|e| reprefix(e, "assignments[0]", "input"))?;
        let s = session(ctx)?;
        let role = s
            .tenant
            .job_role_by_key(input.role_key.trim())
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::Internal("role vanished after assignment".into()))?;
        let cards = s
            .tenant
            .scorecards_of_roles(&[role.id])
            .await
            .map_err(ApiError::from)?;
        let card = cards
            .into_values()
            .next()
            .ok_or_else(|| ApiError::Internal("assignment has no scorecard".into()))?;
        Ok(RoleKpisPayload {
            changed: outcome.changed_anything(),
            scorecard: ScorecardObject(card),
        })
    }
}

/// Rewrites problem paths of a single-record call (`input.people[0].name` -> `input.name`).
fn reprefix(err: ApiError, from: &str, to: &str) -> ApiError {
    match err {
        ApiError::BadUserInput(problems) => ApiError::BadUserInput(
            problems
                .into_iter()
                .map(|p| {
                    let path = p
                        .path
                        .strip_prefix(&format!("input.{from}"))
                        .map(|rest| format!("{to}{rest}"))
                        .unwrap_or(p.path);
                    Problem::new(path, p.message)
                })
                .collect(),
        ),
        other => other,
    }
}

/// The team after a change.
#[derive(SimpleObject)]
pub struct TeamPayload {
    /// The team as it now stands.
    pub team: TeamObject,
}

/// The person after a change.
#[derive(SimpleObject)]
pub struct PersonPayload {
    /// The person as they now stand.
    pub person: PersonObject,
}

/// The job role after a change.
#[derive(SimpleObject)]
pub struct JobRolePayload {
    /// The role as it now stands.
    pub job_role: JobRoleObject,
}

/// A role's scorecard after its KPIs were set.
#[derive(SimpleObject)]
pub struct RoleKpisPayload {
    /// Whether anything changed.
    pub changed: bool,
    /// The role's scorecard.
    pub scorecard: ScorecardObject,
}
