//! Metric-tree edges and saved dashboards.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use tandem_domain::dashboards::{
    self as rules, ChartHint, Panel, PanelRange, PanelSource, Visibility,
};
use tandem_domain::formula::Formula;
use tandem_domain::metrics::MetricKey;
use tandem_domain::periods::{DateRange, Granularity};
use tandem_domain::rollup::Breakdown;
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::entities::{dashboards as dash_row, metric_edges as edge_row, metrics as metric_row};
use crate::error::{StoreError, StoreResult};
use crate::store::{Actor, Page, Slice, Tenant, paginate};

/// An edge of the metric tree: `input` ladders into `output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricEdge {
    /// The output metric.
    pub output_id: Uuid,
    /// The input metric.
    pub input_id: Uuid,
    /// Why the input drives the output.
    pub rationale: Option<String>,
    /// Who linked them.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A saved dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dashboard {
    /// Dashboard id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Who may read it.
    pub visibility: Visibility,
    /// The token subject that saved it.
    pub owner_subject: String,
    /// Its panels, in order.
    pub panels: Vec<Panel>,
    /// Version; 1 when saved, +1 on every change.
    pub version: i32,
    /// When it was saved.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// What a dashboard is saved as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardContent {
    /// Name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Who may read it.
    pub visibility: Visibility,
    /// Its panels, in order.
    pub panels: Vec<Panel>,
}

/// The stored form of a panel.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredPanel {
    title: String,
    metric_key: Option<String>,
    formula: Option<String>,
    by_segment: bool,
    by_stage: bool,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    last_periods: Option<u32>,
    granularity: String,
    chart: String,
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    crate::error::corrupt(format_args!("{what} ({detail})"))
}

fn panel_to_stored(p: &Panel) -> StoredPanel {
    let (metric_key, formula) = match &p.source {
        PanelSource::Metric(k) => (Some(k.as_str().to_owned()), None),
        PanelSource::Formula(f) => (None, Some(f.source().to_owned())),
    };
    let (from, to, last_periods) = match p.range {
        PanelRange::Between(r) => (Some(r.from()), Some(r.to()), None),
        PanelRange::Last(n) => (None, None, Some(n)),
    };
    StoredPanel {
        title: p.title.clone(),
        metric_key,
        formula,
        by_segment: p.breakdown.by_segment,
        by_stage: p.breakdown.by_stage,
        from,
        to,
        last_periods,
        granularity: p.granularity.as_str().to_owned(),
        chart: p.chart.as_str().to_owned(),
    }
}

fn panel_from_stored(s: StoredPanel) -> StoreResult<Panel> {
    let source = match (s.metric_key, s.formula) {
        (Some(k), _) => {
            PanelSource::Metric(MetricKey::parse(&k).map_err(|e| corrupt("panel metric", e))?)
        }
        (None, Some(f)) => {
            PanelSource::Formula(Formula::parse(&f).map_err(|e| corrupt("panel formula", e))?)
        }
        (None, None) => return Err(corrupt("panel", "neither metric nor formula")),
    };
    let range = match (s.from, s.to, s.last_periods) {
        (Some(from), Some(to), _) => {
            PanelRange::Between(DateRange::new(from, to).map_err(|e| corrupt("panel range", e))?)
        }
        (_, _, Some(n)) => PanelRange::Last(n),
        _ => return Err(corrupt("panel range", "missing")),
    };
    Ok(Panel {
        title: s.title,
        source,
        breakdown: Breakdown {
            by_segment: s.by_segment,
            by_stage: s.by_stage,
        },
        range,
        granularity: s
            .granularity
            .parse::<Granularity>()
            .map_err(|e| corrupt("granularity", e))?,
        chart: s
            .chart
            .parse::<ChartHint>()
            .map_err(|e| corrupt("chart", e))?,
    })
}

fn panels_json(panels: &[Panel]) -> Json {
    json!(panels.iter().map(panel_to_stored).collect::<Vec<_>>())
}

impl TryFrom<dash_row::Model> for Dashboard {
    type Error = StoreError;

    fn try_from(m: dash_row::Model) -> StoreResult<Self> {
        let stored: Vec<StoredPanel> =
            serde_json::from_value(m.panels).map_err(|e| corrupt("panels", e))?;
        Ok(Dashboard {
            id: m.id,
            name: m.name,
            description: m.description,
            visibility: m.visibility.parse().map_err(|e| corrupt("visibility", e))?,
            owner_subject: m.owner_subject,
            panels: stored
                .into_iter()
                .map(panel_from_stored)
                .collect::<StoreResult<_>>()?,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

fn dashboard_json(d: &DashboardContent) -> Json {
    json!({
        "name": d.name,
        "description": d.description,
        "visibility": d.visibility.as_str(),
        "panels": panels_json(&d.panels),
    })
}

impl Tenant {
    /// Every edge of the organization's metric tree.
    pub async fn metric_edges(&self) -> StoreResult<Vec<MetricEdge>> {
        let rows = edge_row::Entity::find()
            .filter(edge_row::Column::OrgId.eq(self.org_id))
            .order_by_asc(edge_row::Column::OutputMetricId)
            .order_by_asc(edge_row::Column::InputMetricId)
            .all(self.db())
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| MetricEdge {
                output_id: r.output_metric_id,
                input_id: r.input_metric_id,
                rationale: r.rationale,
                created_by: r.created_by,
                created_at: r.created_at,
            })
            .collect())
    }

    /// Links `input` into `output`, refusing an edge that would close a cycle; linking again
    /// updates the rationale.
    pub async fn link_metrics(
        &self,
        actor: &Actor,
        output: Uuid,
        input: Uuid,
        rationale: Option<String>,
    ) -> StoreResult<MetricEdge> {
        let txn = self.store.begin_write().await?;
        let keys: BTreeMap<Uuid, String> = metric_row::Entity::find()
            .filter(metric_row::Column::OrgId.eq(self.org_id))
            .all(&txn)
            .await?
            .into_iter()
            .map(|m| (m.id, m.key))
            .collect();
        for (id, field) in [(output, "outputMetricKey"), (input, "inputMetricKey")] {
            if !keys.contains_key(&id) {
                return Err(StoreError::NotFound {
                    entity: "Metric",
                    id: format!("{field} {id}"),
                });
            }
        }
        let existing = edge_row::Entity::find()
            .filter(edge_row::Column::OrgId.eq(self.org_id))
            .all(&txn)
            .await?;
        let key = |id: &Uuid| keys.get(id).cloned().unwrap_or_default();
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for e in &existing {
            graph
                .entry(key(&e.output_metric_id))
                .or_default()
                .insert(key(&e.input_metric_id));
        }
        rules::check_tree_edge(&graph, &key(&input), &key(&output))
            .map_err(|e| StoreError::Conflict(e.message))?;
        let previous = existing
            .iter()
            .find(|e| e.output_metric_id == output && e.input_metric_id == input);
        let now = Utc::now();
        let model = match previous {
            Some(p) => {
                let mut active = p.clone().into_active_model();
                active.rationale = Set(rationale.clone());
                active.update(&txn).await?
            }
            None => {
                edge_row::ActiveModel {
                    org_id: Set(self.org_id),
                    output_metric_id: Set(output),
                    input_metric_id: Set(input),
                    rationale: Set(rationale.clone()),
                    created_by: Set(actor.as_str().to_owned()),
                    created_at: Set(now),
                }
                .insert(&txn)
                .await?
            }
        };
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation: "linkMetrics",
                entity_type: "MetricEdge",
                entity_id: format!("{}->{}", key(&input), key(&output)),
                before: previous.map(|p| json!({ "rationale": p.rationale })),
                after: Some(json!({
                    "input": key(&input),
                    "output": key(&output),
                    "rationale": rationale,
                })),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(MetricEdge {
            output_id: model.output_metric_id,
            input_id: model.input_metric_id,
            rationale: model.rationale,
            created_by: model.created_by,
            created_at: model.created_at,
        })
    }

    /// Removes the edge `input -> output`; `false` when there was none.
    pub async fn unlink_metrics(
        &self,
        actor: &Actor,
        output: Uuid,
        input: Uuid,
    ) -> StoreResult<bool> {
        let txn = self.store.begin_write().await?;
        let found = edge_row::Entity::find()
            .filter(edge_row::Column::OrgId.eq(self.org_id))
            .filter(edge_row::Column::OutputMetricId.eq(output))
            .filter(edge_row::Column::InputMetricId.eq(input))
            .one(&txn)
            .await?;
        let Some(edge) = found else {
            txn.rollback().await?;
            return Ok(false);
        };
        edge_row::Entity::delete_by_id((self.org_id, output, input))
            .exec(&txn)
            .await?;
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation: "unlinkMetrics",
                entity_type: "MetricEdge",
                entity_id: format!("{input}->{output}"),
                before: Some(json!({ "rationale": edge.rationale })),
                after: None,
            },
        )
        .await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Saves a new dashboard owned by `owner_subject`.
    pub async fn create_dashboard(
        &self,
        actor: &Actor,
        owner_subject: &str,
        content: &DashboardContent,
    ) -> StoreResult<Dashboard> {
        let txn = self.store.begin_write().await?;
        let now = Utc::now();
        let id = Uuid::now_v7();
        let model = dash_row::ActiveModel {
            org_id: Set(self.org_id),
            id: Set(id),
            name: Set(content.name.clone()),
            description: Set(content.description.clone()),
            visibility: Set(content.visibility.as_str().to_owned()),
            owner_subject: Set(owner_subject.to_owned()),
            panels: Set(panels_json(&content.panels)),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation: "saveDashboard",
                entity_type: "Dashboard",
                entity_id: id.to_string(),
                before: None,
                after: Some(dashboard_json(content)),
            },
        )
        .await?;
        txn.commit().await?;
        Dashboard::try_from(model)
    }

    /// Replaces a dashboard's content; `may_edit` decides from the stored dashboard whether
    /// the caller may change it.
    pub async fn update_dashboard(
        &self,
        actor: &Actor,
        id: Uuid,
        content: &DashboardContent,
        expected_version: Option<i32>,
        may_edit: impl Fn(&Dashboard) -> bool,
    ) -> StoreResult<Dashboard> {
        let txn = self.store.begin_write().await?;
        let current = self.dashboard_row(&txn, id).await?;
        let before = Dashboard::try_from(current.clone())?;
        if !may_edit(&before) {
            return Err(StoreError::Forbidden(
                "only the dashboard's owner or an administrator may change it".to_owned(),
            ));
        }
        if let Some(expected) = expected_version.filter(|v| *v != before.version) {
            return Err(StoreError::Conflict(format!(
                "the dashboard is at version {}, not {expected}; reload it and try again",
                before.version
            )));
        }
        let before_content = DashboardContent {
            name: before.name.clone(),
            description: before.description.clone(),
            visibility: before.visibility,
            panels: before.panels.clone(),
        };
        if &before_content == content {
            txn.rollback().await?;
            return Ok(before);
        }
        let mut active = current.into_active_model();
        active.name = Set(content.name.clone());
        active.description = Set(content.description.clone());
        active.visibility = Set(content.visibility.as_str().to_owned());
        active.panels = Set(panels_json(&content.panels));
        active.version = Set(before.version + 1);
        active.updated_at = Set(Utc::now());
        let model = active.update(&txn).await?;
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation: "saveDashboard",
                entity_type: "Dashboard",
                entity_id: id.to_string(),
                before: Some(dashboard_json(&before_content)),
                after: Some(dashboard_json(content)),
            },
        )
        .await?;
        txn.commit().await?;
        Dashboard::try_from(model)
    }

    /// Deletes a dashboard; `may_edit` decides whether the caller may.
    pub async fn delete_dashboard(
        &self,
        actor: &Actor,
        id: Uuid,
        may_edit: impl Fn(&Dashboard) -> bool,
    ) -> StoreResult<Dashboard> {
        let txn = self.store.begin_write().await?;
        let current = self.dashboard_row(&txn, id).await?;
        let before = Dashboard::try_from(current)?;
        if !may_edit(&before) {
            return Err(StoreError::Forbidden(
                "only the dashboard's owner or an administrator may delete it".to_owned(),
            ));
        }
        dash_row::Entity::delete_by_id((self.org_id, id))
            .exec(&txn)
            .await?;
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation: "deleteDashboard",
                entity_type: "Dashboard",
                entity_id: id.to_string(),
                before: Some(
                    json!({ "name": before.name, "visibility": before.visibility.as_str() }),
                ),
                after: None,
            },
        )
        .await?;
        txn.commit().await?;
        Ok(before)
    }

    async fn dashboard_row(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        id: Uuid,
    ) -> StoreResult<dash_row::Model> {
        dash_row::Entity::find()
            .filter(dash_row::Column::OrgId.eq(self.org_id))
            .filter(dash_row::Column::Id.eq(id))
            .one(txn)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                entity: "Dashboard",
                id: id.to_string(),
            })
    }

    /// One dashboard, when `reader` may see it (`None` reads every dashboard).
    pub async fn dashboard(
        &self,
        id: Uuid,
        reader: Option<&str>,
    ) -> StoreResult<Option<Dashboard>> {
        dash_row::Entity::find()
            .filter(dash_row::Column::OrgId.eq(self.org_id))
            .filter(dash_row::Column::Id.eq(id))
            .filter(visible_to(reader))
            .one(self.db())
            .await?
            .map(Dashboard::try_from)
            .transpose()
    }

    /// Dashboards `reader` may see (`None` reads every dashboard), by name.
    pub async fn dashboards(
        &self,
        reader: Option<&str>,
        page: Page,
    ) -> StoreResult<Slice<Dashboard>> {
        let query = dash_row::Entity::find()
            .filter(dash_row::Column::OrgId.eq(self.org_id))
            .filter(visible_to(reader))
            .order_by_asc(dash_row::Column::Name)
            .order_by_asc(dash_row::Column::Id);
        paginate(self.db(), query, page, Dashboard::try_from).await
    }
}

/// Shared dashboards and the reader's own.
fn visible_to(reader: Option<&str>) -> Condition {
    match reader {
        None => Condition::all(),
        Some(subject) => Condition::any()
            .add(dash_row::Column::Visibility.eq(Visibility::Organization.as_str()))
            .add(dash_row::Column::OwnerSubject.eq(subject)),
    }
}
