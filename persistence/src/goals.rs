//! Goals: create, change, move through their life cycle, cascade and link; the balance rule
//! is enforced here, in the transaction that activates a goal.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, DatabaseTransaction, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::{Value as Json, json};
use tandem_domain::goals::{self as rules, GoalPeriod, GoalStatus};
use tandem_domain::metrics::Perspective;
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::entities::{goal_links, goals, organization_settings};
use crate::error::{StoreError, StoreResult};
use crate::store::{Actor, Page, Slice, Tenant, paginate};

/// Who owns a goal or an objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// A person.
    Person(Uuid),
    /// A team.
    Team(Uuid),
    /// Nobody in particular (the company).
    Company,
}

impl Ownership {
    pub(crate) fn from_columns(person: Option<Uuid>, team: Option<Uuid>) -> Self {
        match (person, team) {
            (Some(p), _) => Ownership::Person(p),
            (None, Some(t)) => Ownership::Team(t),
            (None, None) => Ownership::Company,
        }
    }

    pub(crate) fn columns(self) -> (Option<Uuid>, Option<Uuid>) {
        match self {
            Ownership::Person(p) => (Some(p), None),
            Ownership::Team(t) => (None, Some(t)),
            Ownership::Company => (None, None),
        }
    }
}

/// A goal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goal {
    /// Goal id.
    pub id: Uuid,
    /// What the goal is.
    pub title: String,
    /// Why and how.
    pub description: Option<String>,
    /// Balanced-scorecard perspective.
    pub perspective: Perspective,
    /// Owner.
    pub owner: Ownership,
    /// Period.
    pub period: GoalPeriod,
    /// Life-cycle status.
    pub status: GoalStatus,
    /// The goal it cascades from.
    pub parent_id: Option<Uuid>,
    /// Who created it.
    pub created_by: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A link between two goals, seen from one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalLink {
    /// The goal at the other end.
    pub other_goal_id: Uuid,
    /// Why the two goals belong together.
    pub rationale: String,
    /// Who linked them.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A goal to create.
#[derive(Debug, Clone)]
pub struct NewGoal {
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Perspective.
    pub perspective: Perspective,
    /// Owner.
    pub owner: Ownership,
    /// Period.
    pub period: GoalPeriod,
    /// Parent goal.
    pub parent_id: Option<Uuid>,
}

/// Changes to a goal; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct GoalPatch {
    /// New title.
    pub title: Option<String>,
    /// New description; `Some(None)` clears it.
    pub description: Option<Option<String>>,
    /// New perspective.
    pub perspective: Option<Perspective>,
    /// New owner.
    pub owner: Option<Ownership>,
    /// New period.
    pub period: Option<GoalPeriod>,
    /// New parent; `Some(None)` makes it a top-level goal.
    pub parent_id: Option<Option<Uuid>>,
}

/// Which goals to list.
#[derive(Debug, Clone, Default)]
pub struct GoalFilter {
    /// Only goals whose period overlaps `from..=to`.
    pub period: Option<(NaiveDate, NaiveDate)>,
    /// Only goals in this status.
    pub status: Option<GoalStatus>,
    /// Only goals in this perspective.
    pub perspective: Option<Perspective>,
    /// Only goals owned by this person.
    pub owner_person_id: Option<Uuid>,
    /// Only goals owned by this team.
    pub owner_team_id: Option<Uuid>,
    /// Only top-level goals (no parent).
    pub top_level_only: bool,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Database(sea_orm::DbErr::Type(format!(
        "stored goal {what} is invalid"
    )))
}

impl TryFrom<goals::Model> for Goal {
    type Error = StoreError;

    fn try_from(m: goals::Model) -> Result<Self, StoreError> {
        Ok(Goal {
            id: m.id,
            title: m.title,
            description: m.description,
            perspective: m.perspective.parse().map_err(|_| corrupt("perspective"))?,
            owner: Ownership::from_columns(m.owner_person_id, m.owner_team_id),
            period: GoalPeriod::new(m.period_start, m.period_end).map_err(|_| corrupt("period"))?,
            status: m.status.parse().map_err(|_| corrupt("status"))?,
            parent_id: m.parent_id,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

fn goal_json(g: &Goal) -> Json {
    let (person, team) = g.owner.columns();
    json!({
        "title": g.title, "description": g.description, "perspective": g.perspective.as_str(),
        "ownerPersonId": person, "ownerTeamId": team, "periodStart": g.period.start(),
        "periodEnd": g.period.end(), "status": g.status.as_str(), "parentId": g.parent_id,
    })
}

fn ordered(a: Uuid, b: Uuid) -> (Uuid, Uuid) {
    if a <= b { (a, b) } else { (b, a) }
}

impl Tenant {
    /// The organization's goals narrowed by `filter`, unordered.
    pub(crate) fn goal_query(&self, filter: &GoalFilter) -> sea_orm::Select<goals::Entity> {
        let mut query = goals::Entity::find().filter(goals::Column::OrgId.eq(self.org_id));
        if let Some((from, to)) = filter.period {
            query = query
                .filter(goals::Column::PeriodStart.lte(to))
                .filter(goals::Column::PeriodEnd.gte(from));
        }
        if let Some(status) = filter.status {
            query = query.filter(goals::Column::Status.eq(status.as_str()));
        }
        if let Some(p) = filter.perspective {
            query = query.filter(goals::Column::Perspective.eq(p.as_str()));
        }
        if let Some(person) = filter.owner_person_id {
            query = query.filter(goals::Column::OwnerPersonId.eq(person));
        }
        if let Some(team) = filter.owner_team_id {
            query = query.filter(goals::Column::OwnerTeamId.eq(team));
        }
        if filter.top_level_only {
            query = query.filter(goals::Column::ParentId.is_null());
        }
        query
    }

    /// Lists goals by period start, then title.
    pub async fn goals(&self, filter: &GoalFilter, page: Page) -> StoreResult<Slice<Goal>> {
        let query = self
            .goal_query(filter)
            .order_by_asc(goals::Column::PeriodStart)
            .order_by_asc(goals::Column::Title)
            .order_by_asc(goals::Column::Id);
        paginate(self.db(), query, page, Goal::try_from).await
    }

    /// Every goal of the organization (for trees, which are read whole in one statement).
    pub async fn all_goals(&self) -> StoreResult<Vec<Goal>> {
        goals::Entity::find()
            .filter(goals::Column::OrgId.eq(self.org_id))
            .order_by_asc(goals::Column::Title)
            .all(self.db())
            .await?
            .into_iter()
            .map(Goal::try_from)
            .collect()
    }

    /// Loads goals by id.
    pub async fn goals_by_ids(&self, ids: &[Uuid]) -> StoreResult<HashMap<Uuid, Goal>> {
        let mut found = HashMap::new();
        for chunk in ids.chunks(500) {
            for m in goals::Entity::find()
                .filter(goals::Column::OrgId.eq(self.org_id))
                .filter(goals::Column::Id.is_in(chunk.iter().copied()))
                .all(self.db())
                .await?
            {
                let g = Goal::try_from(m)?;
                found.insert(g.id, g);
            }
        }
        Ok(found)
    }

    /// The links of the given goals, by goal.
    pub async fn goal_links(&self, ids: &[Uuid]) -> StoreResult<HashMap<Uuid, Vec<GoalLink>>> {
        let mut found: HashMap<Uuid, Vec<GoalLink>> = HashMap::new();
        for chunk in ids.chunks(500) {
            let rows = goal_links::Entity::find()
                .filter(goal_links::Column::OrgId.eq(self.org_id))
                .filter(
                    Condition::any()
                        .add(goal_links::Column::LowGoalId.is_in(chunk.iter().copied()))
                        .add(goal_links::Column::HighGoalId.is_in(chunk.iter().copied())),
                )
                .all(self.db())
                .await?;
            for l in rows {
                for (me, other) in [
                    (l.low_goal_id, l.high_goal_id),
                    (l.high_goal_id, l.low_goal_id),
                ] {
                    if chunk.contains(&me) {
                        let list = found.entry(me).or_default();
                        if !list.iter().any(|x| x.other_goal_id == other) {
                            list.push(GoalLink {
                                other_goal_id: other,
                                rationale: l.rationale.clone(),
                                created_by: l.created_by.clone(),
                                created_at: l.created_at,
                            });
                        }
                    }
                }
            }
        }
        Ok(found)
    }

    /// FINANCIAL goals in DRAFT or ACTIVE whose period overlaps `from..=to` and that have no
    /// link to a CUSTOMER goal.
    pub async fn unbalanced_goals(&self, from: NaiveDate, to: NaiveDate) -> StoreResult<Vec<Goal>> {
        let candidates: Vec<Goal> = goals::Entity::find()
            .filter(goals::Column::OrgId.eq(self.org_id))
            .filter(goals::Column::Perspective.eq(Perspective::Financial.as_str()))
            .filter(
                goals::Column::Status
                    .is_in([GoalStatus::Draft.as_str(), GoalStatus::Active.as_str()]),
            )
            .filter(goals::Column::PeriodStart.lte(to))
            .filter(goals::Column::PeriodEnd.gte(from))
            .order_by_asc(goals::Column::Title)
            .all(self.db())
            .await?
            .into_iter()
            .map(Goal::try_from)
            .collect::<Result<_, _>>()?;
        let ids: Vec<Uuid> = candidates.iter().map(|g| g.id).collect();
        let links = self.goal_links(&ids).await?;
        let others: Vec<Uuid> = links.values().flatten().map(|l| l.other_goal_id).collect();
        let linked = self.goals_by_ids(&others).await?;
        Ok(candidates
            .into_iter()
            .filter(|g| {
                !links.get(&g.id).into_iter().flatten().any(|l| {
                    linked
                        .get(&l.other_goal_id)
                        .is_some_and(|o| o.perspective == Perspective::Customer)
                })
            })
            .collect())
    }

    async fn check_ownership(
        &self,
        txn: &DatabaseTransaction,
        owner: Ownership,
    ) -> StoreResult<()> {
        crate::okrs::check_owner(txn, self.org_id, owner).await
    }

    async fn check_parent(
        &self,
        txn: &DatabaseTransaction,
        goal: Option<Uuid>,
        parent: Uuid,
    ) -> StoreResult<()> {
        let rows: Vec<(Uuid, Option<Uuid>)> = goals::Entity::find()
            .select_only()
            .column(goals::Column::Id)
            .column(goals::Column::ParentId)
            .filter(goals::Column::OrgId.eq(self.org_id))
            .into_tuple()
            .all(txn)
            .await?;
        if !rows.iter().any(|(id, _)| *id == parent) {
            return Err(StoreError::invalid(
                "parentId",
                "no such goal in your organization",
            ));
        }
        if let Some(goal) = goal {
            let parent_of: HashMap<Uuid, Uuid> = rows
                .iter()
                .filter_map(|(id, p)| p.map(|p| (*id, p)))
                .collect();
            if rules::creates_cycle(goal, parent, &parent_of) {
                return Err(StoreError::Conflict(
                    "that parent would make the goal its own ancestor".to_owned(),
                ));
            }
        }
        Ok(())
    }

    async fn load_goal(&self, txn: &DatabaseTransaction, id: Uuid) -> StoreResult<goals::Model> {
        goals::Entity::find()
            .filter(goals::Column::OrgId.eq(self.org_id))
            .filter(goals::Column::Id.eq(id))
            .one(txn)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                entity: "Goal",
                id: id.to_string(),
            })
    }

    /// Creates a goal in DRAFT.
    pub async fn create_goal(&self, actor: &Actor, new: NewGoal) -> StoreResult<Goal> {
        let txn = self.store.begin_write().await?;
        self.check_ownership(&txn, new.owner).await?;
        if let Some(parent) = new.parent_id {
            self.check_parent(&txn, None, parent).await?;
        }
        let now = Utc::now();
        let (person, team) = new.owner.columns();
        let row = goals::ActiveModel {
            org_id: Set(self.org_id),
            id: Set(Uuid::now_v7()),
            title: Set(new.title),
            description: Set(new.description),
            perspective: Set(new.perspective.as_str().to_owned()),
            owner_person_id: Set(person),
            owner_team_id: Set(team),
            period_start: Set(new.period.start()),
            period_end: Set(new.period.end()),
            status: Set(GoalStatus::Draft.as_str().to_owned()),
            parent_id: Set(new.parent_id),
            created_by: Set(actor.as_str().to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let goal = Goal::try_from(goals::Entity::insert(row).exec_with_returning(&txn).await?)?;
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation: "createGoal",
                entity_type: "Goal",
                entity_id: goal.id.to_string(),
                before: None,
                after: Some(goal_json(&goal)),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(goal)
    }

    /// Changes a goal's fields (not its status). Closed goals do not change.
    pub async fn update_goal(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: GoalPatch,
    ) -> StoreResult<Goal> {
        let txn = self.store.begin_write().await?;
        let current = self.load_goal(&txn, id).await?;
        let before = Goal::try_from(current.clone())?;
        if before.status.is_closed() {
            return Err(StoreError::Conflict(format!(
                "a {} goal cannot change",
                before.status
            )));
        }
        if let Some(owner) = patch.owner {
            self.check_ownership(&txn, owner).await?;
        }
        if let Some(Some(parent)) = patch.parent_id {
            self.check_parent(&txn, Some(id), parent).await?;
        }
        let mut active = current.into_active_model();
        if let Some(title) = patch.title {
            active.title = Set(title);
        }
        if let Some(description) = patch.description {
            active.description = Set(description);
        }
        if let Some(p) = patch.perspective {
            active.perspective = Set(p.as_str().to_owned());
        }
        if let Some(owner) = patch.owner {
            let (person, team) = owner.columns();
            active.owner_person_id = Set(person);
            active.owner_team_id = Set(team);
        }
        if let Some(period) = patch.period {
            active.period_start = Set(period.start());
            active.period_end = Set(period.end());
        }
        if let Some(parent) = patch.parent_id {
            active.parent_id = Set(parent);
        }
        active.updated_at = Set(Utc::now());
        let after = Goal::try_from(active.update(&txn).await?)?;
        // An ACTIVE goal that changes perspective becomes an ACTIVE goal of the new
        // perspective, so the balance rule applies; other edits (an ACTIVE FINANCIAL goal that
        // lost its link may still be renamed or moved) do not activate anything.
        if after.status == GoalStatus::Active && after.perspective != before.perspective {
            self.ensure_balanced(&txn, &after).await?;
        }
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation: "updateGoal",
                entity_type: "Goal",
                entity_id: id.to_string(),
                before: Some(goal_json(&before)),
                after: Some(goal_json(&after)),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(after)
    }

    async fn ensure_balanced(&self, txn: &DatabaseTransaction, goal: &Goal) -> StoreResult<()> {
        let require = organization_settings::Entity::find_by_id(self.org_id)
            .one(txn)
            .await?
            .is_none_or(|s| s.require_customer_link);
        let links = goal_links::Entity::find()
            .filter(goal_links::Column::OrgId.eq(self.org_id))
            .filter(
                Condition::any()
                    .add(goal_links::Column::LowGoalId.eq(goal.id))
                    .add(goal_links::Column::HighGoalId.eq(goal.id)),
            )
            .all(txn)
            .await?;
        let others: Vec<Uuid> = links
            .iter()
            .map(|l| {
                if l.low_goal_id == goal.id {
                    l.high_goal_id
                } else {
                    l.low_goal_id
                }
            })
            .collect();
        let perspectives: Vec<Perspective> = goals::Entity::find()
            .filter(goals::Column::OrgId.eq(self.org_id))
            .filter(goals::Column::Id.is_in(others))
            .all(txn)
            .await?
            .into_iter()
            .filter_map(|g| g.perspective.parse().ok())
            .collect();
        rules::ensure_can_activate(goal.perspective, &perspectives, require)
            .map_err(|e| StoreError::Conflict(format!("`{}`: {}", goal.title, e.message)))
    }

    /// Moves a goal to a new status, enforcing the life cycle and the balance rule.
    pub async fn set_goal_status(
        &self,
        actor: &Actor,
        id: Uuid,
        status: GoalStatus,
    ) -> StoreResult<Goal> {
        let txn = self.store.begin_write().await?;
        let current = self.load_goal(&txn, id).await?;
        let before = Goal::try_from(current.clone())?;
        rules::transition(before.status, status).map_err(|e| StoreError::Conflict(e.message))?;
        if status == GoalStatus::Active {
            self.ensure_balanced(&txn, &before).await?;
        }
        let mut active = current.into_active_model();
        active.status = Set(status.as_str().to_owned());
        active.updated_at = Set(Utc::now());
        let after = Goal::try_from(active.update(&txn).await?)?;
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation: "setGoalStatus",
                entity_type: "Goal",
                entity_id: id.to_string(),
                before: Some(goal_json(&before)),
                after: Some(goal_json(&after)),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(after)
    }

    /// Links two goals with a rationale (either direction; linking again updates the rationale).
    pub async fn link_goals(
        &self,
        actor: &Actor,
        a: Uuid,
        b: Uuid,
        rationale: &str,
    ) -> StoreResult<()> {
        if a == b {
            return Err(StoreError::invalid(
                "otherGoalId",
                "a goal cannot be linked to itself",
            ));
        }
        let txn = self.store.begin_write().await?;
        self.load_goal(&txn, a).await?;
        self.load_goal(&txn, b).await?;
        let (low, high) = ordered(a, b);
        let existing = goal_links::Entity::find_by_id((self.org_id, low, high))
            .one(&txn)
            .await?;
        let before = existing
            .as_ref()
            .map(|l| json!({ "rationale": l.rationale }));
        match existing {
            Some(link) => {
                let mut active = link.into_active_model();
                active.rationale = Set(rationale.to_owned());
                active.update(&txn).await?;
            }
            None => {
                goal_links::Entity::insert(goal_links::ActiveModel {
                    org_id: Set(self.org_id),
                    low_goal_id: Set(low),
                    high_goal_id: Set(high),
                    rationale: Set(rationale.to_owned()),
                    created_by: Set(actor.as_str().to_owned()),
                    created_at: Set(Utc::now()),
                })
                .exec_without_returning(&txn)
                .await?;
            }
        }
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation: "linkGoals",
                entity_type: "Goal",
                entity_id: a.to_string(),
                before,
                after: Some(json!({ "goalId": a, "otherGoalId": b, "rationale": rationale })),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Removes a link. An ACTIVE FINANCIAL goal keeps its status; the unbalanced-goals list
    /// shows it until it is linked again.
    pub async fn unlink_goals(&self, actor: &Actor, a: Uuid, b: Uuid) -> StoreResult<()> {
        let txn = self.store.begin_write().await?;
        let (low, high) = ordered(a, b);
        let existing = goal_links::Entity::find_by_id((self.org_id, low, high))
            .one(&txn)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                entity: "GoalLink",
                id: format!("{a}-{b}"),
            })?;
        goal_links::Entity::delete_by_id((self.org_id, low, high))
            .exec(&txn)
            .await?;
        let link = format!("{low}:{high}");
        crate::sync::bury(
            &txn,
            self.org_id,
            actor,
            vec![crate::sync::Removal {
                dataset: "goal_links",
                entity_id: link.clone(),
                natural_key: link,
            }],
        )
        .await?;
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation: "unlinkGoals",
                entity_type: "Goal",
                entity_id: a.to_string(),
                before: Some(
                    json!({ "goalId": a, "otherGoalId": b, "rationale": existing.rationale }),
                ),
                after: None,
            },
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }
}
