//! Governance: forums and their review sessions, trade-off rules with guards, decisions and
//! maturity assessments.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
};
use serde_json::json;
use tandem_domain::governance::{Cadence, Capability, Comparator, Level, RuleKind};
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::decimal::ExactDecimal;
use crate::entities::{
    decision_rules, decisions, forum_members, forums, goals, maturity_assessments, metrics, people,
    review_sessions, scorecards, session_attendees, session_goals, session_scorecards,
    trade_off_rules,
};
use crate::error::{Problem, StoreError, StoreResult, corrupt};
use crate::store::{Actor, Page, Slice, Tenant, paginate};

/// A review forum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forum {
    /// Forum id.
    pub id: Uuid,
    /// Name ("Quarterly business review").
    pub name: String,
    /// How often it meets.
    pub cadence: Cadence,
    /// When it was set up (the first session is due one cadence later).
    pub set_up_on: NaiveDate,
    /// Members.
    pub members: Vec<Uuid>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A review session of a forum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewSession {
    /// Session id.
    pub id: Uuid,
    /// The forum.
    pub forum_id: Uuid,
    /// When it was held.
    pub held_on: NaiveDate,
    /// Notes.
    pub notes: Option<String>,
    /// Dashboards used, by name.
    pub dashboards_used: Vec<String>,
    /// People who attended.
    pub attendees: Vec<Uuid>,
    /// Goals reviewed.
    pub goal_ids: Vec<Uuid>,
    /// Scorecards reviewed.
    pub scorecard_ids: Vec<Uuid>,
    /// Who recorded it.
    pub created_by: String,
}

/// A machine-checkable guard: the metric stays on one side of a threshold while a goal is ACTIVE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guard {
    /// The metric watched.
    pub metric_id: Uuid,
    /// Which side it must stay on.
    pub comparator: Comparator,
    /// The threshold.
    pub threshold: Decimal,
    /// The goal whose being ACTIVE switches the guard on.
    pub goal_id: Uuid,
}

/// A trade-off rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeOffRule {
    /// Rule id.
    pub id: Uuid,
    /// Acceptable or unacceptable.
    pub kind: RuleKind,
    /// The rule in words.
    pub statement: String,
    /// Owner.
    pub owner_person_id: Option<Uuid>,
    /// Optional guard.
    pub guard: Option<Guard>,
    /// Who wrote it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Decision id.
    pub id: Uuid,
    /// Short title.
    pub title: String,
    /// The situation.
    pub context: String,
    /// Options considered.
    pub options: Vec<String>,
    /// What was decided.
    pub outcome: String,
    /// Whether it was escalated.
    pub escalated: bool,
    /// Whether an agreed rule resolved it.
    pub resolved_by_rule: bool,
    /// The session it was taken in.
    pub session_id: Option<Uuid>,
    /// When it was decided.
    pub decided_on: NaiveDate,
    /// Rules applied.
    pub rule_ids: Vec<Uuid>,
    /// Who logged it.
    pub created_by: String,
}

/// A maturity assessment of one capability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// Assessment id.
    pub id: Uuid,
    /// The capability.
    pub capability: Capability,
    /// Level 1-5.
    pub level: Level,
    /// Owner.
    pub owner_person_id: Option<Uuid>,
    /// Evidence.
    pub evidence: Option<String>,
    /// When assessed.
    pub assessed_on: NaiveDate,
    /// Who recorded it.
    pub created_by: String,
}

/// A session to record.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Forum.
    pub forum_id: Uuid,
    /// Date held.
    pub held_on: NaiveDate,
    /// Notes.
    pub notes: Option<String>,
    /// Dashboards used.
    pub dashboards_used: Vec<String>,
    /// Attendees.
    pub attendees: Vec<Uuid>,
    /// Goals reviewed.
    pub goal_ids: Vec<Uuid>,
    /// Scorecards reviewed.
    pub scorecard_ids: Vec<Uuid>,
}

/// A decision to log.
#[derive(Debug, Clone)]
pub struct NewDecision {
    /// Title.
    pub title: String,
    /// Context.
    pub context: String,
    /// Options.
    pub options: Vec<String>,
    /// Outcome.
    pub outcome: String,
    /// Escalated.
    pub escalated: bool,
    /// Resolved by an agreed rule.
    pub resolved_by_rule: bool,
    /// Session.
    pub session_id: Option<Uuid>,
    /// Date decided.
    pub decided_on: NaiveDate,
    /// Rules applied.
    pub rule_ids: Vec<Uuid>,
}

/// Adds a problem at `field[i]` for every wanted id the organization does not have.
fn check_ids(
    found: &HashSet<Uuid>,
    wanted: &[Uuid],
    field: &str,
    what: &str,
    problems: &mut Vec<Problem>,
) {
    for (i, id) in wanted.iter().enumerate() {
        if !found.contains(id) {
            problems.push(Problem::new(
                format!("{field}[{i}]"),
                format!("no such {what} in your organization"),
            ));
        }
    }
}

impl Tenant {
    /// Every forum, by name, with members.
    pub async fn forums(&self) -> StoreResult<Vec<Forum>> {
        let rows = forums::Entity::find()
            .filter(forums::Column::OrgId.eq(self.org_id))
            .order_by_asc(forums::Column::Name)
            .all(self.db())
            .await?;
        let members = forum_members::Entity::find()
            .filter(forum_members::Column::OrgId.eq(self.org_id))
            .all(self.db())
            .await?;
        let mut by_forum: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for m in members {
            by_forum.entry(m.forum_id).or_default().push(m.person_id);
        }
        rows.into_iter()
            .map(|f| {
                Ok(Forum {
                    cadence: f.cadence.parse().map_err(|_| corrupt("forum cadence"))?,
                    members: by_forum.remove(&f.id).unwrap_or_default(),
                    id: f.id,
                    name: f.name,
                    set_up_on: f.set_up_on,
                    created_at: f.created_at,
                })
            })
            .collect()
    }

    /// Creates a forum.
    pub async fn create_forum(
        &self,
        actor: &Actor,
        name: &str,
        cadence: Cadence,
        set_up_on: NaiveDate,
        members: &[Uuid],
    ) -> StoreResult<Forum> {
        let txn = self.store.begin_write().await?;
        let mut problems = Vec::new();
        let found = self.people_in(&txn, members).await?;
        check_ids(
            &found,
            members,
            "memberExternalIds",
            "person",
            &mut problems,
        );
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        let now = Utc::now();
        let id = Uuid::now_v7();
        forums::Entity::insert(forums::ActiveModel {
            org_id: Set(self.org_id),
            id: Set(id),
            name: Set(name.to_owned()),
            cadence: Set(cadence.as_str().to_owned()),
            set_up_on: Set(set_up_on),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await?;
        let unique: HashSet<Uuid> = members.iter().copied().collect();
        if !unique.is_empty() {
            forum_members::Entity::insert_many(unique.iter().map(|p| forum_members::ActiveModel {
                org_id: Set(self.org_id),
                forum_id: Set(id),
                person_id: Set(*p),
            }))
            .exec_without_returning(&txn)
            .await?;
        }
        audit::record(&txn, self.org_id, actor, Change {
            operation: "createForum",
            entity_type: "Forum",
            entity_id: id.to_string(),
            before: None,
            after: Some(json!({ "name": name, "cadence": cadence.as_str(), "setUpOn": set_up_on, "members": unique })),
        })
        .await?;
        txn.commit().await?;
        Ok(Forum {
            id,
            name: name.to_owned(),
            cadence,
            set_up_on,
            members: unique.into_iter().collect(),
            created_at: now,
        })
    }

    async fn people_in(
        &self,
        txn: &DatabaseTransaction,
        ids: &[Uuid],
    ) -> StoreResult<HashSet<Uuid>> {
        Ok(people::Entity::find()
            .filter(people::Column::OrgId.eq(self.org_id))
            .filter(people::Column::Id.is_in(ids.iter().copied()))
            .all(txn)
            .await?
            .into_iter()
            .map(|p| p.id)
            .collect())
    }

    /// Records a review session.
    pub async fn record_session(
        &self,
        actor: &Actor,
        new: NewSession,
    ) -> StoreResult<ReviewSession> {
        let txn = self.store.begin_write().await?;
        let mut problems = Vec::new();
        if forums::Entity::find()
            .filter(forums::Column::OrgId.eq(self.org_id))
            .filter(forums::Column::Id.eq(new.forum_id))
            .one(&txn)
            .await?
            .is_none()
        {
            problems.push(Problem::new(
                "forumId",
                "no such forum in your organization",
            ));
        }
        let people_found = self.people_in(&txn, &new.attendees).await?;
        check_ids(
            &people_found,
            &new.attendees,
            "attendeeExternalIds",
            "person",
            &mut problems,
        );
        let goals_found: HashSet<Uuid> = goals::Entity::find()
            .filter(goals::Column::OrgId.eq(self.org_id))
            .filter(goals::Column::Id.is_in(new.goal_ids.iter().copied()))
            .all(&txn)
            .await?
            .into_iter()
            .map(|g| g.id)
            .collect();
        check_ids(
            &goals_found,
            &new.goal_ids,
            "goalIds",
            "goal",
            &mut problems,
        );
        let cards_found: HashSet<Uuid> = scorecards::Entity::find()
            .filter(scorecards::Column::OrgId.eq(self.org_id))
            .filter(scorecards::Column::Id.is_in(new.scorecard_ids.iter().copied()))
            .all(&txn)
            .await?
            .into_iter()
            .map(|g| g.id)
            .collect();
        check_ids(
            &cards_found,
            &new.scorecard_ids,
            "scorecardIds",
            "scorecard",
            &mut problems,
        );
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        let id = Uuid::now_v7();
        review_sessions::Entity::insert(review_sessions::ActiveModel {
            org_id: Set(self.org_id),
            id: Set(id),
            forum_id: Set(new.forum_id),
            held_on: Set(new.held_on),
            notes: Set(new.notes.clone()),
            dashboards_used: Set(json!(new.dashboards_used)),
            created_by: Set(actor.as_str().to_owned()),
            created_at: Set(Utc::now()),
        })
        .exec_without_returning(&txn)
        .await?;
        let attendees: HashSet<Uuid> = new.attendees.iter().copied().collect();
        if !attendees.is_empty() {
            session_attendees::Entity::insert_many(attendees.iter().map(|p| {
                session_attendees::ActiveModel {
                    org_id: Set(self.org_id),
                    session_id: Set(id),
                    person_id: Set(*p),
                }
            }))
            .exec_without_returning(&txn)
            .await?;
        }
        let goal_set: HashSet<Uuid> = new.goal_ids.iter().copied().collect();
        if !goal_set.is_empty() {
            session_goals::Entity::insert_many(goal_set.iter().map(|g| {
                session_goals::ActiveModel {
                    org_id: Set(self.org_id),
                    session_id: Set(id),
                    goal_id: Set(*g),
                }
            }))
            .exec_without_returning(&txn)
            .await?;
        }
        let card_set: HashSet<Uuid> = new.scorecard_ids.iter().copied().collect();
        if !card_set.is_empty() {
            session_scorecards::Entity::insert_many(card_set.iter().map(|c| {
                session_scorecards::ActiveModel {
                    org_id: Set(self.org_id),
                    session_id: Set(id),
                    scorecard_id: Set(*c),
                }
            }))
            .exec_without_returning(&txn)
            .await?;
        }
        audit::record(&txn, self.org_id, actor, Change {
            operation: "recordReviewSession",
            entity_type: "ReviewSession",
            entity_id: id.to_string(),
            before: None,
            after: Some(json!({ "forumId": new.forum_id, "heldOn": new.held_on, "attendees": attendees,
                "goalIds": goal_set, "scorecardIds": card_set, "dashboardsUsed": new.dashboards_used, "notes": new.notes })),
        })
        .await?;
        txn.commit().await?;
        Ok(ReviewSession {
            id,
            forum_id: new.forum_id,
            held_on: new.held_on,
            notes: new.notes,
            dashboards_used: new.dashboards_used,
            attendees: attendees.into_iter().collect(),
            goal_ids: goal_set.into_iter().collect(),
            scorecard_ids: card_set.into_iter().collect(),
            created_by: actor.as_str().to_owned(),
        })
    }

    /// Every review session, newest first, with what it reviewed.
    pub async fn review_sessions(&self) -> StoreResult<Vec<ReviewSession>> {
        let rows = review_sessions::Entity::find()
            .filter(review_sessions::Column::OrgId.eq(self.org_id))
            .order_by_desc(review_sessions::Column::HeldOn)
            .order_by_desc(review_sessions::Column::Id)
            .all(self.db())
            .await?;
        let mut attendees: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for a in session_attendees::Entity::find()
            .filter(session_attendees::Column::OrgId.eq(self.org_id))
            .all(self.db())
            .await?
        {
            attendees.entry(a.session_id).or_default().push(a.person_id);
        }
        let mut goals_of: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for g in session_goals::Entity::find()
            .filter(session_goals::Column::OrgId.eq(self.org_id))
            .all(self.db())
            .await?
        {
            goals_of.entry(g.session_id).or_default().push(g.goal_id);
        }
        let mut cards_of: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for c in session_scorecards::Entity::find()
            .filter(session_scorecards::Column::OrgId.eq(self.org_id))
            .all(self.db())
            .await?
        {
            cards_of
                .entry(c.session_id)
                .or_default()
                .push(c.scorecard_id);
        }
        rows.into_iter()
            .map(|r| {
                Ok(ReviewSession {
                    dashboards_used: serde_json::from_value(r.dashboards_used.clone())
                        .map_err(|_| corrupt("session dashboards"))?,
                    attendees: attendees.remove(&r.id).unwrap_or_default(),
                    goal_ids: goals_of.remove(&r.id).unwrap_or_default(),
                    scorecard_ids: cards_of.remove(&r.id).unwrap_or_default(),
                    id: r.id,
                    forum_id: r.forum_id,
                    held_on: r.held_on,
                    notes: r.notes,
                    created_by: r.created_by,
                })
            })
            .collect()
    }

    /// Writes a trade-off rule.
    pub async fn define_rule(
        &self,
        actor: &Actor,
        kind: RuleKind,
        statement: &str,
        owner: Option<Uuid>,
        guard: Option<Guard>,
    ) -> StoreResult<TradeOffRule> {
        let txn = self.store.begin_write().await?;
        if let Some(g) = guard {
            if metrics::Entity::find()
                .filter(metrics::Column::OrgId.eq(self.org_id))
                .filter(metrics::Column::Id.eq(g.metric_id))
                .one(&txn)
                .await?
                .is_none()
            {
                return Err(StoreError::invalid("guard.metricKey", "no such metric"));
            }
            if goals::Entity::find()
                .filter(goals::Column::OrgId.eq(self.org_id))
                .filter(goals::Column::Id.eq(g.goal_id))
                .one(&txn)
                .await?
                .is_none()
            {
                return Err(StoreError::invalid(
                    "guard.goalId",
                    "no such goal in your organization",
                ));
            }
        }
        let now = Utc::now();
        let id = Uuid::now_v7();
        trade_off_rules::Entity::insert(trade_off_rules::ActiveModel {
            org_id: Set(self.org_id),
            id: Set(id),
            kind: Set(kind.as_str().to_owned()),
            statement: Set(statement.to_owned()),
            owner_person_id: Set(owner),
            guard_metric_id: Set(guard.map(|g| g.metric_id)),
            guard_comparator: Set(guard.map(|g| g.comparator.as_str().to_owned())),
            guard_threshold: Set(guard.map(|g| ExactDecimal(g.threshold))),
            guard_goal_id: Set(guard.map(|g| g.goal_id)),
            created_by: Set(actor.as_str().to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await?;
        audit::record(&txn, self.org_id, actor, Change {
            operation: "defineTradeOffRule",
            entity_type: "TradeOffRule",
            entity_id: id.to_string(),
            before: None,
            after: Some(json!({ "kind": kind.as_str(), "statement": statement, "ownerPersonId": owner,
                "guard": guard.map(|g| json!({ "metricId": g.metric_id, "comparator": g.comparator.as_str(),
                    "threshold": g.threshold.to_string(), "goalId": g.goal_id })) })),
        })
        .await?;
        txn.commit().await?;
        Ok(TradeOffRule {
            id,
            kind,
            statement: statement.to_owned(),
            owner_person_id: owner,
            guard,
            created_by: actor.as_str().to_owned(),
            created_at: now,
        })
    }

    /// Changes a trade-off rule; `None` leaves a field as it is, `Some(None)` clears the owner
    /// or the guard.
    pub async fn update_rule(
        &self,
        actor: &Actor,
        id: Uuid,
        kind: Option<RuleKind>,
        statement: Option<String>,
        owner: Option<Option<Uuid>>,
        guard: Option<Option<Guard>>,
    ) -> StoreResult<TradeOffRule> {
        let txn = self.store.begin_write().await?;
        let current = trade_off_rules::Entity::find()
            .filter(trade_off_rules::Column::OrgId.eq(self.org_id))
            .filter(trade_off_rules::Column::Id.eq(id))
            .one(&txn)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                entity: "TradeOffRule",
                id: id.to_string(),
            })?;
        if let Some(Some(g)) = guard {
            let metric_ok = metrics::Entity::find()
                .filter(metrics::Column::OrgId.eq(self.org_id))
                .filter(metrics::Column::Id.eq(g.metric_id))
                .one(&txn)
                .await?
                .is_some();
            if !metric_ok {
                return Err(StoreError::invalid("guard.metricKey", "no such metric"));
            }
            let goal_ok = goals::Entity::find()
                .filter(goals::Column::OrgId.eq(self.org_id))
                .filter(goals::Column::Id.eq(g.goal_id))
                .one(&txn)
                .await?
                .is_some();
            if !goal_ok {
                return Err(StoreError::invalid(
                    "guard.goalId",
                    "no such goal in your organization",
                ));
            }
        }
        let rule_json = |m: &trade_off_rules::Model| {
            json!({ "kind": m.kind, "statement": m.statement, "ownerPersonId": m.owner_person_id,
                "guard": m.guard_metric_id.map(|metric| json!({ "metricId": metric, "comparator": m.guard_comparator,
                    "threshold": m.guard_threshold.map(|t| t.0.to_string()), "goalId": m.guard_goal_id })) })
        };
        let before = rule_json(&current);
        let mut active: trade_off_rules::ActiveModel = current.into();
        if let Some(k) = kind {
            active.kind = Set(k.as_str().to_owned());
        }
        if let Some(text) = statement {
            active.statement = Set(text);
        }
        if let Some(o) = owner {
            active.owner_person_id = Set(o);
        }
        if let Some(g) = guard {
            active.guard_metric_id = Set(g.map(|g| g.metric_id));
            active.guard_comparator = Set(g.map(|g| g.comparator.as_str().to_owned()));
            active.guard_threshold = Set(g.map(|g| ExactDecimal(g.threshold)));
            active.guard_goal_id = Set(g.map(|g| g.goal_id));
        }
        active.updated_at = Set(Utc::now());
        let updated = sea_orm::ActiveModelTrait::update(active, &txn).await?;
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation: "updateTradeOffRule",
                entity_type: "TradeOffRule",
                entity_id: id.to_string(),
                before: Some(before),
                after: Some(rule_json(&updated)),
            },
        )
        .await?;
        txn.commit().await?;
        self.trade_off_rules()
            .await?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| StoreError::NotFound {
                entity: "TradeOffRule",
                id: id.to_string(),
            })
    }

    /// Every trade-off rule, oldest first.
    pub async fn trade_off_rules(&self) -> StoreResult<Vec<TradeOffRule>> {
        trade_off_rules::Entity::find()
            .filter(trade_off_rules::Column::OrgId.eq(self.org_id))
            .order_by_asc(trade_off_rules::Column::CreatedAt)
            .all(self.db())
            .await?
            .into_iter()
            .map(|r| {
                let guard = match (
                    r.guard_metric_id,
                    &r.guard_comparator,
                    r.guard_threshold,
                    r.guard_goal_id,
                ) {
                    (Some(metric_id), Some(c), Some(threshold), Some(goal_id)) => Some(Guard {
                        metric_id,
                        comparator: c.parse().map_err(|_| corrupt("guard comparator"))?,
                        threshold: threshold.0,
                        goal_id,
                    }),
                    _ => None,
                };
                Ok(TradeOffRule {
                    id: r.id,
                    kind: r.kind.parse().map_err(|_| corrupt("rule kind"))?,
                    statement: r.statement,
                    owner_person_id: r.owner_person_id,
                    guard,
                    created_by: r.created_by,
                    created_at: r.created_at,
                })
            })
            .collect()
    }

    /// Logs a decision.
    pub async fn log_decision(&self, actor: &Actor, new: NewDecision) -> StoreResult<Decision> {
        let txn = self.store.begin_write().await?;
        let mut problems = Vec::new();
        let rules_found: HashSet<Uuid> = trade_off_rules::Entity::find()
            .filter(trade_off_rules::Column::OrgId.eq(self.org_id))
            .filter(trade_off_rules::Column::Id.is_in(new.rule_ids.iter().copied()))
            .all(&txn)
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
        check_ids(
            &rules_found,
            &new.rule_ids,
            "ruleIds",
            "trade-off rule",
            &mut problems,
        );
        if let Some(session) = new.session_id
            && review_sessions::Entity::find()
                .filter(review_sessions::Column::OrgId.eq(self.org_id))
                .filter(review_sessions::Column::Id.eq(session))
                .one(&txn)
                .await?
                .is_none()
        {
            problems.push(Problem::new(
                "sessionId",
                "no such review session in your organization",
            ));
        }
        if new.resolved_by_rule && new.rule_ids.is_empty() {
            problems.push(Problem::new(
                "ruleIds",
                "a decision resolved by an agreed rule names the rule applied",
            ));
        }
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        let id = Uuid::now_v7();
        decisions::Entity::insert(decisions::ActiveModel {
            org_id: Set(self.org_id),
            id: Set(id),
            title: Set(new.title.clone()),
            context: Set(new.context.clone()),
            options: Set(json!(new.options)),
            outcome: Set(new.outcome.clone()),
            escalated: Set(new.escalated),
            resolved_by_rule: Set(new.resolved_by_rule),
            session_id: Set(new.session_id),
            decided_on: Set(new.decided_on),
            created_by: Set(actor.as_str().to_owned()),
            created_at: Set(Utc::now()),
        })
        .exec_without_returning(&txn)
        .await?;
        let rule_set: HashSet<Uuid> = new.rule_ids.iter().copied().collect();
        if !rule_set.is_empty() {
            decision_rules::Entity::insert_many(rule_set.iter().map(|r| {
                decision_rules::ActiveModel {
                    org_id: Set(self.org_id),
                    decision_id: Set(id),
                    rule_id: Set(*r),
                }
            }))
            .exec_without_returning(&txn)
            .await?;
        }
        audit::record(&txn, self.org_id, actor, Change {
            operation: "logDecision",
            entity_type: "Decision",
            entity_id: id.to_string(),
            before: None,
            after: Some(json!({ "title": new.title, "context": new.context, "options": new.options,
                "outcome": new.outcome, "escalated": new.escalated, "resolvedByRule": new.resolved_by_rule,
                "sessionId": new.session_id, "decidedOn": new.decided_on, "ruleIds": rule_set })),
        })
        .await?;
        txn.commit().await?;
        Ok(Decision {
            id,
            title: new.title,
            context: new.context,
            options: new.options,
            outcome: new.outcome,
            escalated: new.escalated,
            resolved_by_rule: new.resolved_by_rule,
            session_id: new.session_id,
            decided_on: new.decided_on,
            rule_ids: rule_set.into_iter().collect(),
            created_by: actor.as_str().to_owned(),
        })
    }

    /// Decisions, newest first; optionally only escalated ones or those of one session.
    pub async fn decisions(
        &self,
        escalated: Option<bool>,
        session: Option<Uuid>,
        page: Page,
    ) -> StoreResult<Slice<Decision>> {
        let mut query = decisions::Entity::find().filter(decisions::Column::OrgId.eq(self.org_id));
        if let Some(e) = escalated {
            query = query.filter(decisions::Column::Escalated.eq(e));
        }
        if let Some(sid) = session {
            query = query.filter(decisions::Column::SessionId.eq(sid));
        }
        let query = query
            .order_by_desc(decisions::Column::DecidedOn)
            .order_by_desc(decisions::Column::Id);
        let slice = paginate(self.db(), query, page, Ok).await?;
        let ids: Vec<Uuid> = slice.items.iter().map(|d| d.id).collect();
        let mut rules_of: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for r in decision_rules::Entity::find()
            .filter(decision_rules::Column::OrgId.eq(self.org_id))
            .filter(decision_rules::Column::DecisionId.is_in(ids))
            .all(self.db())
            .await?
        {
            rules_of.entry(r.decision_id).or_default().push(r.rule_id);
        }
        let items = slice
            .items
            .into_iter()
            .map(|d| {
                Ok(Decision {
                    options: serde_json::from_value(d.options.clone())
                        .map_err(|_| corrupt("decision options"))?,
                    rule_ids: rules_of.remove(&d.id).unwrap_or_default(),
                    id: d.id,
                    title: d.title,
                    context: d.context,
                    outcome: d.outcome,
                    escalated: d.escalated,
                    resolved_by_rule: d.resolved_by_rule,
                    session_id: d.session_id,
                    decided_on: d.decided_on,
                    created_by: d.created_by,
                })
            })
            .collect::<StoreResult<_>>()?;
        Ok(Slice {
            items,
            total: slice.total,
            offset: slice.offset,
        })
    }

    /// Revises a decision's outcome, escalation and rules; `None` leaves a field as it is.
    pub async fn update_decision(
        &self,
        actor: &Actor,
        id: Uuid,
        outcome: Option<String>,
        escalated: Option<bool>,
        resolved_by_rule: Option<bool>,
        rule_ids: Option<Vec<Uuid>>,
    ) -> StoreResult<Decision> {
        let before = self
            .decision(id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                entity: "Decision",
                id: id.to_string(),
            })?;
        let txn = self.store.begin_write().await?;
        let mut problems = Vec::new();
        if let Some(ids) = &rule_ids {
            let found: HashSet<Uuid> = trade_off_rules::Entity::find()
                .filter(trade_off_rules::Column::OrgId.eq(self.org_id))
                .filter(trade_off_rules::Column::Id.is_in(ids.iter().copied()))
                .all(&txn)
                .await?
                .into_iter()
                .map(|r| r.id)
                .collect();
            check_ids(&found, ids, "ruleIds", "trade-off rule", &mut problems);
        }
        let resolved = resolved_by_rule.unwrap_or(before.resolved_by_rule);
        let rules_after: Vec<Uuid> = rule_ids.clone().unwrap_or_else(|| before.rule_ids.clone());
        if resolved && rules_after.is_empty() {
            problems.push(Problem::new(
                "ruleIds",
                "a decision resolved by an agreed rule names the rule applied",
            ));
        }
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        let row = decisions::Entity::find()
            .filter(decisions::Column::OrgId.eq(self.org_id))
            .filter(decisions::Column::Id.eq(id))
            .one(&txn)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                entity: "Decision",
                id: id.to_string(),
            })?;
        let mut active: decisions::ActiveModel = row.into();
        if let Some(o) = &outcome {
            active.outcome = Set(o.clone());
        }
        if let Some(e) = escalated {
            active.escalated = Set(e);
        }
        active.resolved_by_rule = Set(resolved);
        sea_orm::ActiveModelTrait::update(active, &txn).await?;
        if let Some(ids) = &rule_ids {
            decision_rules::Entity::delete_many()
                .filter(decision_rules::Column::OrgId.eq(self.org_id))
                .filter(decision_rules::Column::DecisionId.eq(id))
                .exec(&txn)
                .await?;
            let set: HashSet<Uuid> = ids.iter().copied().collect();
            if !set.is_empty() {
                decision_rules::Entity::insert_many(set.iter().map(|r| {
                    decision_rules::ActiveModel {
                        org_id: Set(self.org_id),
                        decision_id: Set(id),
                        rule_id: Set(*r),
                    }
                }))
                .exec_without_returning(&txn)
                .await?;
            }
        }
        let json_of = |o: &str, e: bool, r: bool, rules: &[Uuid]| json!({ "outcome": o, "escalated": e, "resolvedByRule": r, "ruleIds": rules });
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation: "updateDecision",
                entity_type: "Decision",
                entity_id: id.to_string(),
                before: Some(json_of(
                    &before.outcome,
                    before.escalated,
                    before.resolved_by_rule,
                    &before.rule_ids,
                )),
                after: Some(json_of(
                    outcome.as_deref().unwrap_or(&before.outcome),
                    escalated.unwrap_or(before.escalated),
                    resolved,
                    &rules_after,
                )),
            },
        )
        .await?;
        txn.commit().await?;
        self.decision(id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                entity: "Decision",
                id: id.to_string(),
            })
    }

    /// One decision by id.
    pub async fn decision(&self, id: Uuid) -> StoreResult<Option<Decision>> {
        let Some(d) = decisions::Entity::find()
            .filter(decisions::Column::OrgId.eq(self.org_id))
            .filter(decisions::Column::Id.eq(id))
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        let rule_ids = decision_rules::Entity::find()
            .filter(decision_rules::Column::OrgId.eq(self.org_id))
            .filter(decision_rules::Column::DecisionId.eq(id))
            .all(self.db())
            .await?
            .into_iter()
            .map(|r| r.rule_id)
            .collect();
        Ok(Some(Decision {
            options: serde_json::from_value(d.options.clone())
                .map_err(|_| corrupt("decision options"))?,
            rule_ids,
            id: d.id,
            title: d.title,
            context: d.context,
            outcome: d.outcome,
            escalated: d.escalated,
            resolved_by_rule: d.resolved_by_rule,
            session_id: d.session_id,
            decided_on: d.decided_on,
            created_by: d.created_by,
        }))
    }

    /// Counts of escalated decisions and of those resolved by an agreed rule.
    pub async fn escalation_counts(&self) -> StoreResult<(usize, usize)> {
        let rows = decisions::Entity::find()
            .filter(decisions::Column::OrgId.eq(self.org_id))
            .filter(decisions::Column::Escalated.eq(true))
            .all(self.db())
            .await?;
        Ok((
            rows.len(),
            rows.iter().filter(|d| d.resolved_by_rule).count(),
        ))
    }

    /// Records a maturity assessment.
    pub async fn assess(
        &self,
        actor: &Actor,
        capability: Capability,
        level: Level,
        owner: Option<Uuid>,
        evidence: Option<String>,
        assessed_on: NaiveDate,
    ) -> StoreResult<Assessment> {
        let txn = self.store.begin_write().await?;
        let id = Uuid::now_v7();
        maturity_assessments::Entity::insert(maturity_assessments::ActiveModel {
            org_id: Set(self.org_id),
            id: Set(id),
            capability: Set(capability.as_str().to_owned()),
            level: Set(i16::from(level.value())),
            owner_person_id: Set(owner),
            evidence: Set(evidence.clone()),
            assessed_on: Set(assessed_on),
            created_by: Set(actor.as_str().to_owned()),
            created_at: Set(Utc::now()),
        })
        .exec_without_returning(&txn)
        .await?;
        audit::record(&txn, self.org_id, actor, Change {
            operation: "assessCapability",
            entity_type: "MaturityAssessment",
            entity_id: id.to_string(),
            before: None,
            after: Some(json!({ "capability": capability.as_str(), "level": level.value(), "ownerPersonId": owner,
                "evidence": evidence, "assessedOn": assessed_on })),
        })
        .await?;
        txn.commit().await?;
        Ok(Assessment {
            id,
            capability,
            level,
            owner_person_id: owner,
            evidence,
            assessed_on,
            created_by: actor.as_str().to_owned(),
        })
    }

    /// The latest assessment of each capability.
    pub async fn latest_assessments(&self) -> StoreResult<HashMap<Capability, Assessment>> {
        let rows = maturity_assessments::Entity::find()
            .filter(maturity_assessments::Column::OrgId.eq(self.org_id))
            .order_by_asc(maturity_assessments::Column::AssessedOn)
            .order_by_asc(maturity_assessments::Column::CreatedAt)
            .order_by_asc(maturity_assessments::Column::Id)
            .all(self.db())
            .await?;
        let mut latest = HashMap::new();
        for r in rows {
            let capability: Capability = r.capability.parse().map_err(|_| corrupt("capability"))?;
            let level = Level::parse(i64::from(r.level)).map_err(|_| corrupt("maturity level"))?;
            latest.insert(
                capability,
                Assessment {
                    id: r.id,
                    capability,
                    level,
                    owner_person_id: r.owner_person_id,
                    evidence: r.evidence,
                    assessed_on: r.assessed_on,
                    created_by: r.created_by,
                },
            );
        }
        Ok(latest)
    }
}
