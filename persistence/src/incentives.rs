//! Incentive plans and payout statements. Statements are written once and never change:
//! computing again writes a new version.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use tandem_domain::incentives::{Curve, CurvePoint, Money};
use tandem_domain::metrics::{MetricKey, Perspective};
use tandem_domain::people::{ExternalId, RoleKey};
use tandem_domain::periods::{Granularity, Period};
use tandem_domain::segments::DimensionKey;
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::decimal::ExactDecimal;
use crate::entities::{
    incentive_plans as plans, job_roles, metrics, payout_statements as statements, people,
    person_roles, plan_assignees as assignees, plan_components as components, plan_gates as gates,
    segments,
};
use crate::error::{Problem, StoreError, StoreResult};
use crate::store::{Actor, Page, Slice, Tenant, paginate};

/// An incentive plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Plan id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// The period it pays for.
    pub period: Period,
    /// Target amount per person.
    pub target: Money,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A plan component as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanComponent {
    /// Display name.
    pub name: String,
    /// The metric it pays for.
    pub metric_id: Uuid,
    /// Only this segment's values count.
    pub segment_id: Option<Uuid>,
    /// The metric target attainment is measured against.
    pub target: Decimal,
    /// Relative weight.
    pub weight: Decimal,
    /// Payout curve.
    pub curve: Curve,
}

/// A customer gate as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanGate {
    /// The customer metric.
    pub metric_id: Uuid,
    /// Its target.
    pub target: Decimal,
    /// Minimum attainment.
    pub min_attainment: Decimal,
    /// Most a financial component pays when missed.
    pub factor: Decimal,
}

/// A plan with its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanDetails {
    /// Components in order.
    pub components: Vec<PlanComponent>,
    /// Gates in order.
    pub gates: Vec<PlanGate>,
    /// Roles assigned.
    pub role_ids: Vec<Uuid>,
    /// People assigned directly.
    pub person_ids: Vec<Uuid>,
}

/// A component as given by a caller.
#[derive(Debug, Clone)]
pub struct NewComponent {
    /// Name.
    pub name: String,
    /// Metric key.
    pub metric_key: MetricKey,
    /// Segment key.
    pub segment: Option<DimensionKey>,
    /// Metric target.
    pub target: Decimal,
    /// Weight.
    pub weight: Decimal,
    /// Curve.
    pub curve: Curve,
}

/// A gate as given by a caller.
#[derive(Debug, Clone)]
pub struct NewGate {
    /// Customer metric key.
    pub metric_key: MetricKey,
    /// Its target.
    pub target: Decimal,
    /// Minimum attainment.
    pub min_attainment: Decimal,
    /// Factor.
    pub factor: Decimal,
}

/// A plan to define.
#[derive(Debug, Clone)]
pub struct NewPlan {
    /// Name.
    pub name: String,
    /// Period.
    pub period: Period,
    /// Target amount per person.
    pub target: Money,
    /// Roles assigned.
    pub roles: Vec<RoleKey>,
    /// People assigned directly.
    pub people: Vec<ExternalId>,
    /// Components.
    pub components: Vec<NewComponent>,
    /// Gates.
    pub gates: Vec<NewGate>,
}

/// A locked payout statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// Statement id.
    pub id: Uuid,
    /// The plan.
    pub plan_id: Uuid,
    /// The person paid.
    pub person_id: Uuid,
    /// Version: 1 for the first computation, +1 for each recomputation.
    pub version: i32,
    /// Total, rounded.
    pub total: Decimal,
    /// Currency code.
    pub currency: String,
    /// Lines and inputs as computed.
    pub lines: Json,
    /// Who computed it.
    pub computed_by: String,
    /// When.
    pub computed_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct StoredPoint {
    attainment: Decimal,
    payout: Decimal,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Database(sea_orm::DbErr::Type(format!(
        "stored plan {what} is invalid"
    )))
}

impl TryFrom<plans::Model> for Plan {
    type Error = StoreError;

    fn try_from(m: plans::Model) -> Result<Self, StoreError> {
        let granularity: Granularity = m.granularity.parse().map_err(|_| corrupt("granularity"))?;
        Ok(Plan {
            id: m.id,
            name: m.name,
            period: Period::new(m.period_start, granularity).map_err(|_| corrupt("period"))?,
            target: Money::parse(m.target_amount.0, &m.currency)
                .map_err(|_| corrupt("currency"))?,
            created_by: m.created_by,
            created_at: m.created_at,
        })
    }
}

impl From<statements::Model> for Statement {
    fn from(m: statements::Model) -> Self {
        Statement {
            id: m.id,
            plan_id: m.plan_id,
            person_id: m.person_id,
            version: m.version,
            total: m.total.0,
            currency: m.currency,
            lines: m.lines,
            computed_by: m.computed_by,
            computed_at: m.computed_at,
        }
    }
}

fn overlaps(a: Period, b: Period) -> bool {
    a.start() <= b.end() && b.start() <= a.end()
}

impl Tenant {
    /// Lists plans by period, then name.
    pub async fn plans(&self, page: Page) -> StoreResult<Slice<Plan>> {
        let query = plans::Entity::find()
            .filter(plans::Column::OrgId.eq(self.org_id))
            .order_by_asc(plans::Column::PeriodStart)
            .order_by_asc(plans::Column::Name);
        paginate(self.db(), query, page, Plan::try_from).await
    }

    /// Every plan.
    pub async fn all_plans(&self) -> StoreResult<Vec<Plan>> {
        plans::Entity::find()
            .filter(plans::Column::OrgId.eq(self.org_id))
            .order_by_asc(plans::Column::Name)
            .all(self.db())
            .await?
            .into_iter()
            .map(Plan::try_from)
            .collect()
    }

    /// Loads plans by id.
    pub async fn plans_by_ids(&self, ids: &[Uuid]) -> StoreResult<HashMap<Uuid, Plan>> {
        let rows = plans::Entity::find()
            .filter(plans::Column::OrgId.eq(self.org_id))
            .filter(plans::Column::Id.is_in(ids.iter().copied()))
            .all(self.db())
            .await?;
        rows.into_iter()
            .map(|m| Plan::try_from(m).map(|p| (p.id, p)))
            .collect()
    }

    /// Components, gates and assignees of the given plans.
    pub async fn plan_details(&self, ids: &[Uuid]) -> StoreResult<HashMap<Uuid, PlanDetails>> {
        let mut out: HashMap<Uuid, PlanDetails> = ids
            .iter()
            .map(|id| {
                (
                    *id,
                    PlanDetails {
                        components: vec![],
                        gates: vec![],
                        role_ids: vec![],
                        person_ids: vec![],
                    },
                )
            })
            .collect();
        let comps = components::Entity::find()
            .filter(components::Column::OrgId.eq(self.org_id))
            .filter(components::Column::PlanId.is_in(ids.iter().copied()))
            .order_by_asc(components::Column::Position)
            .all(self.db())
            .await?;
        for c in comps {
            let points: Vec<StoredPoint> =
                serde_json::from_value(c.curve.clone()).map_err(|_| corrupt("curve"))?;
            let curve = Curve::new(
                points
                    .into_iter()
                    .map(|p| CurvePoint {
                        attainment: p.attainment,
                        payout: p.payout,
                    })
                    .collect(),
                c.threshold.0,
                c.cap.0,
            )
            .map_err(|_| corrupt("curve"))?;
            if let Some(d) = out.get_mut(&c.plan_id) {
                d.components.push(PlanComponent {
                    name: c.name,
                    metric_id: c.metric_id,
                    segment_id: c.segment_id,
                    target: c.target.0,
                    weight: c.weight.0,
                    curve,
                });
            }
        }
        for g in gates::Entity::find()
            .filter(gates::Column::OrgId.eq(self.org_id))
            .filter(gates::Column::PlanId.is_in(ids.iter().copied()))
            .order_by_asc(gates::Column::Position)
            .all(self.db())
            .await?
        {
            if let Some(d) = out.get_mut(&g.plan_id) {
                d.gates.push(PlanGate {
                    metric_id: g.metric_id,
                    target: g.target.0,
                    min_attainment: g.min_attainment.0,
                    factor: g.factor.0,
                });
            }
        }
        for a in assignees::Entity::find()
            .filter(assignees::Column::OrgId.eq(self.org_id))
            .filter(assignees::Column::PlanId.is_in(ids.iter().copied()))
            .all(self.db())
            .await?
        {
            if let Some(d) = out.get_mut(&a.plan_id) {
                d.role_ids.extend(a.role_id);
                d.person_ids.extend(a.person_id);
            }
        }
        Ok(out)
    }

    /// The active people a plan pays: holders of its roles and those assigned directly.
    pub async fn plan_people(&self, details: &PlanDetails) -> StoreResult<Vec<Uuid>> {
        let mut ids: BTreeSet<Uuid> = details.person_ids.iter().copied().collect();
        if !details.role_ids.is_empty() {
            for h in person_roles::Entity::find()
                .filter(person_roles::Column::OrgId.eq(self.org_id))
                .filter(person_roles::Column::RoleId.is_in(details.role_ids.iter().copied()))
                .all(self.db())
                .await?
            {
                ids.insert(h.person_id);
            }
        }
        let active: Vec<Uuid> = people::Entity::find()
            .filter(people::Column::OrgId.eq(self.org_id))
            .filter(people::Column::Id.is_in(ids.iter().copied()))
            .filter(people::Column::Active.eq(true))
            .order_by_asc(people::Column::Name)
            .all(self.db())
            .await?
            .into_iter()
            .map(|p| p.id)
            .collect();
        Ok(active)
    }

    /// Defines a plan; refuses unknown keys, gates on non-customer metrics, and a plan that
    /// overlaps another plan of the same role or person in time.
    pub async fn define_plan(&self, actor: &Actor, new: NewPlan) -> StoreResult<Plan> {
        let txn = self.store.begin_write().await?;
        let mut problems = Vec::new();
        let metric_rows = metrics::Entity::find()
            .filter(metrics::Column::OrgId.eq(self.org_id))
            .all(&txn)
            .await?;
        let metric_by_key: HashMap<&str, &metrics::Model> =
            metric_rows.iter().map(|m| (m.key.as_str(), m)).collect();
        let segment_rows = segments::Entity::find()
            .filter(segments::Column::OrgId.eq(self.org_id))
            .all(&txn)
            .await?;
        let segment_by_key: HashMap<&str, Uuid> = segment_rows
            .iter()
            .map(|s| (s.key.as_str(), s.id))
            .collect();
        let mut role_ids = Vec::new();
        for (i, key) in new.roles.iter().enumerate() {
            match job_roles::Entity::find()
                .filter(job_roles::Column::OrgId.eq(self.org_id))
                .filter(job_roles::Column::Key.eq(key.as_str()))
                .one(&txn)
                .await?
            {
                Some(r) => role_ids.push(r.id),
                None => problems.push(Problem::new(
                    format!("roleKeys[{i}]"),
                    format!("no job role `{}`", key.as_str()),
                )),
            }
        }
        let mut person_ids = Vec::new();
        for (i, ext) in new.people.iter().enumerate() {
            match people::Entity::find()
                .filter(people::Column::OrgId.eq(self.org_id))
                .filter(people::Column::ExternalId.eq(ext.as_str()))
                .one(&txn)
                .await?
            {
                Some(p) => person_ids.push(p.id),
                None => problems.push(Problem::new(
                    format!("personExternalIds[{i}]"),
                    format!("no person `{}`", ext.as_str()),
                )),
            }
        }
        let mut comp_rows = Vec::new();
        for (i, c) in new.components.iter().enumerate() {
            let Some(metric) = metric_by_key.get(c.metric_key.as_str()) else {
                problems.push(Problem::new(
                    format!("components[{i}].metricKey"),
                    format!("no metric with key `{}`", c.metric_key),
                ));
                continue;
            };
            let segment_id = match &c.segment {
                None => None,
                Some(k) => match segment_by_key.get(k.as_str()) {
                    Some(id) => Some(*id),
                    None => {
                        problems.push(Problem::new(
                            format!("components[{i}].segmentKey"),
                            format!("no segment with key `{}`", k.as_str()),
                        ));
                        continue;
                    }
                },
            };
            comp_rows.push((i, metric.id, segment_id, c));
        }
        let mut gate_rows = Vec::new();
        for (i, g) in new.gates.iter().enumerate() {
            match metric_by_key.get(g.metric_key.as_str()) {
                None => problems.push(Problem::new(
                    format!("gates[{i}].metricKey"),
                    format!("no metric with key `{}`", g.metric_key),
                )),
                Some(m) if m.perspective != Perspective::Customer.as_str() => {
                    problems.push(Problem::new(
                        format!("gates[{i}].metricKey"),
                        format!(
                            "a gate needs a CUSTOMER metric; `{}` is {}",
                            m.key, m.perspective
                        ),
                    ))
                }
                Some(m) => gate_rows.push((i, m.id, g)),
            }
        }
        // No two plans for the same role or person in overlapping periods.
        let existing: Vec<Plan> = plans::Entity::find()
            .filter(plans::Column::OrgId.eq(self.org_id))
            .all(&txn)
            .await?
            .into_iter()
            .map(Plan::try_from)
            .collect::<Result<_, _>>()?;
        let overlapping: Vec<&Plan> = existing
            .iter()
            .filter(|p| overlaps(p.period, new.period))
            .collect();
        if !overlapping.is_empty() {
            let ids: Vec<Uuid> = overlapping.iter().map(|p| p.id).collect();
            let taken = assignees::Entity::find()
                .filter(assignees::Column::OrgId.eq(self.org_id))
                .filter(assignees::Column::PlanId.is_in(ids))
                .all(&txn)
                .await?;
            for (i, role) in role_ids.iter().enumerate() {
                if let Some(t) = taken.iter().find(|a| a.role_id == Some(*role)) {
                    let other = overlapping
                        .iter()
                        .find(|p| p.id == t.plan_id)
                        .map_or("another plan", |p| p.name.as_str());
                    problems.push(Problem::new(
                        format!("roleKeys[{i}]"),
                        format!("the role already has plan `{other}` in an overlapping period"),
                    ));
                }
            }
            for (i, person) in person_ids.iter().enumerate() {
                if taken.iter().any(|a| a.person_id == Some(*person)) {
                    problems.push(Problem::new(
                        format!("personExternalIds[{i}]"),
                        "the person already has a plan in an overlapping period",
                    ));
                }
            }
        }
        if !problems.is_empty() {
            txn.rollback().await?;
            return Err(StoreError::Invalid(problems));
        }

        let now = Utc::now();
        let plan_row = plans::ActiveModel {
            org_id: Set(self.org_id),
            id: Set(Uuid::now_v7()),
            name: Set(new.name.clone()),
            period_start: Set(new.period.start()),
            granularity: Set(new.period.granularity().as_str().to_owned()),
            target_amount: Set(ExactDecimal(new.target.amount)),
            currency: Set(new.target.currency.code().to_owned()),
            created_by: Set(actor.as_str().to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let plan = Plan::try_from(
            plans::Entity::insert(plan_row)
                .exec_with_returning(&txn)
                .await?,
        )?;
        let mut assignee_rows: Vec<assignees::ActiveModel> = role_ids
            .iter()
            .map(|r| assignees::ActiveModel {
                org_id: Set(self.org_id),
                plan_id: Set(plan.id),
                assignee_key: Set(format!("role:{r}")),
                role_id: Set(Some(*r)),
                person_id: Set(None),
            })
            .collect();
        assignee_rows.extend(person_ids.iter().map(|p| assignees::ActiveModel {
            org_id: Set(self.org_id),
            plan_id: Set(plan.id),
            assignee_key: Set(format!("person:{p}")),
            role_id: Set(None),
            person_id: Set(Some(*p)),
        }));
        assignee_rows.sort_by_key(|a| match &a.assignee_key {
            Set(k) => k.clone(),
            _ => String::new(),
        });
        assignee_rows.dedup_by(|a, b| a.assignee_key == b.assignee_key);
        if !assignee_rows.is_empty() {
            assignees::Entity::insert_many(assignee_rows)
                .exec_without_returning(&txn)
                .await?;
        }
        let comp_models: Vec<components::ActiveModel> = comp_rows
            .iter()
            .map(|(i, metric_id, segment_id, c)| components::ActiveModel {
                org_id: Set(self.org_id),
                id: Set(Uuid::now_v7()),
                plan_id: Set(plan.id),
                position: Set(i32::try_from(*i).unwrap_or(i32::MAX)),
                name: Set(c.name.clone()),
                metric_id: Set(*metric_id),
                segment_id: Set(*segment_id),
                target: Set(ExactDecimal(c.target)),
                weight: Set(ExactDecimal(c.weight)),
                curve: Set(json!(
                    c.curve
                        .points()
                        .iter()
                        .map(|p| StoredPoint {
                            attainment: p.attainment,
                            payout: p.payout
                        })
                        .collect::<Vec<_>>()
                )),
                threshold: Set(ExactDecimal(c.curve.threshold())),
                cap: Set(ExactDecimal(c.curve.cap())),
            })
            .collect();
        if !comp_models.is_empty() {
            components::Entity::insert_many(comp_models)
                .exec_without_returning(&txn)
                .await?;
        }
        let gate_models: Vec<gates::ActiveModel> = gate_rows
            .iter()
            .map(|(i, metric_id, g)| gates::ActiveModel {
                org_id: Set(self.org_id),
                id: Set(Uuid::now_v7()),
                plan_id: Set(plan.id),
                position: Set(i32::try_from(*i).unwrap_or(i32::MAX)),
                metric_id: Set(*metric_id),
                target: Set(ExactDecimal(g.target)),
                min_attainment: Set(ExactDecimal(g.min_attainment)),
                factor: Set(ExactDecimal(g.factor)),
            })
            .collect();
        if !gate_models.is_empty() {
            gates::Entity::insert_many(gate_models)
                .exec_without_returning(&txn)
                .await?;
        }
        audit::record(&txn, self.org_id, actor, Change {
            operation: "defineIncentivePlan",
            entity_type: "IncentivePlan",
            entity_id: plan.id.to_string(),
            before: None,
            after: Some(json!({
                "name": plan.name, "periodStart": plan.period.start(), "granularity": plan.period.granularity().as_str(),
                "targetAmount": plan.target.amount.to_string(), "currency": plan.target.currency.code(),
                "roleKeys": new.roles.iter().map(RoleKey::as_str).collect::<Vec<_>>(),
                "components": new.components.iter().map(|c| json!({ "name": c.name, "metricKey": c.metric_key.as_str(), "weight": c.weight.to_string() })).collect::<Vec<_>>(),
                "gates": new.gates.iter().map(|g| json!({ "metricKey": g.metric_key.as_str(), "minAttainment": g.min_attainment.to_string(), "factor": g.factor.to_string() })).collect::<Vec<_>>(),
            })),
        })
        .await?;
        txn.commit().await?;
        Ok(plan)
    }

    /// Locks statements for a plan: one new version per person, in one transaction.
    pub async fn lock_statements(
        &self,
        actor: &Actor,
        plan: &Plan,
        computed: Vec<(Uuid, Decimal, Json)>,
    ) -> StoreResult<Vec<Statement>> {
        let txn = self.store.begin_write().await?;
        let latest: HashMap<Uuid, i32> = statements::Entity::find()
            .filter(statements::Column::OrgId.eq(self.org_id))
            .filter(statements::Column::PlanId.eq(plan.id))
            .all(&txn)
            .await?
            .into_iter()
            .fold(HashMap::new(), |mut acc, s| {
                let v = acc.entry(s.person_id).or_insert(0);
                *v = (*v).max(s.version);
                acc
            });
        let now = Utc::now();
        let mut written = Vec::with_capacity(computed.len());
        let mut changes = Vec::with_capacity(computed.len());
        for (person, total, lines) in computed {
            let row = statements::Model {
                org_id: self.org_id,
                id: Uuid::now_v7(),
                plan_id: plan.id,
                person_id: person,
                version: latest.get(&person).copied().unwrap_or(0) + 1,
                currency: plan.target.currency.code().to_owned(),
                total: ExactDecimal(total),
                lines,
                computed_by: actor.as_str().to_owned(),
                computed_at: now,
            };
            changes.push(Change {
                operation: "computePayouts",
                entity_type: "PayoutStatement",
                entity_id: row.id.to_string(),
                before: None,
                after: Some(
                    json!({ "planId": plan.id, "personId": person, "version": row.version,
                    "total": total.to_string(), "currency": row.currency }),
                ),
            });
            written.push(row);
        }
        if changes.is_empty() {
            // Nobody is on the plan: the computation still happened and is recorded.
            changes.push(Change {
                operation: "computePayouts",
                entity_type: "IncentivePlan",
                entity_id: plan.id.to_string(),
                before: None,
                after: Some(json!({ "planId": plan.id, "statements": 0 })),
            });
        }
        for chunk in written.chunks(200) {
            let models: Vec<statements::ActiveModel> =
                chunk.iter().cloned().map(Into::into).collect();
            statements::Entity::insert_many(models)
                .exec_without_returning(&txn)
                .await?;
        }
        audit::record_all(&txn, self.org_id, actor, changes).await?;
        txn.commit().await?;
        Ok(written.into_iter().map(Statement::from).collect())
    }

    /// Statements, newest first; `people` limits them to those people when given.
    pub async fn statements(
        &self,
        plan_id: Option<Uuid>,
        people: Option<&[Uuid]>,
        latest_only: bool,
        page: Page,
    ) -> StoreResult<Slice<Statement>> {
        let mut query =
            statements::Entity::find().filter(statements::Column::OrgId.eq(self.org_id));
        if let Some(plan) = plan_id {
            query = query.filter(statements::Column::PlanId.eq(plan));
        }
        if let Some(ids) = people {
            query = query.filter(statements::Column::PersonId.is_in(ids.iter().copied()));
        }
        if latest_only {
            let all: Vec<Statement> = query
                .all(self.db())
                .await?
                .into_iter()
                .map(Statement::from)
                .collect();
            let mut latest: HashMap<(Uuid, Uuid), Statement> = HashMap::new();
            for s in all {
                let key = (s.plan_id, s.person_id);
                if latest.get(&key).is_none_or(|cur| cur.version < s.version) {
                    latest.insert(key, s);
                }
            }
            let mut rows: Vec<Statement> = latest.into_values().collect();
            rows.sort_by(|a, b| {
                b.computed_at
                    .cmp(&a.computed_at)
                    .then(a.person_id.cmp(&b.person_id))
            });
            return Ok(page.slice(rows));
        }
        let query = query
            .order_by_desc(statements::Column::ComputedAt)
            .order_by_asc(statements::Column::PersonId)
            .order_by_desc(statements::Column::Version);
        paginate(self.db(), query, page, |m| Ok(Statement::from(m))).await
    }
}
