//! Objectives aligned to goals, key results, and check-ins.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder,
};
use serde_json::{Value as Json, json};
use tandem_domain::goals::GoalPeriod;
use tandem_domain::okrs::{Confidence, Span};
use tandem_domain::periods::Granularity;
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::decimal::ExactDecimal;
use crate::entities::{
    check_ins, goals, key_results, metrics, objectives, observations, people, segments, teams,
};
use crate::error::{StoreError, StoreResult, corrupt};
use crate::events::Event;
use crate::goals::Ownership;
use crate::store::{Actor, Page, Slice, Tenant, paginate};

const CHUNK: usize = 500;

/// An objective: a qualitative aim, aligned to a goal, owned by a person or team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Objective {
    /// Objective id.
    pub id: Uuid,
    /// The goal it aligns to.
    pub goal_id: Uuid,
    /// What the objective is.
    pub title: String,
    /// Owner.
    pub owner: Ownership,
    /// Period; its key results are measured over it.
    pub period: GoalPeriod,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A key result: a measurable outcome from a baseline to a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyResult {
    /// Key result id.
    pub id: Uuid,
    /// Its objective.
    pub objective_id: Uuid,
    /// What is measured.
    pub title: String,
    /// Baseline and target.
    pub span: Span,
    /// Weight in the objective.
    pub weight: Decimal,
    /// The metric that supplies the current value; `None` for check-in key results.
    pub metric_id: Option<Uuid>,
    /// Only this segment's values count (metric key results).
    pub segment_id: Option<Uuid>,
    /// The person who owns it and checks in on it.
    pub owner_person_id: Option<Uuid>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A check-in on a key result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckIn {
    /// Check-in id.
    pub id: Uuid,
    /// The key result.
    pub key_result_id: Uuid,
    /// The value reported.
    pub value: Decimal,
    /// Confidence 0-10.
    pub confidence: u8,
    /// Note.
    pub note: Option<String>,
    /// Who checked in (token subject).
    pub author: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// An objective to create.
#[derive(Debug, Clone)]
pub struct NewObjective {
    /// Goal it aligns to.
    pub goal_id: Uuid,
    /// Title.
    pub title: String,
    /// Owner.
    pub owner: Ownership,
    /// Period.
    pub period: GoalPeriod,
}

/// A key result to create.
#[derive(Debug, Clone)]
pub struct NewKeyResult {
    /// Objective.
    pub objective_id: Uuid,
    /// Title.
    pub title: String,
    /// Baseline and target.
    pub span: Span,
    /// Weight.
    pub weight: Decimal,
    /// Metric, by key, when the current value comes from observations.
    pub metric_key: Option<String>,
    /// Segment, by key.
    pub segment_key: Option<String>,
    /// Owner.
    pub owner_person_id: Option<Uuid>,
}

impl TryFrom<objectives::Model> for Objective {
    type Error = StoreError;

    fn try_from(m: objectives::Model) -> Result<Self, StoreError> {
        Ok(Objective {
            id: m.id,
            goal_id: m.goal_id,
            title: m.title,
            owner: Ownership::from_columns(m.owner_person_id, m.owner_team_id),
            period: GoalPeriod::new(m.period_start, m.period_end)
                .map_err(|_| corrupt("objective period"))?,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

impl TryFrom<key_results::Model> for KeyResult {
    type Error = StoreError;

    fn try_from(m: key_results::Model) -> Result<Self, StoreError> {
        Ok(KeyResult {
            id: m.id,
            objective_id: m.objective_id,
            title: m.title,
            span: Span::new(m.baseline.0, m.target.0).map_err(|_| corrupt("key result span"))?,
            weight: m.weight.0,
            metric_id: m.metric_id,
            segment_id: m.segment_id,
            owner_person_id: m.owner_person_id,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

impl From<check_ins::Model> for CheckIn {
    fn from(m: check_ins::Model) -> Self {
        CheckIn {
            id: m.id,
            key_result_id: m.key_result_id,
            value: m.value.0,
            confidence: u8::try_from(m.confidence).unwrap_or(0),
            note: m.note,
            author: m.author,
            created_at: m.created_at,
        }
    }
}

fn kr_json(k: &KeyResult) -> Json {
    json!({
        "title": k.title, "baseline": k.span.baseline().to_string(), "target": k.span.target().to_string(),
        "weight": k.weight.to_string(), "metricId": k.metric_id, "segmentId": k.segment_id,
        "ownerPersonId": k.owner_person_id,
    })
}

impl Tenant {
    /// Lists objectives, optionally of one goal.
    pub async fn objectives(
        &self,
        goal_id: Option<Uuid>,
        page: Page,
    ) -> StoreResult<Slice<Objective>> {
        let mut query =
            objectives::Entity::find().filter(objectives::Column::OrgId.eq(self.org_id));
        if let Some(goal) = goal_id {
            query = query.filter(objectives::Column::GoalId.eq(goal));
        }
        let query = query
            .order_by_asc(objectives::Column::Title)
            .order_by_asc(objectives::Column::Id);
        paginate(self.db(), query, page, Objective::try_from).await
    }

    /// The objectives of the given goals, by goal.
    pub async fn objectives_of_goals(
        &self,
        goal_ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, Vec<Objective>>> {
        let mut found: HashMap<Uuid, Vec<Objective>> = HashMap::new();
        for chunk in goal_ids.chunks(CHUNK) {
            for m in objectives::Entity::find()
                .filter(objectives::Column::OrgId.eq(self.org_id))
                .filter(objectives::Column::GoalId.is_in(chunk.iter().copied()))
                .order_by_asc(objectives::Column::Title)
                .all(self.db())
                .await?
            {
                let o = Objective::try_from(m)?;
                found.entry(o.goal_id).or_default().push(o);
            }
        }
        Ok(found)
    }

    /// Loads objectives by id.
    pub async fn objectives_by_ids(&self, ids: &[Uuid]) -> StoreResult<HashMap<Uuid, Objective>> {
        let mut found = HashMap::new();
        for chunk in ids.chunks(CHUNK) {
            for m in objectives::Entity::find()
                .filter(objectives::Column::OrgId.eq(self.org_id))
                .filter(objectives::Column::Id.is_in(chunk.iter().copied()))
                .all(self.db())
                .await?
            {
                let o = Objective::try_from(m)?;
                found.insert(o.id, o);
            }
        }
        Ok(found)
    }

    /// The key results of the given objectives, by objective.
    pub async fn key_results_of(
        &self,
        objective_ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, Vec<KeyResult>>> {
        let mut found: HashMap<Uuid, Vec<KeyResult>> = HashMap::new();
        for chunk in objective_ids.chunks(CHUNK) {
            for m in key_results::Entity::find()
                .filter(key_results::Column::OrgId.eq(self.org_id))
                .filter(key_results::Column::ObjectiveId.is_in(chunk.iter().copied()))
                .order_by_asc(key_results::Column::CreatedAt)
                .all(self.db())
                .await?
            {
                let k = KeyResult::try_from(m)?;
                found.entry(k.objective_id).or_default().push(k);
            }
        }
        Ok(found)
    }

    /// Loads key results by id.
    pub async fn key_results_by_ids(&self, ids: &[Uuid]) -> StoreResult<HashMap<Uuid, KeyResult>> {
        let mut found = HashMap::new();
        for chunk in ids.chunks(CHUNK) {
            for m in key_results::Entity::find()
                .filter(key_results::Column::OrgId.eq(self.org_id))
                .filter(key_results::Column::Id.is_in(chunk.iter().copied()))
                .all(self.db())
                .await?
            {
                let k = KeyResult::try_from(m)?;
                found.insert(k.id, k);
            }
        }
        Ok(found)
    }

    /// The check-ins of the given key results, newest first, by key result.
    pub async fn check_ins_of(
        &self,
        key_result_ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, Vec<CheckIn>>> {
        let mut found: HashMap<Uuid, Vec<CheckIn>> = HashMap::new();
        for chunk in key_result_ids.chunks(CHUNK) {
            for m in check_ins::Entity::find()
                .filter(check_ins::Column::OrgId.eq(self.org_id))
                .filter(check_ins::Column::KeyResultId.is_in(chunk.iter().copied()))
                .order_by_desc(check_ins::Column::CreatedAt)
                .order_by_desc(check_ins::Column::Id)
                .all(self.db())
                .await?
            {
                found.entry(m.key_result_id).or_default().push(m.into());
            }
        }
        Ok(found)
    }

    /// One check-in by id.
    pub async fn check_in_by_id(&self, id: Uuid) -> StoreResult<Option<CheckIn>> {
        Ok(check_ins::Entity::find()
            .filter(check_ins::Column::OrgId.eq(self.org_id))
            .filter(check_ins::Column::Id.eq(id))
            .one(self.db())
            .await?
            .map(CheckIn::from))
    }

    /// The latest observed value of each (metric, segment) whose period starts within
    /// `from..=to`: the organization total (no segment, no stage) or one segment's total.
    pub async fn latest_values(
        &self,
        wanted: &[(Uuid, Option<Uuid>)],
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<HashMap<(Uuid, Option<Uuid>), Decimal>> {
        let metric_ids: Vec<Uuid> = wanted.iter().map(|(m, _)| *m).collect();
        let mut best: HashMap<(Uuid, Option<Uuid>), (NaiveDate, String, Decimal)> = HashMap::new();
        for chunk in metric_ids.chunks(CHUNK) {
            let rows = observations::Entity::find()
                .filter(observations::Column::OrgId.eq(self.org_id))
                .filter(observations::Column::MetricId.is_in(chunk.iter().copied()))
                .filter(observations::Column::PeriodStart.between(from, to))
                .filter(observations::Column::StageId.is_null())
                .all(self.db())
                .await?;
            for r in rows {
                let key = (r.metric_id, r.segment_id);
                if !wanted.contains(&key) {
                    continue;
                }
                // The latest period start wins; at the same start, the coarser granularity
                // (the period's own total rather than its first day).
                let rank = |g: &str| g.parse::<Granularity>().ok();
                let candidate = (r.period_start, r.granularity.clone(), r.value.0);
                let replace = match best.get(&key) {
                    None => true,
                    Some((start, g, _)) => {
                        r.period_start > *start
                            || (r.period_start == *start && rank(&r.granularity) > rank(g))
                    }
                };
                if replace {
                    best.insert(key, candidate);
                }
            }
        }
        Ok(best.into_iter().map(|(k, (_, _, v))| (k, v)).collect())
    }

    /// Creates an objective aligned to a goal.
    pub async fn create_objective(
        &self,
        actor: &Actor,
        new: NewObjective,
    ) -> StoreResult<Objective> {
        let txn = self.store.begin_write().await?;
        goals::Entity::find()
            .filter(goals::Column::OrgId.eq(self.org_id))
            .filter(goals::Column::Id.eq(new.goal_id))
            .one(&txn)
            .await?
            .ok_or_else(|| StoreError::invalid("goalId", "no such goal in your organization"))?;
        check_owner(&txn, self.org_id, new.owner).await?;
        let now = Utc::now();
        let (person, team) = new.owner.columns();
        let row = objectives::ActiveModel {
            org_id: Set(self.org_id),
            id: Set(Uuid::now_v7()),
            goal_id: Set(new.goal_id),
            title: Set(new.title),
            owner_person_id: Set(person),
            owner_team_id: Set(team),
            period_start: Set(new.period.start()),
            period_end: Set(new.period.end()),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let objective = Objective::try_from(
            objectives::Entity::insert(row)
                .exec_with_returning(&txn)
                .await?,
        )?;
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation: "createObjective",
                entity_type: "Objective",
                entity_id: objective.id.to_string(),
                before: None,
                after: Some(
                    json!({ "goalId": objective.goal_id, "title": objective.title,
                "periodStart": objective.period.start(), "periodEnd": objective.period.end() }),
                ),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(objective)
    }

    /// Adds a key result to an objective.
    pub async fn create_key_result(
        &self,
        actor: &Actor,
        new: NewKeyResult,
    ) -> StoreResult<KeyResult> {
        let txn = self.store.begin_write().await?;
        objectives::Entity::find()
            .filter(objectives::Column::OrgId.eq(self.org_id))
            .filter(objectives::Column::Id.eq(new.objective_id))
            .one(&txn)
            .await?
            .ok_or_else(|| {
                StoreError::invalid("objectiveId", "no such objective in your organization")
            })?;
        let metric_id = match &new.metric_key {
            None => None,
            Some(key) => Some(
                metrics::Entity::find()
                    .filter(metrics::Column::OrgId.eq(self.org_id))
                    .filter(metrics::Column::Key.eq(key.as_str()))
                    .one(&txn)
                    .await?
                    .ok_or_else(|| {
                        StoreError::invalid("metricKey", format!("no metric with key `{key}`"))
                    })?
                    .id,
            ),
        };
        let segment_id = match (&new.segment_key, metric_id) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(StoreError::invalid(
                    "segmentKey",
                    "only a metric key result takes a segment",
                ));
            }
            (Some(key), Some(_)) => Some(
                segments::Entity::find()
                    .filter(segments::Column::OrgId.eq(self.org_id))
                    .filter(segments::Column::Key.eq(key.as_str()))
                    .one(&txn)
                    .await?
                    .ok_or_else(|| {
                        StoreError::invalid("segmentKey", format!("no segment with key `{key}`"))
                    })?
                    .id,
            ),
        };
        if let Some(person) = new.owner_person_id {
            check_owner(&txn, self.org_id, Ownership::Person(person)).await?;
        }
        let now = Utc::now();
        let row = key_results::ActiveModel {
            org_id: Set(self.org_id),
            id: Set(Uuid::now_v7()),
            objective_id: Set(new.objective_id),
            title: Set(new.title),
            baseline: Set(ExactDecimal(new.span.baseline())),
            target: Set(ExactDecimal(new.span.target())),
            weight: Set(ExactDecimal(new.weight)),
            metric_id: Set(metric_id),
            segment_id: Set(segment_id),
            owner_person_id: Set(new.owner_person_id),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let kr = KeyResult::try_from(
            key_results::Entity::insert(row)
                .exec_with_returning(&txn)
                .await?,
        )?;
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation: "createKeyResult",
                entity_type: "KeyResult",
                entity_id: kr.id.to_string(),
                before: None,
                after: Some(kr_json(&kr)),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(kr)
    }

    /// Changes a key result's title, baseline/target or weight.
    pub async fn update_key_result(
        &self,
        actor: &Actor,
        id: Uuid,
        title: Option<String>,
        span: Option<Span>,
        weight: Option<Decimal>,
    ) -> StoreResult<KeyResult> {
        let txn = self.store.begin_write().await?;
        let current = key_results::Entity::find()
            .filter(key_results::Column::OrgId.eq(self.org_id))
            .filter(key_results::Column::Id.eq(id))
            .one(&txn)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                entity: "KeyResult",
                id: id.to_string(),
            })?;
        let before = KeyResult::try_from(current.clone())?;
        let mut active = current.into_active_model();
        if let Some(t) = title {
            active.title = Set(t);
        }
        if let Some(s) = span {
            active.baseline = Set(ExactDecimal(s.baseline()));
            active.target = Set(ExactDecimal(s.target()));
        }
        if let Some(w) = weight {
            active.weight = Set(ExactDecimal(w));
        }
        active.updated_at = Set(Utc::now());
        let after = KeyResult::try_from(active.update(&txn).await?)?;
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation: "updateKeyResult",
                entity_type: "KeyResult",
                entity_id: id.to_string(),
                before: Some(kr_json(&before)),
                after: Some(kr_json(&after)),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(after)
    }

    /// Records a check-in on a manual key result.
    pub async fn check_in(
        &self,
        actor: &Actor,
        key_result_id: Uuid,
        value: Decimal,
        confidence: Confidence,
        note: Option<String>,
    ) -> StoreResult<CheckIn> {
        let txn = self.store.begin_write().await?;
        let kr = key_results::Entity::find()
            .filter(key_results::Column::OrgId.eq(self.org_id))
            .filter(key_results::Column::Id.eq(key_result_id))
            .one(&txn)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                entity: "KeyResult",
                id: key_result_id.to_string(),
            })?;
        if kr.metric_id.is_some() {
            return Err(StoreError::Conflict(
                "this key result follows a metric; record observations instead of checking in"
                    .to_owned(),
            ));
        }
        let row = check_ins::ActiveModel {
            org_id: Set(self.org_id),
            id: Set(Uuid::now_v7()),
            key_result_id: Set(key_result_id),
            value: Set(ExactDecimal(value)),
            confidence: Set(i16::from(confidence.value())),
            note: Set(note),
            author: Set(actor.as_str().to_owned()),
            created_at: Set(Utc::now()),
        };
        let check_in = CheckIn::from(
            check_ins::Entity::insert(row)
                .exec_with_returning(&txn)
                .await?,
        );
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation: "checkIn",
                entity_type: "CheckIn",
                entity_id: check_in.id.to_string(),
                before: None,
                after: Some(
                    json!({ "keyResultId": key_result_id, "value": value.to_string(),
                "confidence": confidence.value(), "note": check_in.note }),
                ),
            },
        )
        .await?;
        let staged = self
            .store
            .events()
            .stage(
                &txn,
                vec![Event::CheckInAdded {
                    org: self.org_id,
                    check_in: check_in.id,
                    key_result: key_result_id,
                    objective: kr.objective_id,
                }],
            )
            .await?;
        txn.commit().await?;
        staged.committed();
        Ok(check_in)
    }
}

/// Checks that a goal's or objective's owner exists in the organization.
pub(crate) async fn check_owner(
    txn: &sea_orm::DatabaseTransaction,
    org: Uuid,
    owner: Ownership,
) -> StoreResult<()> {
    let ok = match owner {
        Ownership::Company => true,
        Ownership::Person(id) => people::Entity::find()
            .filter(people::Column::OrgId.eq(org))
            .filter(people::Column::Id.eq(id))
            .one(txn)
            .await?
            .is_some(),
        Ownership::Team(id) => teams::Entity::find()
            .filter(teams::Column::OrgId.eq(org))
            .filter(teams::Column::Id.eq(id))
            .one(txn)
            .await?
            .is_some(),
    };
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid("owner", "no such person or team"))
    }
}
