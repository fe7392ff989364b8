//! Scorecards and their weighted KPI items; organization settings that judge balance.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::{Value as Json, json};
use tandem_domain::metrics::{Direction, MetricKey, MetricStatus};
use tandem_domain::scorecards::{
    self as rules, DEFAULT_MAX_PERSPECTIVE_SHARE, OwnerKind, Thresholds,
};
use tandem_domain::segments::DimensionKey;
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::decimal::ExactDecimal;
use crate::entities::{
    job_roles, metrics as metric_row, organization_settings, scorecard_items, scorecards, segments,
    teams,
};
use crate::error::{Problem, StoreError, StoreResult};
use crate::store::{Actor, Page, Slice, Tenant, paginate};

const CHUNK: usize = 500;

/// Who a scorecard belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A job role (the role's KPI assignment).
    Role(Uuid),
    /// A team.
    Team(Uuid),
    /// The company.
    Company,
}

impl Owner {
    /// The kind of owner.
    pub fn kind(self) -> OwnerKind {
        match self {
            Owner::Role(_) => OwnerKind::Role,
            Owner::Team(_) => OwnerKind::Team,
            Owner::Company => OwnerKind::Company,
        }
    }
}

/// A scorecard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scorecard {
    /// Scorecard id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Its owner.
    pub owner: Owner,
    /// Score at or above which it is green.
    pub green_score: Decimal,
    /// Score at or above which it is amber.
    pub amber_score: Decimal,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// One weighted KPI of a scorecard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScorecardItem {
    /// Item id.
    pub id: Uuid,
    /// The scorecard.
    pub scorecard_id: Uuid,
    /// The metric measured.
    pub metric_id: Uuid,
    /// Only this segment's values count, when set.
    pub segment_id: Option<Uuid>,
    /// Relative weight.
    pub weight: Decimal,
    /// Target value.
    pub target: Decimal,
    /// Green threshold, in the metric's unit.
    pub green: Decimal,
    /// Amber threshold, in the metric's unit.
    pub amber: Decimal,
    /// Display order, from 1.
    pub position: i32,
}

/// An item as given by a caller, with keys still to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewItem {
    /// The metric, by key.
    pub metric_key: MetricKey,
    /// The segment scope, by key.
    pub segment: Option<DimensionKey>,
    /// Weight, already checked non-negative.
    pub weight: Decimal,
    /// Target.
    pub target: Decimal,
    /// Green threshold.
    pub green: Decimal,
    /// Amber threshold.
    pub amber: Decimal,
}

/// A scorecard to define.
#[derive(Debug, Clone)]
pub struct NewScorecard {
    /// Display name.
    pub name: String,
    /// Owner.
    pub owner: Owner,
    /// Green score threshold.
    pub green_score: Decimal,
    /// Amber score threshold.
    pub amber_score: Decimal,
    /// Items, in display order.
    pub items: Vec<NewItem>,
}

/// Changes to a scorecard; `None` leaves a field as it is; `items` replaces them all.
#[derive(Debug, Clone, Default)]
pub struct ScorecardPatch {
    /// New name.
    pub name: Option<String>,
    /// New score thresholds (green, amber).
    pub score_thresholds: Option<(Decimal, Decimal)>,
    /// New items.
    pub items: Option<Vec<NewItem>>,
}

/// An item with its keys resolved, ready to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedItem {
    pub metric_id: Uuid,
    pub metric_key: String,
    pub segment_id: Option<Uuid>,
    pub segment_key: Option<String>,
    pub weight: Decimal,
    pub target: Decimal,
    pub green: Decimal,
    pub amber: Decimal,
}

/// Organization-wide settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgSettings {
    /// Largest share of weight one perspective may hold in a balanced scorecard.
    pub max_perspective_share: Decimal,
    /// A FINANCIAL goal needs a link to a CUSTOMER goal before it becomes ACTIVE.
    pub require_customer_link: bool,
}

impl Default for OrgSettings {
    fn default() -> Self {
        Self {
            max_perspective_share: DEFAULT_MAX_PERSPECTIVE_SHARE,
            require_customer_link: true,
        }
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Database(sea_orm::DbErr::Type(format!(
        "stored scorecard {what} is invalid"
    )))
}

impl TryFrom<scorecards::Model> for Scorecard {
    type Error = StoreError;

    fn try_from(m: scorecards::Model) -> Result<Self, StoreError> {
        let kind: OwnerKind = m.owner_kind.parse().map_err(|_| corrupt("owner"))?;
        let owner = match (kind, m.role_id, m.team_id) {
            (OwnerKind::Role, Some(role), _) => Owner::Role(role),
            (OwnerKind::Team, _, Some(team)) => Owner::Team(team),
            (OwnerKind::Company, _, _) => Owner::Company,
            _ => return Err(corrupt("owner")),
        };
        Ok(Scorecard {
            id: m.id,
            name: m.name,
            owner,
            green_score: m.green_score.0,
            amber_score: m.amber_score.0,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

impl From<scorecard_items::Model> for ScorecardItem {
    fn from(m: scorecard_items::Model) -> Self {
        Self {
            id: m.id,
            scorecard_id: m.scorecard_id,
            metric_id: m.metric_id,
            segment_id: m.segment_id,
            weight: m.weight.0,
            target: m.target.0,
            green: m.green.0,
            amber: m.amber.0,
            position: m.position,
        }
    }
}

pub(crate) fn scope_key(segment_id: Option<Uuid>) -> String {
    segment_id.map_or_else(|| "-".to_owned(), |s| s.simple().to_string())
}

pub(crate) fn items_json(items: &[ResolvedItem]) -> Json {
    Json::Array(
        items
            .iter()
            .map(|i| {
                json!({
                    "metricKey": i.metric_key, "segmentKey": i.segment_key,
                    "weight": i.weight.to_string(), "target": i.target.to_string(),
                    "green": i.green.to_string(), "amber": i.amber.to_string(),
                })
            })
            .collect(),
    )
}

/// Whether stored items already equal the resolved ones, in order.
pub(crate) fn same_items(stored: &[ScorecardItem], wanted: &[ResolvedItem]) -> bool {
    stored.len() == wanted.len()
        && stored.iter().zip(wanted).all(|(s, w)| {
            s.metric_id == w.metric_id
                && s.segment_id == w.segment_id
                && s.weight == w.weight
                && s.target == w.target
                && s.green == w.green
                && s.amber == w.amber
        })
}

/// Resolves items' metric and segment keys inside a transaction, checking thresholds against
/// each metric's direction. Problems are reported at `{prefix}[i].field`.
pub(crate) async fn resolve_items<C: ConnectionTrait>(
    conn: &C,
    org_id: Uuid,
    lists: &[(String, &[NewItem])],
) -> StoreResult<(Vec<Vec<ResolvedItem>>, Vec<Problem>)> {
    let metric_keys: HashSet<&str> = lists
        .iter()
        .flat_map(|(_, items)| items.iter().map(|i| i.metric_key.as_str()))
        .collect();
    let segment_keys: HashSet<&str> = lists
        .iter()
        .flat_map(|(_, items)| {
            items
                .iter()
                .filter_map(|i| i.segment.as_ref().map(DimensionKey::as_str))
        })
        .collect();
    let mut metrics: HashMap<String, metric_row::Model> = HashMap::new();
    let keys: Vec<&str> = metric_keys.into_iter().collect();
    for chunk in keys.chunks(CHUNK) {
        let rows = metric_row::Entity::find()
            .filter(metric_row::Column::OrgId.eq(org_id))
            .filter(metric_row::Column::Key.is_in(chunk.iter().copied()))
            .all(conn)
            .await?;
        metrics.extend(rows.into_iter().map(|m| (m.key.clone(), m)));
    }
    let mut segment_ids: HashMap<String, Uuid> = HashMap::new();
    let keys: Vec<&str> = segment_keys.into_iter().collect();
    for chunk in keys.chunks(CHUNK) {
        let rows = segments::Entity::find()
            .filter(segments::Column::OrgId.eq(org_id))
            .filter(segments::Column::Key.is_in(chunk.iter().copied()))
            .all(conn)
            .await?;
        segment_ids.extend(rows.into_iter().map(|m| (m.key, m.id)));
    }

    let mut problems = Vec::new();
    let mut resolved_lists = Vec::with_capacity(lists.len());
    for (prefix, items) in lists {
        let mut resolved = Vec::with_capacity(items.len());
        let mut seen: HashMap<(Uuid, Option<Uuid>), usize> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            let path = |field: &str| format!("{prefix}[{i}].{field}");
            let Some(metric) = metrics.get(item.metric_key.as_str()) else {
                problems.push(Problem::new(
                    path("metricKey"),
                    format!("no metric with key `{}`", item.metric_key),
                ));
                continue;
            };
            if metric.status == MetricStatus::Retired.as_str() {
                problems.push(Problem::new(
                    path("metricKey"),
                    format!("metric `{}` is retired", item.metric_key),
                ));
            }
            let direction: Direction = metric
                .direction
                .parse()
                .map_err(|_| corrupt("metric direction"))?;
            if let Err(e) = Thresholds::parse(direction, item.green, item.amber) {
                problems.push(Problem::new(path("green"), e.message));
            }
            let segment_id = match &item.segment {
                None => None,
                Some(key) => match segment_ids.get(key.as_str()) {
                    Some(id) => Some(*id),
                    None => {
                        problems.push(Problem::new(
                            path("segmentKey"),
                            format!("no segment with key `{}`", key.as_str()),
                        ));
                        continue;
                    }
                },
            };
            if let Some(first) = seen.insert((metric.id, segment_id), i) {
                problems.push(Problem::new(
                    format!("{prefix}[{i}]"),
                    format!("repeats the metric and segment of {prefix}[{first}]"),
                ));
            }
            resolved.push(ResolvedItem {
                metric_id: metric.id,
                metric_key: metric.key.clone(),
                segment_id,
                segment_key: item.segment.as_ref().map(|k| k.as_str().to_owned()),
                weight: item.weight,
                target: item.target,
                green: item.green,
                amber: item.amber,
            });
        }
        resolved_lists.push(resolved);
    }
    Ok((resolved_lists, problems))
}

/// Replaces the items of scorecards inside a transaction.
pub(crate) async fn replace_items(
    txn: &DatabaseTransaction,
    org_id: Uuid,
    actor: &Actor,
    replacements: &[(Uuid, &[ResolvedItem])],
) -> StoreResult<()> {
    let mut ids: Vec<Uuid> = replacements.iter().map(|(id, _)| *id).collect();
    // The cards are locked in id order (PostgreSQL), so replacements of overlapping cards wait
    // for each other instead of deadlocking or interleaving their items.
    ids.sort_unstable();
    for chunk in ids.chunks(CHUNK) {
        scorecards::Entity::find()
            .select_only()
            .column(scorecards::Column::Id)
            .filter(scorecards::Column::OrgId.eq(org_id))
            .filter(scorecards::Column::Id.is_in(chunk.iter().copied()))
            .order_by_asc(scorecards::Column::Id)
            .lock_exclusive()
            .into_tuple::<Uuid>()
            .all(txn)
            .await?;
    }
    for chunk in ids.chunks(CHUNK) {
        // Every replaced item leaves a tombstone: its replacement has a new id.
        let old = scorecard_items::Entity::find()
            .filter(scorecard_items::Column::OrgId.eq(org_id))
            .filter(scorecard_items::Column::ScorecardId.is_in(chunk.iter().copied()))
            .all(txn)
            .await?;
        let removals = old
            .into_iter()
            .map(|i| crate::sync::Removal {
                dataset: "scorecard_items",
                entity_id: i.id.to_string(),
                natural_key: format!("{}:{}:{}", i.scorecard_id, i.metric_id, i.scope_key),
            })
            .collect();
        crate::sync::bury(txn, org_id, actor, removals).await?;
        scorecard_items::Entity::delete_many()
            .filter(scorecard_items::Column::OrgId.eq(org_id))
            .filter(scorecard_items::Column::ScorecardId.is_in(chunk.iter().copied()))
            .exec(txn)
            .await?;
    }
    let now = Utc::now();
    let mut rows: Vec<scorecard_items::ActiveModel> = Vec::new();
    for (scorecard_id, items) in replacements {
        for (item, position) in items.iter().zip(1..) {
            rows.push(scorecard_items::ActiveModel {
                org_id: Set(org_id),
                id: Set(Uuid::now_v7()),
                scorecard_id: Set(*scorecard_id),
                metric_id: Set(item.metric_id),
                segment_id: Set(item.segment_id),
                scope_key: Set(scope_key(item.segment_id)),
                weight: Set(ExactDecimal(item.weight)),
                target: Set(ExactDecimal(item.target)),
                green: Set(ExactDecimal(item.green)),
                amber: Set(ExactDecimal(item.amber)),
                position: Set(position),
                created_at: Set(now),
                updated_at: Set(now),
            });
        }
    }
    for chunk in rows.chunks(CHUNK) {
        scorecard_items::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

pub(crate) fn scorecard_json(
    name: &str,
    owner: Owner,
    green: Decimal,
    amber: Decimal,
    items: &[ResolvedItem],
) -> Json {
    json!({
        "name": name,
        "ownerKind": owner.kind().as_str(),
        "greenScore": green.to_string(),
        "amberScore": amber.to_string(),
        "items": items_json(items),
    })
}

impl Tenant {
    /// Lists scorecards by name.
    pub async fn scorecards(
        &self,
        kind: Option<OwnerKind>,
        page: Page,
    ) -> StoreResult<Slice<Scorecard>> {
        let mut query =
            scorecards::Entity::find().filter(scorecards::Column::OrgId.eq(self.org_id));
        if let Some(kind) = kind {
            query = query.filter(scorecards::Column::OwnerKind.eq(kind.as_str()));
        }
        let query = query
            .order_by_asc(scorecards::Column::Name)
            .order_by_asc(scorecards::Column::Id);
        paginate(self.db(), query, page, Scorecard::try_from).await
    }

    /// Loads scorecards by id.
    pub async fn scorecards_by_ids(&self, ids: &[Uuid]) -> StoreResult<HashMap<Uuid, Scorecard>> {
        let mut found = HashMap::new();
        for chunk in ids.chunks(CHUNK) {
            for m in scorecards::Entity::find()
                .filter(scorecards::Column::OrgId.eq(self.org_id))
                .filter(scorecards::Column::Id.is_in(chunk.iter().copied()))
                .all(self.db())
                .await?
            {
                let s = Scorecard::try_from(m)?;
                found.insert(s.id, s);
            }
        }
        Ok(found)
    }

    /// The scorecards (KPI assignments) of the given roles, by role id.
    pub async fn scorecards_of_roles(
        &self,
        role_ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, Scorecard>> {
        let mut found = HashMap::new();
        for chunk in role_ids.chunks(CHUNK) {
            for m in scorecards::Entity::find()
                .filter(scorecards::Column::OrgId.eq(self.org_id))
                .filter(scorecards::Column::RoleId.is_in(chunk.iter().copied()))
                .all(self.db())
                .await?
            {
                let s = Scorecard::try_from(m)?;
                if let Owner::Role(role) = s.owner {
                    found.insert(role, s);
                }
            }
        }
        Ok(found)
    }

    /// The items of the given scorecards, in display order.
    pub async fn scorecard_items(
        &self,
        scorecard_ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, Vec<ScorecardItem>>> {
        let mut found: HashMap<Uuid, Vec<ScorecardItem>> = HashMap::new();
        for chunk in scorecard_ids.chunks(CHUNK) {
            for m in scorecard_items::Entity::find()
                .filter(scorecard_items::Column::OrgId.eq(self.org_id))
                .filter(scorecard_items::Column::ScorecardId.is_in(chunk.iter().copied()))
                .order_by_asc(scorecard_items::Column::ScorecardId)
                .order_by_asc(scorecard_items::Column::Position)
                .all(self.db())
                .await?
            {
                found.entry(m.scorecard_id).or_default().push(m.into());
            }
        }
        Ok(found)
    }

    /// Defines a scorecard with its items, in one transaction.
    pub async fn define_scorecard(
        &self,
        actor: &Actor,
        new: NewScorecard,
    ) -> StoreResult<Scorecard> {
        let txn = self.store.begin_write().await?;
        self.check_owner(&txn, new.owner).await?;
        let (mut resolved, problems) =
            resolve_items(&txn, self.org_id, &[("items".to_owned(), &new.items)]).await?;
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        let items = resolved.pop().unwrap_or_default();
        let now = Utc::now();
        let (role_id, team_id) = match new.owner {
            Owner::Role(r) => (Some(r), None),
            Owner::Team(t) => (None, Some(t)),
            Owner::Company => (None, None),
        };
        let row = scorecards::ActiveModel {
            org_id: Set(self.org_id),
            id: Set(Uuid::now_v7()),
            name: Set(new.name.clone()),
            owner_kind: Set(new.owner.kind().as_str().to_owned()),
            role_id: Set(role_id),
            team_id: Set(team_id),
            green_score: Set(ExactDecimal(new.green_score)),
            amber_score: Set(ExactDecimal(new.amber_score)),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let scorecard = Scorecard::try_from(
            scorecards::Entity::insert(row)
                .exec_with_returning(&txn)
                .await
                .map_err(|e| {
                    StoreError::on_unique(e, "that role or team already has a scorecard")
                })?,
        )?;
        replace_items(&txn, self.org_id, actor, &[(scorecard.id, &items)]).await?;
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation: "defineScorecard",
                entity_type: "Scorecard",
                entity_id: scorecard.id.to_string(),
                before: None,
                after: Some(scorecard_json(
                    &new.name,
                    new.owner,
                    new.green_score,
                    new.amber_score,
                    &items,
                )),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(scorecard)
    }

    /// Changes a scorecard; new items replace the old ones.
    pub async fn update_scorecard(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: ScorecardPatch,
    ) -> StoreResult<Scorecard> {
        let txn = self.store.begin_write().await?;
        // Locked until commit (PostgreSQL; SQLite runs one writer at a time): a concurrent
        // update or role KPI assignment of this card waits, so the items compared and the
        // state audited as `before` are the ones this update replaces.
        let current = scorecards::Entity::find()
            .filter(scorecards::Column::OrgId.eq(self.org_id))
            .filter(scorecards::Column::Id.eq(id))
            .lock_exclusive()
            .one(&txn)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                entity: "Scorecard",
                id: id.to_string(),
            })?;
        let before = Scorecard::try_from(current.clone())?;
        let old_items: Vec<ScorecardItem> = scorecard_items::Entity::find()
            .filter(scorecard_items::Column::OrgId.eq(self.org_id))
            .filter(scorecard_items::Column::ScorecardId.eq(id))
            .order_by_asc(scorecard_items::Column::Position)
            .all(&txn)
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        let old_resolved = self.describe_items(&txn, &old_items).await?;
        let new_items = match &patch.items {
            None => old_resolved.clone(),
            Some(items) => {
                let (mut resolved, problems) =
                    resolve_items(&txn, self.org_id, &[("items".to_owned(), items.as_slice())])
                        .await?;
                if !problems.is_empty() {
                    return Err(StoreError::Invalid(problems));
                }
                resolved.pop().unwrap_or_default()
            }
        };
        let name = patch.name.clone().unwrap_or_else(|| before.name.clone());
        let (green, amber) = patch
            .score_thresholds
            .unwrap_or((before.green_score, before.amber_score));
        let mut active: scorecards::ActiveModel = current.into();
        active.name = Set(name.clone());
        active.green_score = Set(ExactDecimal(green));
        active.amber_score = Set(ExactDecimal(amber));
        active.updated_at = Set(Utc::now());
        let scorecard =
            Scorecard::try_from(sea_orm::ActiveModelTrait::update(active, &txn).await?)?;
        if patch.items.is_some() && !same_items(&old_items, &new_items) {
            replace_items(&txn, self.org_id, actor, &[(id, &new_items)]).await?;
        }
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation: "updateScorecard",
                entity_type: "Scorecard",
                entity_id: id.to_string(),
                before: Some(scorecard_json(
                    &before.name,
                    before.owner,
                    before.green_score,
                    before.amber_score,
                    &old_resolved,
                )),
                after: Some(scorecard_json(
                    &name,
                    before.owner,
                    green,
                    amber,
                    &new_items,
                )),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(scorecard)
    }

    async fn check_owner(&self, txn: &DatabaseTransaction, owner: Owner) -> StoreResult<()> {
        let exists = match owner {
            Owner::Company => true,
            Owner::Role(id) => job_roles::Entity::find()
                .filter(job_roles::Column::OrgId.eq(self.org_id))
                .filter(job_roles::Column::Id.eq(id))
                .one(txn)
                .await?
                .is_some(),
            Owner::Team(id) => teams::Entity::find()
                .filter(teams::Column::OrgId.eq(self.org_id))
                .filter(teams::Column::Id.eq(id))
                .one(txn)
                .await?
                .is_some(),
        };
        if exists {
            Ok(())
        } else {
            Err(StoreError::invalid("owner", "no such role or team"))
        }
    }

    /// Stored items with their keys, for the audit trail.
    async fn describe_items(
        &self,
        txn: &DatabaseTransaction,
        items: &[ScorecardItem],
    ) -> StoreResult<Vec<ResolvedItem>> {
        let metric_ids: Vec<Uuid> = items.iter().map(|i| i.metric_id).collect();
        let keys: HashMap<Uuid, String> = metric_row::Entity::find()
            .filter(metric_row::Column::OrgId.eq(self.org_id))
            .filter(metric_row::Column::Id.is_in(metric_ids))
            .all(txn)
            .await?
            .into_iter()
            .map(|m| (m.id, m.key))
            .collect();
        let segment_ids: Vec<Uuid> = items.iter().filter_map(|i| i.segment_id).collect();
        let segs: HashMap<Uuid, String> = segments::Entity::find()
            .filter(segments::Column::OrgId.eq(self.org_id))
            .filter(segments::Column::Id.is_in(segment_ids))
            .all(txn)
            .await?
            .into_iter()
            .map(|m| (m.id, m.key))
            .collect();
        Ok(items
            .iter()
            .map(|i| ResolvedItem {
                metric_id: i.metric_id,
                metric_key: keys.get(&i.metric_id).cloned().unwrap_or_default(),
                segment_id: i.segment_id,
                segment_key: i.segment_id.and_then(|s| segs.get(&s).cloned()),
                weight: i.weight,
                target: i.target,
                green: i.green,
                amber: i.amber,
            })
            .collect())
    }

    /// The organization's settings (defaults until changed).
    pub async fn settings(&self) -> StoreResult<OrgSettings> {
        Ok(organization_settings::Entity::find_by_id(self.org_id)
            .one(self.db())
            .await?
            .map_or_else(OrgSettings::default, |m| OrgSettings {
                max_perspective_share: m.max_perspective_share.0,
                require_customer_link: m.require_customer_link,
            }))
    }

    /// Changes the organization's settings; `None` leaves a setting as it is.
    pub async fn update_settings(
        &self,
        actor: &Actor,
        max_share: Option<Decimal>,
        require_customer_link: Option<bool>,
    ) -> StoreResult<OrgSettings> {
        if let Some(share) = max_share {
            rules::parse_max_share(share)
                .map_err(|e| StoreError::invalid("maxPerspectiveShare", e.message))?;
        }
        let txn = self.store.begin_write().await?;
        let before = organization_settings::Entity::find_by_id(self.org_id)
            .one(&txn)
            .await?
            .map_or_else(OrgSettings::default, |m| OrgSettings {
                max_perspective_share: m.max_perspective_share.0,
                require_customer_link: m.require_customer_link,
            });
        let after = OrgSettings {
            max_perspective_share: max_share.unwrap_or(before.max_perspective_share),
            require_customer_link: require_customer_link.unwrap_or(before.require_customer_link),
        };
        let row = organization_settings::ActiveModel {
            org_id: Set(self.org_id),
            max_perspective_share: Set(ExactDecimal(after.max_perspective_share)),
            require_customer_link: Set(after.require_customer_link),
            updated_at: Set(Utc::now()),
        };
        organization_settings::Entity::insert(row)
            .on_conflict(
                sea_orm::sea_query::OnConflict::column(organization_settings::Column::OrgId)
                    .update_columns([
                        organization_settings::Column::MaxPerspectiveShare,
                        organization_settings::Column::RequireCustomerLink,
                        organization_settings::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        let json_of = |s: &OrgSettings| {
            json!({
                "maxPerspectiveShare": s.max_perspective_share.to_string(),
                "requireCustomerLink": s.require_customer_link,
            })
        };
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation: "updateOrganizationSettings",
                entity_type: "Organization",
                entity_id: self.org_id.to_string(),
                before: Some(json_of(&before)),
                after: Some(json_of(&after)),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(after)
    }
}
