//! The metric glossary: definitions, their life cycle, and every version of them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::{Value as Json, json};
use tandem_domain::formula::{self, Formula, FormulaError};
use tandem_domain::metrics::{
    self as rules, MetricDefinition, MetricKey, MetricPatch, MetricStatus, Unit, UnitKind,
};
use tandem_domain::{Invalid, metrics::Perspective};
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::entities::{metric_versions, metrics as row};
use crate::error::{Problem, StoreError, StoreResult};
use crate::store::{Actor, Page, Slice, Tenant, paginate};

/// A metric in the glossary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    /// Metric id.
    pub id: Uuid,
    /// Its current definition.
    pub definition: MetricDefinition,
    /// Life-cycle status.
    pub status: MetricStatus,
    /// Current version number; 1 when defined, +1 on every change.
    pub version: i32,
    /// Who defined it.
    pub created_by: String,
    /// When it was defined.
    pub created_at: DateTime<Utc>,
    /// Who changed it last.
    pub updated_by: String,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// One version of a metric's definition: who changed what, when.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricVersion {
    /// The metric.
    pub metric_id: Uuid,
    /// Version number.
    pub version: i32,
    /// What happened: `DEFINED`, `UPDATED`, `APPROVED` or `RETIRED`.
    pub change: String,
    /// Who made the change.
    pub changed_by: String,
    /// When.
    pub changed_at: DateTime<Utc>,
    /// The definition before; `None` for the first version.
    pub before: Option<Json>,
    /// The definition after.
    pub after: Option<Json>,
}

/// Which metrics to list.
#[derive(Debug, Clone, Default)]
pub struct MetricFilter {
    /// Only metrics in this status.
    pub status: Option<MetricStatus>,
    /// Only metrics in this perspective.
    pub perspective: Option<Perspective>,
    /// Only metrics whose key or name contains this text (case-insensitive).
    pub search: Option<String>,
}

fn corrupt(field: &str, err: Invalid) -> StoreError {
    StoreError::Database(sea_orm::DbErr::Type(format!(
        "stored metric {field}: {err}"
    )))
}

impl TryFrom<row::Model> for Metric {
    type Error = StoreError;

    fn try_from(m: row::Model) -> Result<Self, StoreError> {
        let unit_kind: UnitKind = m.unit.parse().map_err(|e| corrupt("unit", e))?;
        let definition = MetricDefinition {
            key: MetricKey::parse(&m.key).map_err(|e| corrupt("key", e))?,
            name: m.name,
            definition: m.definition,
            unit: Unit::parse(unit_kind, m.currency.as_deref()).map_err(|e| corrupt("unit", e))?,
            direction: m.direction.parse().map_err(|e| corrupt("direction", e))?,
            perspective: m
                .perspective
                .parse()
                .map_err(|e| corrupt("perspective", e))?,
            kind: m.kind.parse().map_err(|e| corrupt("kind", e))?,
            aggregation: m
                .aggregation
                .parse()
                .map_err(|e| corrupt("aggregation", e))?,
            owner_team: m.owner_team,
            formula: m.formula,
        };
        Ok(Metric {
            id: m.id,
            definition,
            status: m.status.parse().map_err(|e| corrupt("status", e))?,
            version: m.version,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_by: m.updated_by,
            updated_at: m.updated_at,
        })
    }
}

impl From<metric_versions::Model> for MetricVersion {
    fn from(m: metric_versions::Model) -> Self {
        Self {
            metric_id: m.metric_id,
            version: m.version,
            change: m.change,
            changed_by: m.changed_by,
            changed_at: m.changed_at,
            before: m.before,
            after: m.after,
        }
    }
}

/// The JSON form of a metric kept in versions and the audit trail.
pub(crate) fn snapshot(def: &MetricDefinition, status: MetricStatus) -> Json {
    json!({
        "key": def.key.as_str(),
        "name": def.name,
        "definition": def.definition,
        "unit": def.unit.kind().as_str(),
        "currency": def.unit.currency_code(),
        "direction": def.direction.as_str(),
        "perspective": def.perspective.as_str(),
        "kind": def.kind.as_str(),
        "aggregation": def.aggregation.as_str(),
        "ownerTeam": def.owner_team,
        "status": status.as_str(),
        "formula": def.formula,
    })
}

fn write_definition(active: &mut row::ActiveModel, def: &MetricDefinition) {
    active.name = Set(def.name.clone());
    active.definition = Set(def.definition.clone());
    active.unit = Set(def.unit.kind().as_str().to_owned());
    active.currency = Set(def.unit.currency_code().map(str::to_owned));
    active.direction = Set(def.direction.as_str().to_owned());
    active.perspective = Set(def.perspective.as_str().to_owned());
    active.kind = Set(def.kind.as_str().to_owned());
    active.aggregation = Set(def.aggregation.as_str().to_owned());
    active.owner_team = Set(def.owner_team.clone());
    active.formula = Set(def.formula.clone());
}

/// How a metric changes in one call.
enum Transition<'a> {
    Update(&'a MetricPatch),
    Approve,
    Retire,
}

impl Tenant {
    /// Refuses a formula that does not parse, reads unknown keys, or closes a circle of
    /// formula metrics; the message names the position in the formula.
    async fn check_formula(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        def: &MetricDefinition,
    ) -> StoreResult<()> {
        let Some(source) = &def.formula else {
            return Ok(());
        };
        let invalid =
            |e: FormulaError| StoreError::Invalid(vec![Problem::new("formula", e.to_string())]);
        let parsed = Formula::parse(source).map_err(invalid)?;
        let glossary: Vec<(String, Option<String>)> = row::Entity::find()
            .select_only()
            .column(row::Column::Key)
            .column(row::Column::Formula)
            .filter(row::Column::OrgId.eq(self.org_id))
            .into_tuple()
            .all(txn)
            .await?;
        let mut known = BTreeSet::new();
        let mut formulas = BTreeMap::new();
        for (key, formula) in glossary {
            let Ok(key) = MetricKey::parse(&key) else {
                continue;
            };
            if let Some(refs) = formula
                .as_deref()
                .and_then(|f| Formula::parse(f).ok())
                .map(|f| f.references())
                && key != def.key
            {
                formulas.insert(key.clone(), refs);
            }
            known.insert(key);
        }
        formula::check_definition(&def.key, &parsed, &known, &formulas).map_err(invalid)
    }

    /// Metrics by key; unknown keys are left out.
    pub async fn metrics_by_keys(
        &self,
        keys: &[MetricKey],
    ) -> StoreResult<HashMap<MetricKey, Metric>> {
        let mut out = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(500) {
            let rows = row::Entity::find()
                .filter(row::Column::OrgId.eq(self.org_id))
                .filter(row::Column::Key.is_in(chunk.iter().map(MetricKey::as_str)))
                .all(self.db())
                .await?;
            for r in rows {
                let metric = Metric::try_from(r)?;
                out.insert(metric.definition.key.clone(), metric);
            }
        }
        Ok(out)
    }

    /// Lists metrics by key.
    pub async fn metrics(&self, filter: &MetricFilter, page: Page) -> StoreResult<Slice<Metric>> {
        let mut query = row::Entity::find().filter(row::Column::OrgId.eq(self.org_id));
        if let Some(status) = filter.status {
            query = query.filter(row::Column::Status.eq(status.as_str()));
        }
        if let Some(perspective) = filter.perspective {
            query = query.filter(row::Column::Perspective.eq(perspective.as_str()));
        }
        if let Some(search) = filter.search.as_deref().filter(|s| !s.is_empty()) {
            let pattern = crate::search::contains_pattern(search)?;
            let lower = |col: row::Column| Expr::expr(Func::lower(Expr::col(col)));
            query = query.filter(
                Condition::any()
                    .add(lower(row::Column::Key).like(pattern.clone()))
                    .add(lower(row::Column::Name).like(pattern)),
            );
        }
        let query = query.order_by_asc(row::Column::Key);
        paginate(self.db(), query, page, Metric::try_from).await
    }

    /// Loads metrics by id; ids of other organizations are simply absent.
    pub async fn metrics_by_ids(&self, ids: &[Uuid]) -> StoreResult<HashMap<Uuid, Metric>> {
        let rows = row::Entity::find()
            .filter(row::Column::OrgId.eq(self.org_id))
            .filter(row::Column::Id.is_in(ids.iter().copied()))
            .all(self.db())
            .await?;
        rows.into_iter()
            .map(|m| Metric::try_from(m).map(|metric| (metric.id, metric)))
            .collect()
    }

    /// Finds a metric by key.
    pub async fn metric_by_key(&self, key: &MetricKey) -> StoreResult<Option<Metric>> {
        row::Entity::find()
            .filter(row::Column::OrgId.eq(self.org_id))
            .filter(row::Column::Key.eq(key.as_str()))
            .one(self.db())
            .await?
            .map(Metric::try_from)
            .transpose()
    }

    /// All versions of the given metrics, oldest first.
    pub async fn metric_versions(
        &self,
        metric_ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, Vec<MetricVersion>>> {
        let rows = metric_versions::Entity::find()
            .filter(metric_versions::Column::OrgId.eq(self.org_id))
            .filter(metric_versions::Column::MetricId.is_in(metric_ids.iter().copied()))
            .order_by_asc(metric_versions::Column::MetricId)
            .order_by_asc(metric_versions::Column::Version)
            .all(self.db())
            .await?;
        let mut by_metric: HashMap<Uuid, Vec<MetricVersion>> = HashMap::new();
        for version in rows {
            by_metric
                .entry(version.metric_id)
                .or_default()
                .push(version.into());
        }
        Ok(by_metric)
    }

    /// Adds a metric to the glossary as a draft, version 1.
    pub async fn define_metric(&self, actor: &Actor, def: MetricDefinition) -> StoreResult<Metric> {
        let txn = self.store.begin_write().await?;
        self.check_formula(&txn, &def).await?;
        let now = Utc::now();
        let mut active = row::ActiveModel {
            org_id: Set(self.org_id),
            id: Set(Uuid::now_v7()),
            key: Set(def.key.as_str().to_owned()),
            status: Set(MetricStatus::Draft.as_str().to_owned()),
            version: Set(1),
            created_by: Set(actor.as_str().to_owned()),
            created_at: Set(now),
            updated_by: Set(actor.as_str().to_owned()),
            updated_at: Set(now),
            ..Default::default()
        };
        write_definition(&mut active, &def);
        let inserted = row::Entity::insert(active)
            .exec_with_returning(&txn)
            .await
            .map_err(|e| {
                StoreError::on_unique(e, format!("a metric with key `{}` already exists", def.key))
            })?;
        let metric = Metric::try_from(inserted)?;
        let after = snapshot(&metric.definition, metric.status);
        self.write_version(&txn, actor, &metric, "DEFINED", None, Some(after.clone()))
            .await?;
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation: "defineMetric",
                entity_type: "Metric",
                entity_id: metric.id.to_string(),
                before: None,
                after: Some(after),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(metric)
    }

    /// Changes a metric's definition. With `expected_version`, refuses with a conflict when
    /// someone changed it since the caller read it.
    pub async fn update_metric(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: &MetricPatch,
        expected_version: Option<i32>,
    ) -> StoreResult<Metric> {
        self.transition(
            actor,
            id,
            Transition::Update(patch),
            expected_version,
            "updateMetric",
        )
        .await
    }

    /// Approves a draft metric.
    pub async fn approve_metric(&self, actor: &Actor, id: Uuid) -> StoreResult<Metric> {
        self.transition(actor, id, Transition::Approve, None, "approveMetric")
            .await
    }

    /// Retires a metric; it keeps its history and observations but takes no new ones.
    pub async fn retire_metric(&self, actor: &Actor, id: Uuid) -> StoreResult<Metric> {
        self.transition(actor, id, Transition::Retire, None, "retireMetric")
            .await
    }

    async fn transition(
        &self,
        actor: &Actor,
        id: Uuid,
        transition: Transition<'_>,
        expected_version: Option<i32>,
        operation: &'static str,
    ) -> StoreResult<Metric> {
        let txn = self.store.begin_write().await?;
        let current = row::Entity::find()
            .filter(row::Column::OrgId.eq(self.org_id))
            .filter(row::Column::Id.eq(id))
            .one(&txn)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                entity: "Metric",
                id: id.to_string(),
            })?;
        let before = Metric::try_from(current.clone())?;
        if let Some(expected) = expected_version.filter(|v| *v != before.version) {
            return Err(StoreError::Conflict(format!(
                "the metric is at version {}, not {expected}; reload it and try again",
                before.version
            )));
        }
        let conflict = |e: tandem_domain::RuleViolation| StoreError::Conflict(e.message);
        let (definition, status, change) = match transition {
            Transition::Update(patch) => {
                rules::ensure_editable(before.status).map_err(conflict)?;
                let definition = before.definition.apply(patch);
                if definition.formula != before.definition.formula {
                    self.check_formula(&txn, &definition).await?;
                }
                (definition, before.status, "UPDATED")
            }
            Transition::Approve => (
                before.definition.clone(),
                rules::approve(before.status).map_err(conflict)?,
                "APPROVED",
            ),
            Transition::Retire => (
                before.definition.clone(),
                rules::retire(before.status).map_err(conflict)?,
                "RETIRED",
            ),
        };
        let before_json = snapshot(&before.definition, before.status);
        let after_json = snapshot(&definition, status);
        let metric = if definition == before.definition && status == before.status {
            before
        } else {
            let mut active = current.into_active_model();
            write_definition(&mut active, &definition);
            active.status = Set(status.as_str().to_owned());
            active.version = Set(before.version + 1);
            active.updated_by = Set(actor.as_str().to_owned());
            active.updated_at = Set(Utc::now());
            let metric = Metric::try_from(active.update(&txn).await?)?;
            if change == "RETIRED" {
                crate::sync::bury(
                    &txn,
                    self.org_id,
                    actor,
                    vec![crate::sync::Removal {
                        dataset: "metrics",
                        entity_id: metric.id.to_string(),
                        natural_key: metric.definition.key.as_str().to_owned(),
                    }],
                )
                .await?;
            }
            self.write_version(
                &txn,
                actor,
                &metric,
                change,
                Some(before_json.clone()),
                Some(after_json.clone()),
            )
            .await?;
            metric
        };
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation,
                entity_type: "Metric",
                entity_id: metric.id.to_string(),
                before: Some(before_json),
                after: Some(after_json),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(metric)
    }

    async fn write_version(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        actor: &Actor,
        metric: &Metric,
        change: &str,
        before: Option<Json>,
        after: Option<Json>,
    ) -> StoreResult<()> {
        let version = metric_versions::ActiveModel {
            org_id: Set(self.org_id),
            metric_id: Set(metric.id),
            version: Set(metric.version),
            change: Set(change.to_owned()),
            changed_by: Set(actor.as_str().to_owned()),
            changed_at: Set(metric.updated_at),
            before: Set(before),
            after: Set(after),
        };
        metric_versions::Entity::insert(version)
            .exec_without_returning(txn)
            .await?;
        Ok(())
    }
}
