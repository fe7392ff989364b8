//! The HR sync: a roster of teams, people and job roles plus each role's KPI assignment,
//! applied in one transaction. It is idempotent (sending the same payload again changes
//! nothing and says so), refuses a bad payload whole with every problem listed, and in a dry
//! run reports the diff without writing. Single-record upserts use the same path.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};
use serde_json::{Value as Json, json};
use tandem_domain::people::{Email, ExternalId, RoleKey, find_cycles};
use tandem_domain::scorecards::{DEFAULT_AMBER_SCORE, DEFAULT_GREEN_SCORE, OwnerKind};
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::decimal::ExactDecimal;
use crate::entities::{job_roles, people, person_roles, scorecard_items, scorecards, teams};
use crate::error::{Problem, StoreError, StoreResult};
use crate::scorecards::{
    NewItem, Owner, ResolvedItem, ScorecardItem, replace_items, resolve_items, same_items,
    scorecard_json,
};
use crate::store::{Actor, BulkArea, Retry, Tenant};
use crate::sync::Removal;

const CHUNK: usize = 500;
/// How many changed records a sync outcome lists by name.
const MAX_LISTED_CHANGES: usize = 1000;
/// How many problems a refused payload lists.
const MAX_PROBLEMS: usize = 200;

/// A team as the HR system sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncTeam {
    /// HR id.
    pub external_id: ExternalId,
    /// Display name.
    pub name: String,
    /// Parent team's HR id.
    pub parent: Option<ExternalId>,
    /// Whether the team is current.
    pub active: bool,
}

/// A person as the HR system sends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPerson {
    /// HR id.
    pub external_id: ExternalId,
    /// Full name.
    pub name: String,
    /// Work email.
    pub email: Option<Email>,
    /// Token subject they sign in with.
    pub subject: Option<String>,
    /// Manager's HR id.
    pub manager: Option<ExternalId>,
    /// Team's HR id.
    pub team: Option<ExternalId>,
    /// The job roles they hold (replaces what they held).
    pub roles: Vec<RoleKey>,
    /// Whether they currently work here.
    pub active: bool,
}

/// A job role as the HR system sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRole {
    /// Key.
    pub key: RoleKey,
    /// Display name.
    pub name: String,
    /// Whether the role is current.
    pub active: bool,
}

/// A role's KPI assignment: the items of the role's scorecard (replaces what it had).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncAssignment {
    /// The role.
    pub role: RoleKey,
    /// Its KPIs.
    pub items: Vec<NewItem>,
}

/// Whether people missing from the payload are left alone or deactivated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// Only the records sent change.
    Incremental,
    /// The payload is the whole roster: active people not in it are deactivated.
    FullRoster,
}

/// Everything one sync carries.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    /// Teams.
    pub teams: Vec<SyncTeam>,
    /// People.
    pub people: Vec<SyncPerson>,
    /// Job roles.
    pub roles: Vec<SyncRole>,
    /// Role KPI assignments.
    pub assignments: Vec<SyncAssignment>,
    /// Incremental or full roster.
    pub mode: SyncMode,
}

/// What a sync did (or would do) to one kind of record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Diff {
    /// New records.
    pub created: u64,
    /// Records that changed.
    pub updated: u64,
    /// Records sent exactly as stored.
    pub unchanged: u64,
    /// Records deactivated because a full roster left them out.
    pub deactivated: u64,
}

/// One changed record, for the diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncChange {
    /// `Team`, `Person`, `JobRole` or `RoleAssignment`.
    pub entity: &'static str,
    /// The record's HR id or key.
    pub key: String,
    /// `CREATED`, `UPDATED` or `DEACTIVATED`.
    pub action: &'static str,
}

/// What a sync did, per kind of record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncOutcome {
    /// Teams.
    pub teams: Diff,
    /// People.
    pub people: Diff,
    /// Job roles.
    pub roles: Diff,
    /// Role KPI assignments.
    pub assignments: Diff,
    /// The changed records (at most 1,000 listed).
    pub changes: Vec<SyncChange>,
    /// How many changes were not listed.
    pub changes_not_listed: u64,
}

impl SyncOutcome {
    fn note(&mut self, entity: &'static str, key: &str, action: &'static str) {
        if self.changes.len() < MAX_LISTED_CHANGES {
            self.changes.push(SyncChange {
                entity,
                key: key.to_owned(),
                action,
            });
        } else {
            self.changes_not_listed += 1;
        }
    }

    /// Whether anything changed.
    pub fn changed_anything(&self) -> bool {
        !self.changes.is_empty() || self.changes_not_listed > 0
    }
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn push(&mut self, path: String, message: impl Into<String>) {
        if self.0.len() < MAX_PROBLEMS {
            self.0.push(Problem::new(path, message));
        }
    }
}

/// Orders records so each comes after its parent when the parent is also being written:
/// returns layers to insert one after another (foreign keys need the parent row first).
fn layers(ids: &[Uuid], parent_of: &HashMap<Uuid, Uuid>) -> Vec<Vec<Uuid>> {
    let writing: HashSet<Uuid> = ids.iter().copied().collect();
    let mut depth: HashMap<Uuid, usize> = HashMap::new();
    for id in ids {
        // Walk up to the first ancestor whose depth is known (or that is not being written),
        // then assign depths on the way back down: iterative, so a 10,000-deep chain is fine.
        let mut chain = vec![*id];
        let mut base = 0;
        while let Some(current) = chain.last().copied() {
            if let Some(d) = depth.get(&current) {
                base = *d;
                chain.pop();
                break;
            }
            match parent_of.get(&current) {
                Some(parent) if writing.contains(parent) && chain.len() <= writing.len() => {
                    chain.push(*parent)
                }
                _ => {
                    base = 0;
                    depth.insert(current, 0);
                    chain.pop();
                    break;
                }
            }
        }
        for (offset, node) in chain.iter().rev().enumerate() {
            depth.insert(*node, base + offset + 1);
        }
    }
    let mut out: Vec<Vec<Uuid>> = Vec::new();
    for id in ids {
        let d = depth.get(id).copied().unwrap_or(0);
        if out.len() <= d {
            out.resize(d + 1, Vec::new());
        }
        out[d].push(*id);
    }
    out
}

fn team_json(t: &teams::Model, parent_key: Option<&str>) -> Json {
    json!({ "externalId": t.external_id, "name": t.name, "parentExternalId": parent_key, "active": t.active })
}

fn person_json(
    p: &people::Model,
    manager: Option<&str>,
    team: Option<&str>,
    roles: &[String],
) -> Json {
    json!({
        "externalId": p.external_id, "name": p.name, "email": p.email, "subject": p.subject,
        "managerExternalId": manager, "teamExternalId": team, "roleKeys": roles, "active": p.active,
    })
}

fn role_json(r: &job_roles::Model) -> Json {
    json!({ "key": r.key, "name": r.name, "active": r.active })
}

impl Tenant {
    /// Applies an HR sync (see the module docs). With `dry_run`, reports the diff and writes
    /// nothing. The audit trail records the changes under the operation `syncHr`.
    pub async fn sync_hr(
        &self,
        actor: &Actor,
        req: &SyncRequest,
        dry_run: bool,
    ) -> StoreResult<SyncOutcome> {
        self.sync_hr_as(actor, req, dry_run, "syncHr").await
    }

    /// Like [`Tenant::sync_hr`], recording the changes in the audit trail under `operation`
    /// (the mutation that asked for them, such as `upsertPerson`).
    pub async fn sync_hr_as(
        &self,
        actor: &Actor,
        req: &SyncRequest,
        dry_run: bool,
        operation: &'static str,
    ) -> StoreResult<SyncOutcome> {
        let mut retry = Retry::default();
        loop {
            match self.try_sync_hr(actor, req, dry_run, operation).await {
                Err(e) if retry.again(&e).await => continue,
                done => return done,
            }
        }
    }

    /// One run of [`Tenant::sync_hr_as`]. Concurrent syncs of the organization run one after
    /// the other (see [`BulkArea`]): each compares the payload with the roster the previous one
    /// left.
    async fn try_sync_hr(
        &self,
        actor: &Actor,
        req: &SyncRequest,
        dry_run: bool,
        operation: &'static str,
    ) -> StoreResult<SyncOutcome> {
        let (_turn, txn) = self
            .store
            .begin_bulk_write(self.org_id, BulkArea::People)
            .await?;
        let org = self.org_id;
        let now = Utc::now();

        // Current state.
        let teams_db: Vec<teams::Model> = teams::Entity::find()
            .filter(teams::Column::OrgId.eq(org))
            .all(&txn)
            .await?;
        let people_db: Vec<people::Model> = people::Entity::find()
            .filter(people::Column::OrgId.eq(org))
            .all(&txn)
            .await?;
        let roles_db: Vec<job_roles::Model> = job_roles::Entity::find()
            .filter(job_roles::Column::OrgId.eq(org))
            .all(&txn)
            .await?;
        let held_db: Vec<person_roles::Model> = person_roles::Entity::find()
            .filter(person_roles::Column::OrgId.eq(org))
            .all(&txn)
            .await?;
        let role_cards_db: Vec<scorecards::Model> = scorecards::Entity::find()
            .filter(scorecards::Column::OrgId.eq(org))
            .filter(scorecards::Column::OwnerKind.eq(OwnerKind::Role.as_str()))
            .all(&txn)
            .await?;

        let team_by_ext: HashMap<&str, &teams::Model> = teams_db
            .iter()
            .map(|t| (t.external_id.as_str(), t))
            .collect();
        let team_ext_of: HashMap<Uuid, &str> = teams_db
            .iter()
            .map(|t| (t.id, t.external_id.as_str()))
            .collect();
        let person_by_ext: HashMap<&str, &people::Model> = people_db
            .iter()
            .map(|p| (p.external_id.as_str(), p))
            .collect();
        let person_ext_of: HashMap<Uuid, &str> = people_db
            .iter()
            .map(|p| (p.id, p.external_id.as_str()))
            .collect();
        let role_by_key: HashMap<&str, &job_roles::Model> =
            roles_db.iter().map(|r| (r.key.as_str(), r)).collect();
        let role_key_of: HashMap<Uuid, &str> =
            roles_db.iter().map(|r| (r.id, r.key.as_str())).collect();
        let mut held: HashMap<Uuid, BTreeSet<Uuid>> = HashMap::new();
        for h in &held_db {
            held.entry(h.person_id).or_default().insert(h.role_id);
        }
        let card_of_role: HashMap<Uuid, &scorecards::Model> = role_cards_db
            .iter()
            .filter_map(|c| c.role_id.map(|r| (r, c)))
            .collect();

        let mut problems = Problems::default();

        // Ids for everything sent: existing ids, or new ones.
        let mut team_id: HashMap<&str, Uuid> =
            team_by_ext.iter().map(|(k, t)| (*k, t.id)).collect();
        let mut seen = HashMap::new();
        for (i, t) in req.teams.iter().enumerate() {
            let ext = t.external_id.as_str();
            if let Some(first) = seen.insert(ext, i) {
                problems.push(
                    format!("teams[{i}].externalId"),
                    format!("`{ext}` also appears at teams[{first}]"),
                );
            }
            team_id.entry(ext).or_insert_with(Uuid::now_v7);
        }
        let mut role_id: HashMap<&str, Uuid> =
            role_by_key.iter().map(|(k, r)| (*k, r.id)).collect();
        let mut seen = HashMap::new();
        for (i, r) in req.roles.iter().enumerate() {
            let key = r.key.as_str();
            if let Some(first) = seen.insert(key, i) {
                problems.push(
                    format!("roles[{i}].key"),
                    format!("`{key}` also appears at roles[{first}]"),
                );
            }
            role_id.entry(key).or_insert_with(Uuid::now_v7);
        }
        let mut person_id: HashMap<&str, Uuid> =
            person_by_ext.iter().map(|(k, p)| (*k, p.id)).collect();
        let mut seen = HashMap::new();
        let mut subjects: HashMap<&str, usize> = HashMap::new();
        for (i, p) in req.people.iter().enumerate() {
            let ext = p.external_id.as_str();
            if let Some(first) = seen.insert(ext, i) {
                problems.push(
                    format!("people[{i}].externalId"),
                    format!("`{ext}` also appears at people[{first}]"),
                );
            }
            person_id.entry(ext).or_insert_with(Uuid::now_v7);
            if let Some(sub) = p.subject.as_deref()
                && let Some(first) = subjects.insert(sub, i)
            {
                problems.push(
                    format!("people[{i}].subject"),
                    format!("`{sub}` is also the subject of people[{first}]"),
                );
            }
        }
        // A subject already used by someone the payload does not mention.
        for (i, p) in req.people.iter().enumerate() {
            if let Some(sub) = p.subject.as_deref() {
                let clash = people_db.iter().find(|q| {
                    q.subject.as_deref() == Some(sub)
                        && q.external_id != p.external_id.as_str()
                        && !seen.contains_key(q.external_id.as_str())
                });
                if let Some(other) = clash {
                    problems.push(
                        format!("people[{i}].subject"),
                        format!("`{sub}` already belongs to `{}`", other.external_id),
                    );
                }
            }
        }

        // Team parents: known, and no team inside itself.
        let mut team_parent: HashMap<Uuid, Uuid> = teams_db
            .iter()
            .filter_map(|t| t.parent_id.map(|p| (t.id, p)))
            .collect();
        for (i, t) in req.teams.iter().enumerate() {
            let id = team_id[t.external_id.as_str()];
            team_parent.remove(&id);
            if let Some(parent) = &t.parent {
                match team_id.get(parent.as_str()) {
                    Some(pid) => {
                        team_parent.insert(id, *pid);
                    }
                    None => problems.push(
                        format!("teams[{i}].parentExternalId"),
                        format!("no team `{}`", parent.as_str()),
                    ),
                }
            }
        }
        let team_index: HashMap<Uuid, usize> = req
            .teams
            .iter()
            .enumerate()
            .map(|(i, t)| (team_id[t.external_id.as_str()], i))
            .collect();
        for cycle in find_cycles(&team_parent) {
            for id in &cycle {
                if let Some(i) = team_index.get(id) {
                    problems.push(
                        format!("teams[{i}].parentExternalId"),
                        "this parent makes the team contain itself",
                    );
                }
            }
        }

        // People: managers, teams and roles known; no management loop.
        let mut manager_of: HashMap<Uuid, Uuid> = people_db
            .iter()
            .filter_map(|p| p.manager_id.map(|m| (p.id, m)))
            .collect();
        for (i, p) in req.people.iter().enumerate() {
            let id = person_id[p.external_id.as_str()];
            manager_of.remove(&id);
            if let Some(manager) = &p.manager {
                match person_id.get(manager.as_str()) {
                    Some(mid) => {
                        manager_of.insert(id, *mid);
                    }
                    None => problems.push(
                        format!("people[{i}].managerExternalId"),
                        format!("no person `{}`", manager.as_str()),
                    ),
                }
            }
            if let Some(team) = &p.team
                && !team_id.contains_key(team.as_str())
            {
                problems.push(
                    format!("people[{i}].teamExternalId"),
                    format!("no team `{}`", team.as_str()),
                );
            }
            for (j, role) in p.roles.iter().enumerate() {
                if !role_id.contains_key(role.as_str()) {
                    problems.push(
                        format!("people[{i}].roleKeys[{j}]"),
                        format!("no job role `{}`", role.as_str()),
                    );
                }
            }
        }
        let person_index: HashMap<Uuid, usize> = req
            .people
            .iter()
            .enumerate()
            .map(|(i, p)| (person_id[p.external_id.as_str()], i))
            .collect();
        for cycle in find_cycles(&manager_of) {
            let names: Vec<&str> = cycle
                .iter()
                .filter_map(|id| {
                    person_index
                        .get(id)
                        .map(|i| req.people[*i].external_id.as_str())
                        .or_else(|| person_ext_of.get(id).copied())
                })
                .collect();
            for id in &cycle {
                if let Some(i) = person_index.get(id) {
                    problems.push(
                        format!("people[{i}].managerExternalId"),
                        format!(
                            "management loop: {} manage each other in a circle",
                            names.join(" -> ")
                        ),
                    );
                }
            }
        }

        // Assignments: roles known, once each; items resolved against the glossary.
        let mut seen = HashMap::new();
        for (i, a) in req.assignments.iter().enumerate() {
            let key = a.role.as_str();
            if !role_id.contains_key(key) {
                problems.push(
                    format!("assignments[{i}].roleKey"),
                    format!("no job role `{key}`"),
                );
            }
            if let Some(first) = seen.insert(key, i) {
                problems.push(
                    format!("assignments[{i}].roleKey"),
                    format!("`{key}` also appears at assignments[{first}]"),
                );
            }
        }
        let lists: Vec<(String, &[NewItem])> = req
            .assignments
            .iter()
            .enumerate()
            .map(|(i, a)| (format!("assignments[{i}].items"), a.items.as_slice()))
            .collect();
        let (resolved_items, item_problems) = resolve_items(&txn, org, &lists).await?;
        for p in item_problems {
            problems.push(p.path, p.message);
        }
        if !problems.0.is_empty() {
            txn.rollback().await?;
            return Err(StoreError::Invalid(problems.0));
        }

        // The diff.
        let mut outcome = SyncOutcome::default();
        let mut changes: Vec<Change> = Vec::new();

        let mut team_writes: Vec<teams::ActiveModel> = Vec::new();
        let mut team_write_ids = Vec::new();
        for t in &req.teams {
            let ext = t.external_id.as_str();
            let id = team_id[ext];
            let parent_id = t
                .parent
                .as_ref()
                .and_then(|p| team_id.get(p.as_str()).copied());
            let row = teams::Model {
                org_id: org,
                id,
                external_id: ext.to_owned(),
                name: t.name.clone(),
                parent_id,
                active: t.active,
                created_at: team_by_ext.get(ext).map_or(now, |e| e.created_at),
                updated_at: now,
            };
            let parent_key = t.parent.as_ref().map(|p| p.as_str());
            let (action, before) = match team_by_ext.get(ext) {
                Some(old)
                    if old.name == row.name
                        && old.parent_id == row.parent_id
                        && old.active == row.active =>
                {
                    outcome.teams.unchanged += 1;
                    continue;
                }
                Some(old) => {
                    outcome.teams.updated += 1;
                    let old_parent = old.parent_id.and_then(|p| team_ext_of.get(&p).copied());
                    ("UPDATED", Some(team_json(old, old_parent)))
                }
                None => {
                    outcome.teams.created += 1;
                    ("CREATED", None)
                }
            };
            outcome.note("Team", ext, action);
            changes.push(Change {
                operation,
                entity_type: "Team",
                entity_id: id.to_string(),
                before,
                after: Some(team_json(&row, parent_key)),
            });
            team_write_ids.push(id);
            team_writes.push(row.into());
        }

        let mut role_writes: Vec<job_roles::ActiveModel> = Vec::new();
        for r in &req.roles {
            let key = r.key.as_str();
            let row = job_roles::Model {
                org_id: org,
                id: role_id[key],
                key: key.to_owned(),
                name: r.name.clone(),
                active: r.active,
                created_at: role_by_key.get(key).map_or(now, |e| e.created_at),
                updated_at: now,
            };
            let (action, before) = match role_by_key.get(key) {
                Some(old) if old.name == row.name && old.active == row.active => {
                    outcome.roles.unchanged += 1;
                    continue;
                }
                Some(old) => {
                    outcome.roles.updated += 1;
                    ("UPDATED", Some(role_json(old)))
                }
                None => {
                    outcome.roles.created += 1;
                    ("CREATED", None)
                }
            };
            outcome.note("JobRole", key, action);
            changes.push(Change {
                operation,
                entity_type: "JobRole",
                entity_id: row.id.to_string(),
                before,
                after: Some(role_json(&row)),
            });
            role_writes.push(row.into());
        }

        let mut people_writes: HashMap<Uuid, people::ActiveModel> = HashMap::new();
        let mut role_replacements: Vec<(Uuid, BTreeSet<Uuid>)> = Vec::new();
        let mut removals: Vec<Removal> = Vec::new();
        // Stored people whose subject changes: their old subject is released before any row
        // is written, so subjects can move between people within one sync (a swap, or one
        // person taking over another's) without tripping the unique index row by row.
        let mut subject_released: Vec<Uuid> = Vec::new();
        for p in &req.people {
            let ext = p.external_id.as_str();
            let id = person_id[ext];
            let manager_id = p
                .manager
                .as_ref()
                .and_then(|m| person_id.get(m.as_str()).copied());
            let team = p
                .team
                .as_ref()
                .and_then(|t| team_id.get(t.as_str()).copied());
            let roles: BTreeSet<Uuid> = p
                .roles
                .iter()
                .filter_map(|r| role_id.get(r.as_str()).copied())
                .collect();
            let row = people::Model {
                org_id: org,
                id,
                external_id: ext.to_owned(),
                name: p.name.clone(),
                email: p.email.as_ref().map(|e| e.as_str().to_owned()),
                subject: p.subject.clone(),
                manager_id,
                team_id: team,
                active: p.active,
                created_at: person_by_ext.get(ext).map_or(now, |e| e.created_at),
                updated_at: now,
            };
            let old_roles = held.get(&id).cloned().unwrap_or_default();
            let role_keys: Vec<String> = p.roles.iter().map(|r| r.as_str().to_owned()).collect();
            let after = person_json(
                &row,
                p.manager.as_ref().map(|m| m.as_str()),
                p.team.as_ref().map(|t| t.as_str()),
                &role_keys,
            );
            let (action, before) = match person_by_ext.get(ext) {
                Some(old)
                    if old.name == row.name
                        && old.email == row.email
                        && old.subject == row.subject
                        && old.manager_id == row.manager_id
                        && old.team_id == row.team_id
                        && old.active == row.active
                        && old_roles == roles =>
                {
                    outcome.people.unchanged += 1;
                    continue;
                }
                Some(old) => {
                    outcome.people.updated += 1;
                    if old.subject.is_some() && old.subject != row.subject {
                        subject_released.push(id);
                    }
                    let old_keys: Vec<String> = old_roles
                        .iter()
                        .filter_map(|r| role_key_of.get(r).map(|k| (*k).to_owned()))
                        .collect();
                    let manager = old.manager_id.and_then(|m| person_ext_of.get(&m).copied());
                    let team = old.team_id.and_then(|t| team_ext_of.get(&t).copied());
                    ("UPDATED", Some(person_json(old, manager, team, &old_keys)))
                }
                None => {
                    outcome.people.created += 1;
                    ("CREATED", None)
                }
            };
            outcome.note("Person", ext, action);
            changes.push(Change {
                operation,
                entity_type: "Person",
                entity_id: id.to_string(),
                before,
                after: Some(after),
            });
            for gone in old_roles.difference(&roles) {
                removals.push(Removal {
                    dataset: "person_roles",
                    entity_id: format!("{id}:{gone}"),
                    natural_key: format!("{ext}:{}", role_key_of.get(gone).copied().unwrap_or("")),
                });
            }
            if person_by_ext.get(ext).is_some_and(|old| old.active) && !row.active {
                removals.push(Removal {
                    dataset: "people",
                    entity_id: id.to_string(),
                    natural_key: ext.to_owned(),
                });
            }
            if old_roles != roles {
                role_replacements.push((id, roles));
            }
            people_writes.insert(id, row.into());
        }

        let mut deactivate: Vec<Uuid> = Vec::new();
        if req.mode == SyncMode::FullRoster {
            let sent: HashSet<&str> = req.people.iter().map(|p| p.external_id.as_str()).collect();
            for old in people_db
                .iter()
                .filter(|p| p.active && !sent.contains(p.external_id.as_str()))
            {
                outcome.people.deactivated += 1;
                outcome.note("Person", &old.external_id, "DEACTIVATED");
                changes.push(Change {
                    operation,
                    entity_type: "Person",
                    entity_id: old.id.to_string(),
                    before: Some(json!({ "externalId": old.external_id, "active": true })),
                    after: Some(json!({ "externalId": old.external_id, "active": false })),
                });
                removals.push(Removal {
                    dataset: "people",
                    entity_id: old.id.to_string(),
                    natural_key: old.external_id.clone(),
                });
                deactivate.push(old.id);
            }
        }

        // Assignments: compare with the stored items of each role's scorecard.
        let card_ids: Vec<Uuid> = card_of_role.values().map(|c| c.id).collect();
        let mut stored_items: HashMap<Uuid, Vec<ScorecardItem>> = HashMap::new();
        for chunk in card_ids.chunks(CHUNK) {
            let rows = scorecard_items::Entity::find()
                .filter(scorecard_items::Column::OrgId.eq(org))
                .filter(scorecard_items::Column::ScorecardId.is_in(chunk.iter().copied()))
                .all(&txn)
                .await?;
            for row in rows {
                stored_items
                    .entry(row.scorecard_id)
                    .or_default()
                    .push(row.into());
            }
        }
        for items in stored_items.values_mut() {
            items.sort_by_key(|i| i.position);
        }
        let mut new_cards: Vec<scorecards::ActiveModel> = Vec::new();
        let mut item_replacements: Vec<(Uuid, &[ResolvedItem])> = Vec::new();
        for (a, items) in req.assignments.iter().zip(&resolved_items) {
            let key = a.role.as_str();
            let rid = role_id[key];
            let role_name = req
                .roles
                .iter()
                .find(|r| r.key.as_str() == key)
                .map(|r| r.name.clone())
                .or_else(|| role_by_key.get(key).map(|r| r.name.clone()))
                .unwrap_or_else(|| key.to_owned());
            let (card_id, before) = match card_of_role.get(&rid) {
                Some(card) => {
                    let stored = stored_items
                        .get(&card.id)
                        .map(Vec::as_slice)
                        .unwrap_or_default();
                    if same_items(stored, items) {
                        outcome.assignments.unchanged += 1;
                        continue;
                    }
                    outcome.assignments.updated += 1;
                    outcome.note("RoleAssignment", key, "UPDATED");
                    (
                        card.id,
                        Some(json!({ "roleKey": key, "itemCount": stored.len() })),
                    )
                }
                None => {
                    outcome.assignments.created += 1;
                    outcome.note("RoleAssignment", key, "CREATED");
                    let id = Uuid::now_v7();
                    new_cards.push(scorecards::ActiveModel {
                        org_id: Set(org),
                        id: Set(id),
                        name: Set(format!("{role_name} KPIs")),
                        owner_kind: Set(OwnerKind::Role.as_str().to_owned()),
                        role_id: Set(Some(rid)),
                        team_id: Set(None),
                        green_score: Set(ExactDecimal(DEFAULT_GREEN_SCORE)),
                        amber_score: Set(ExactDecimal(DEFAULT_AMBER_SCORE)),
                        created_at: Set(now),
                        updated_at: Set(now),
                    });
                    (id, None)
                }
            };
            changes.push(Change {
                operation,
                entity_type: "Scorecard",
                entity_id: card_id.to_string(),
                before,
                after: Some(scorecard_json(
                    &format!("{role_name} KPIs"),
                    Owner::Role(rid),
                    DEFAULT_GREEN_SCORE,
                    DEFAULT_AMBER_SCORE,
                    items,
                )),
            });
            item_replacements.push((card_id, items));
        }

        if dry_run {
            txn.rollback().await?;
            return Ok(outcome);
        }

        // Writes: parents before children, so foreign keys hold at every insert.
        let team_layers = layers(&team_write_ids, &team_parent);
        let mut team_rows: HashMap<Uuid, teams::ActiveModel> =
            team_write_ids.iter().copied().zip(team_writes).collect();
        for layer in team_layers {
            let rows: Vec<teams::ActiveModel> =
                layer.iter().filter_map(|id| team_rows.remove(id)).collect();
            upsert_teams(&txn, rows).await?;
        }
        for chunk in role_writes.chunks(CHUNK) {
            job_roles::Entity::insert_many(chunk.to_vec())
                .on_conflict(
                    OnConflict::columns([job_roles::Column::OrgId, job_roles::Column::Key])
                        .update_columns([
                            job_roles::Column::Name,
                            job_roles::Column::Active,
                            job_roles::Column::UpdatedAt,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        for chunk in subject_released.chunks(CHUNK) {
            people::Entity::update_many()
                .col_expr(
                    people::Column::Subject,
                    sea_orm::sea_query::Expr::value(Option::<String>::None),
                )
                .filter(people::Column::OrgId.eq(org))
                .filter(people::Column::Id.is_in(chunk.iter().copied()))
                .exec(&txn)
                .await?;
        }
        let people_ids: Vec<Uuid> = people_writes.keys().copied().collect();
        for layer in layers(&people_ids, &manager_of) {
            let rows: Vec<people::ActiveModel> = layer
                .iter()
                .filter_map(|id| people_writes.remove(id))
                .collect();
            upsert_people(&txn, rows).await?;
        }
        for chunk in deactivate.chunks(CHUNK) {
            people::Entity::update_many()
                .col_expr(
                    people::Column::Active,
                    sea_orm::sea_query::Expr::value(false),
                )
                .col_expr(
                    people::Column::UpdatedAt,
                    sea_orm::sea_query::Expr::value(now),
                )
                .filter(people::Column::OrgId.eq(org))
                .filter(people::Column::Id.is_in(chunk.iter().copied()))
                .exec(&txn)
                .await?;
        }
        let replaced: Vec<Uuid> = role_replacements.iter().map(|(id, _)| *id).collect();
        for chunk in replaced.chunks(CHUNK) {
            person_roles::Entity::delete_many()
                .filter(person_roles::Column::OrgId.eq(org))
                .filter(person_roles::Column::PersonId.is_in(chunk.iter().copied()))
                .exec(&txn)
                .await?;
        }
        let mut holds: Vec<person_roles::ActiveModel> = Vec::new();
        for (person, roles) in &role_replacements {
            for role in roles {
                holds.push(person_roles::ActiveModel {
                    org_id: Set(org),
                    person_id: Set(*person),
                    role_id: Set(*role),
                    created_at: Set(now),
                });
            }
        }
        for chunk in holds.chunks(CHUNK) {
            person_roles::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&txn)
                .await?;
        }
        for chunk in new_cards.chunks(CHUNK) {
            scorecards::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&txn)
                .await?;
        }
        replace_items(&txn, org, actor, &item_replacements).await?;
        crate::sync::bury(&txn, org, actor, removals).await?;
        audit::record_all(&txn, org, actor, changes).await?;
        txn.commit().await?;
        Ok(outcome)
    }
}

async fn upsert_teams(txn: &DatabaseTransaction, rows: Vec<teams::ActiveModel>) -> StoreResult<()> {
    for chunk in rows.chunks(CHUNK) {
        teams::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([teams::Column::OrgId, teams::Column::ExternalId])
                    .update_columns([
                        teams::Column::Name,
                        teams::Column::ParentId,
                        teams::Column::Active,
                        teams::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

async fn upsert_people(
    txn: &DatabaseTransaction,
    rows: Vec<people::ActiveModel>,
) -> StoreResult<()> {
    for chunk in rows.chunks(CHUNK) {
        people::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([people::Column::OrgId, people::Column::ExternalId])
                    .update_columns([
                        people::Column::Name,
                        people::Column::Email,
                        people::Column::Subject,
                        people::Column::ManagerId,
                        people::Column::TeamId,
                        people::Column::Active,
                        people::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_handle_very_deep_chains() {
        let ids: Vec<Uuid> = (0..20_000).map(|_| Uuid::now_v7()).collect();
        let parent_of: HashMap<Uuid, Uuid> = ids.windows(2).map(|w| (w[1], w[0])).collect();
        let reversed: Vec<Uuid> = ids.iter().rev().copied().collect();
        let l = layers(&reversed, &parent_of);
        assert_eq!(l.len(), 20_000);
        assert_eq!(l[0], vec![ids[0]]);
        assert_eq!(l[19_999], vec![ids[19_999]]);
    }

    #[test]
    fn layers_put_parents_first() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        let c = Uuid::now_v7();
        let outside = Uuid::now_v7();
        let parent_of: HashMap<Uuid, Uuid> = [(b, a), (c, b), (a, outside)].into_iter().collect();
        let l = layers(&[c, b, a], &parent_of);
        assert_eq!(l, vec![vec![a], vec![b], vec![c]]);
    }
}
