//! People, teams and job roles: reads. Writes go through the HR sync (`hr_sync.rs`), which
//! also serves single-record upserts, so every change follows the same rules.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::entities::{job_roles, people, person_roles, teams};
use crate::error::StoreResult;
use crate::store::{Page, Slice, Tenant, paginate};

/// How many ids go into one `IN (...)` list.
const CHUNK: usize = 500;

/// A team, possibly inside a parent team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    /// Team id.
    pub id: Uuid,
    /// Id in the HR system.
    pub external_id: String,
    /// Display name.
    pub name: String,
    /// The team it belongs to.
    pub parent_id: Option<Uuid>,
    /// Whether it is current.
    pub active: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A person as the HR system describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Person id.
    pub id: Uuid,
    /// Id in the HR system.
    pub external_id: String,
    /// Full name.
    pub name: String,
    /// Work email.
    pub email: Option<String>,
    /// The `sub` of the tokens they sign in with.
    pub subject: Option<String>,
    /// Their manager.
    pub manager_id: Option<Uuid>,
    /// Their team.
    pub team_id: Option<Uuid>,
    /// Whether they currently work here; deactivated people keep their history.
    pub active: bool,
    /// When the record was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A job role, such as Account Executive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRole {
    /// Role id.
    pub id: Uuid,
    /// Key used by HR systems.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Whether it is current.
    pub active: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<teams::Model> for Team {
    fn from(m: teams::Model) -> Self {
        Self {
            id: m.id,
            external_id: m.external_id,
            name: m.name,
            parent_id: m.parent_id,
            active: m.active,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

impl From<people::Model> for Person {
    fn from(m: people::Model) -> Self {
        Self {
            id: m.id,
            external_id: m.external_id,
            name: m.name,
            email: m.email,
            subject: m.subject,
            manager_id: m.manager_id,
            team_id: m.team_id,
            active: m.active,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

impl From<job_roles::Model> for JobRole {
    fn from(m: job_roles::Model) -> Self {
        Self {
            id: m.id,
            key: m.key,
            name: m.name,
            active: m.active,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// Which people to list.
#[derive(Debug, Clone, Default)]
pub struct PersonFilter {
    /// Only active (or only inactive) people.
    pub active: Option<bool>,
    /// Only members of this team.
    pub team_id: Option<Uuid>,
    /// Only holders of this role.
    pub role_id: Option<Uuid>,
    /// Only direct reports of this person.
    pub manager_id: Option<Uuid>,
    /// Only people whose name or external id contains this text (case-insensitive).
    pub search: Option<String>,
}

impl Tenant {
    /// Lists teams by name.
    pub async fn teams(&self, active: Option<bool>, page: Page) -> StoreResult<Slice<Team>> {
        let mut query = teams::Entity::find().filter(teams::Column::OrgId.eq(self.org_id));
        if let Some(active) = active {
            query = query.filter(teams::Column::Active.eq(active));
        }
        let query = query
            .order_by_asc(teams::Column::Name)
            .order_by_asc(teams::Column::Id);
        paginate(self.db(), query, page, |m| Ok(Team::from(m))).await
    }

    /// Loads teams by id.
    pub async fn teams_by_ids(&self, ids: &[Uuid]) -> StoreResult<HashMap<Uuid, Team>> {
        let mut found = HashMap::new();
        for chunk in ids.chunks(CHUNK) {
            let rows = teams::Entity::find()
                .filter(teams::Column::OrgId.eq(self.org_id))
                .filter(teams::Column::Id.is_in(chunk.iter().copied()))
                .all(self.db())
                .await?;
            found.extend(rows.into_iter().map(|m| (m.id, Team::from(m))));
        }
        Ok(found)
    }

    /// Finds a team by its HR id.
    pub async fn team_by_external_id(&self, external_id: &str) -> StoreResult<Option<Team>> {
        Ok(teams::Entity::find()
            .filter(teams::Column::OrgId.eq(self.org_id))
            .filter(teams::Column::ExternalId.eq(external_id))
            .one(self.db())
            .await?
            .map(Team::from))
    }

    /// Lists people by name.
    pub async fn people(&self, filter: &PersonFilter, page: Page) -> StoreResult<Slice<Person>> {
        let mut query = people::Entity::find().filter(people::Column::OrgId.eq(self.org_id));
        if let Some(active) = filter.active {
            query = query.filter(people::Column::Active.eq(active));
        }
        if let Some(team_id) = filter.team_id {
            query = query.filter(people::Column::TeamId.eq(team_id));
        }
        if let Some(manager_id) = filter.manager_id {
            query = query.filter(people::Column::ManagerId.eq(manager_id));
        }
        if let Some(role_id) = filter.role_id {
            query = query.filter(
                people::Column::Id.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(person_roles::Column::PersonId)
                        .from(person_roles::Entity)
                        .and_where(Expr::col(person_roles::Column::OrgId).eq(self.org_id))
                        .and_where(Expr::col(person_roles::Column::RoleId).eq(role_id))
                        .to_owned(),
                ),
            );
        }
        if let Some(search) = filter.search.as_deref().filter(|s| !s.is_empty()) {
            let pattern = crate::search::contains_pattern(search)?;
            let lower = |col: people::Column| Expr::expr(Func::lower(Expr::col(col)));
            query = query.filter(
                Condition::any()
                    .add(lower(people::Column::Name).like(pattern.clone()))
                    .add(lower(people::Column::ExternalId).like(pattern)),
            );
        }
        let query = query
            .order_by_asc(people::Column::Name)
            .order_by_asc(people::Column::Id);
        paginate(self.db(), query, page, |m| Ok(Person::from(m))).await
    }

    /// Loads people by id.
    pub async fn people_by_ids(&self, ids: &[Uuid]) -> StoreResult<HashMap<Uuid, Person>> {
        let mut found = HashMap::new();
        for chunk in ids.chunks(CHUNK) {
            let rows = people::Entity::find()
                .filter(people::Column::OrgId.eq(self.org_id))
                .filter(people::Column::Id.is_in(chunk.iter().copied()))
                .all(self.db())
                .await?;
            found.extend(rows.into_iter().map(|m| (m.id, Person::from(m))));
        }
        Ok(found)
    }

    /// Finds a person by HR id.
    pub async fn person_by_external_id(&self, external_id: &str) -> StoreResult<Option<Person>> {
        Ok(people::Entity::find()
            .filter(people::Column::OrgId.eq(self.org_id))
            .filter(people::Column::ExternalId.eq(external_id))
            .one(self.db())
            .await?
            .map(Person::from))
    }

    /// Finds the person who signs in with token subject `subject`.
    pub async fn person_by_subject(&self, subject: &str) -> StoreResult<Option<Person>> {
        Ok(people::Entity::find()
            .filter(people::Column::OrgId.eq(self.org_id))
            .filter(people::Column::Subject.eq(subject))
            .one(self.db())
            .await?
            .map(Person::from))
    }

    /// Every person below `manager_id` in the management chain (reports, their reports, ...).
    pub async fn all_reports(&self, manager_id: Uuid) -> StoreResult<HashSet<Uuid>> {
        let edges: Vec<(Uuid, Option<Uuid>)> = people::Entity::find()
            .select_only()
            .column(people::Column::Id)
            .column(people::Column::ManagerId)
            .filter(people::Column::OrgId.eq(self.org_id))
            .filter(people::Column::ManagerId.is_not_null())
            .into_tuple()
            .all(self.db())
            .await?;
        let mut reports_of: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for (id, manager) in edges {
            if let Some(m) = manager {
                reports_of.entry(m).or_default().push(id);
            }
        }
        let mut found = HashSet::new();
        let mut queue = vec![manager_id];
        while let Some(next) = queue.pop() {
            for report in reports_of.get(&next).into_iter().flatten() {
                if found.insert(*report) {
                    queue.push(*report);
                }
            }
        }
        Ok(found)
    }

    /// Lists job roles by key.
    pub async fn job_roles(&self, active: Option<bool>, page: Page) -> StoreResult<Slice<JobRole>> {
        let mut query = job_roles::Entity::find().filter(job_roles::Column::OrgId.eq(self.org_id));
        if let Some(active) = active {
            query = query.filter(job_roles::Column::Active.eq(active));
        }
        let query = query.order_by_asc(job_roles::Column::Key);
        paginate(self.db(), query, page, |m| Ok(JobRole::from(m))).await
    }

    /// Every job role, by key.
    pub async fn all_job_roles(&self) -> StoreResult<Vec<JobRole>> {
        Ok(job_roles::Entity::find()
            .filter(job_roles::Column::OrgId.eq(self.org_id))
            .order_by_asc(job_roles::Column::Key)
            .all(self.db())
            .await?
            .into_iter()
            .map(JobRole::from)
            .collect())
    }

    /// Loads job roles by id.
    pub async fn job_roles_by_ids(&self, ids: &[Uuid]) -> StoreResult<HashMap<Uuid, JobRole>> {
        let mut found = HashMap::new();
        for chunk in ids.chunks(CHUNK) {
            let rows = job_roles::Entity::find()
                .filter(job_roles::Column::OrgId.eq(self.org_id))
                .filter(job_roles::Column::Id.is_in(chunk.iter().copied()))
                .all(self.db())
                .await?;
            found.extend(rows.into_iter().map(|m| (m.id, JobRole::from(m))));
        }
        Ok(found)
    }

    /// Finds a job role by key.
    pub async fn job_role_by_key(&self, key: &str) -> StoreResult<Option<JobRole>> {
        Ok(job_roles::Entity::find()
            .filter(job_roles::Column::OrgId.eq(self.org_id))
            .filter(job_roles::Column::Key.eq(key))
            .one(self.db())
            .await?
            .map(JobRole::from))
    }

    /// The role ids each of the given people holds.
    pub async fn roles_of_people(
        &self,
        person_ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, Vec<Uuid>>> {
        let mut held: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for chunk in person_ids.chunks(CHUNK) {
            let rows = person_roles::Entity::find()
                .filter(person_roles::Column::OrgId.eq(self.org_id))
                .filter(person_roles::Column::PersonId.is_in(chunk.iter().copied()))
                .all(self.db())
                .await?;
            for row in rows {
                held.entry(row.person_id).or_default().push(row.role_id);
            }
        }
        Ok(held)
    }
}
