//! Segments and journey stages: the dimensions observations are broken down by.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder,
};
use serde_json::{Value as Json, json};
use tandem_domain::segments::DimensionKey;
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::entities::{journey_stages as stage_row, segments as segment_row};
use crate::error::{StoreError, StoreResult};
use crate::store::{Actor, Page, Slice, Tenant, paginate};

/// A customer segment, such as Enterprise or SMB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Segment id.
    pub id: Uuid,
    /// Key used by pipelines.
    pub key: String,
    /// Display name.
    pub name: String,
    /// What belongs in the segment.
    pub description: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A stage of the customer journey, such as Adoption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JourneyStage {
    /// Stage id.
    pub id: Uuid,
    /// Key used by pipelines.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Order in the journey, from 1.
    pub position: i32,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A segment to create.
#[derive(Debug, Clone)]
pub struct NewSegment {
    /// Unique key.
    pub key: DimensionKey,
    /// Display name.
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
}

/// Changes to a segment; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct SegmentPatch {
    /// New name.
    pub name: Option<String>,
    /// New description; `Some(None)` clears it.
    pub description: Option<Option<String>>,
}

/// A journey stage to create.
#[derive(Debug, Clone)]
pub struct NewStage {
    /// Unique key.
    pub key: DimensionKey,
    /// Display name.
    pub name: String,
    /// Position in the journey; appended after the last stage when absent.
    pub position: Option<i32>,
}

/// Changes to a stage; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct StagePatch {
    /// New name.
    pub name: Option<String>,
    /// New position.
    pub position: Option<i32>,
}

impl From<segment_row::Model> for Segment {
    fn from(m: segment_row::Model) -> Self {
        Self {
            id: m.id,
            key: m.key,
            name: m.name,
            description: m.description,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

impl From<stage_row::Model> for JourneyStage {
    fn from(m: stage_row::Model) -> Self {
        Self {
            id: m.id,
            key: m.key,
            name: m.name,
            position: m.position,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

fn segment_json(s: &Segment) -> Json {
    json!({ "key": s.key, "name": s.name, "description": s.description })
}

fn stage_json(s: &JourneyStage) -> Json {
    json!({ "key": s.key, "name": s.name, "position": s.position })
}

impl Tenant {
    /// Lists segments by key.
    pub async fn segments(&self, page: Page) -> StoreResult<Slice<Segment>> {
        let query = segment_row::Entity::find().filter(segment_row::Column::OrgId.eq(self.org_id));
        let query = query.order_by_asc(segment_row::Column::Key);
        paginate(self.db(), query, page, |m| Ok(Segment::from(m))).await
    }

    /// Loads segments by id.
    pub async fn segments_by_ids(&self, ids: &[Uuid]) -> StoreResult<HashMap<Uuid, Segment>> {
        Ok(segment_row::Entity::find()
            .filter(segment_row::Column::OrgId.eq(self.org_id))
            .filter(segment_row::Column::Id.is_in(ids.iter().copied()))
            .all(self.db())
            .await?
            .into_iter()
            .map(|m| (m.id, m.into()))
            .collect())
    }

    /// Creates a segment.
    pub async fn create_segment(&self, actor: &Actor, new: NewSegment) -> StoreResult<Segment> {
        let txn = self.store.begin_write().await?;
        let now = Utc::now();
        let active = segment_row::ActiveModel {
            org_id: Set(self.org_id),
            id: Set(Uuid::now_v7()),
            key: Set(new.key.as_str().to_owned()),
            name: Set(new.name),
            description: Set(new.description),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let segment: Segment = segment_row::Entity::insert(active)
            .exec_with_returning(&txn)
            .await
            .map_err(|e| {
                StoreError::on_unique(
                    e,
                    format!("a segment with key `{}` already exists", new.key.as_str()),
                )
            })?
            .into();
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation: "createSegment",
                entity_type: "Segment",
                entity_id: segment.id.to_string(),
                before: None,
                after: Some(segment_json(&segment)),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(segment)
    }

    /// Changes a segment's name or description.
    pub async fn update_segment(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: SegmentPatch,
    ) -> StoreResult<Segment> {
        let txn = self.store.begin_write().await?;
        let current = segment_row::Entity::find()
            .filter(segment_row::Column::OrgId.eq(self.org_id))
            .filter(segment_row::Column::Id.eq(id))
            .one(&txn)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                entity: "Segment",
                id: id.to_string(),
            })?;
        let before = Segment::from(current.clone());
        let mut active = current.into_active_model();
        if let Some(name) = patch.name {
            active.name = Set(name);
        }
        if let Some(description) = patch.description {
            active.description = Set(description);
        }
        active.updated_at = Set(Utc::now());
        let after = Segment::from(active.update(&txn).await?);
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation: "updateSegment",
                entity_type: "Segment",
                entity_id: id.to_string(),
                before: Some(segment_json(&before)),
                after: Some(segment_json(&after)),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(after)
    }

    /// Lists journey stages in journey order.
    pub async fn journey_stages(&self, page: Page) -> StoreResult<Slice<JourneyStage>> {
        let query = stage_row::Entity::find().filter(stage_row::Column::OrgId.eq(self.org_id));
        let query = query
            .order_by_asc(stage_row::Column::Position)
            .order_by_asc(stage_row::Column::Key);
        paginate(self.db(), query, page, |m| Ok(JourneyStage::from(m))).await
    }

    /// Loads journey stages by id.
    pub async fn journey_stages_by_ids(
        &self,
        ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, JourneyStage>> {
        Ok(stage_row::Entity::find()
            .filter(stage_row::Column::OrgId.eq(self.org_id))
            .filter(stage_row::Column::Id.is_in(ids.iter().copied()))
            .all(self.db())
            .await?
            .into_iter()
            .map(|m| (m.id, m.into()))
            .collect())
    }

    /// Creates a journey stage.
    pub async fn create_journey_stage(
        &self,
        actor: &Actor,
        new: NewStage,
    ) -> StoreResult<JourneyStage> {
        let txn = self.store.begin_write().await?;
        let position = match new.position {
            Some(p) => p,
            None => {
                let last = stage_row::Entity::find()
                    .filter(stage_row::Column::OrgId.eq(self.org_id))
                    .order_by_desc(stage_row::Column::Position)
                    .one(&txn)
                    .await?;
                last.map_or(1, |s| s.position + 1)
            }
        };
        let now = Utc::now();
        let active = stage_row::ActiveModel {
            org_id: Set(self.org_id),
            id: Set(Uuid::now_v7()),
            key: Set(new.key.as_str().to_owned()),
            name: Set(new.name),
            position: Set(position),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let stage: JourneyStage = stage_row::Entity::insert(active)
            .exec_with_returning(&txn)
            .await
            .map_err(|e| {
                StoreError::on_unique(
                    e,
                    format!(
                        "a journey stage with key `{}` already exists",
                        new.key.as_str()
                    ),
                )
            })?
            .into();
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation: "createJourneyStage",
                entity_type: "JourneyStage",
                entity_id: stage.id.to_string(),
                before: None,
                after: Some(stage_json(&stage)),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(stage)
    }

    /// Renames or moves a journey stage.
    pub async fn update_journey_stage(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: StagePatch,
    ) -> StoreResult<JourneyStage> {
        let txn = self.store.begin_write().await?;
        let current = stage_row::Entity::find()
            .filter(stage_row::Column::OrgId.eq(self.org_id))
            .filter(stage_row::Column::Id.eq(id))
            .one(&txn)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                entity: "JourneyStage",
                id: id.to_string(),
            })?;
        let before = JourneyStage::from(current.clone());
        let mut active = current.into_active_model();
        if let Some(name) = patch.name {
            active.name = Set(name);
        }
        if let Some(position) = patch.position {
            active.position = Set(position);
        }
        active.updated_at = Set(Utc::now());
        let after = JourneyStage::from(active.update(&txn).await?);
        audit::record(
            &txn,
            self.org_id,
            actor,
            Change {
                operation: "updateJourneyStage",
                entity_type: "JourneyStage",
                entity_id: id.to_string(),
                before: Some(stage_json(&before)),
                after: Some(stage_json(&after)),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(after)
    }

    /// Finds a segment by key.
    pub async fn segment_by_key(&self, key: &str) -> StoreResult<Option<Segment>> {
        Ok(segment_row::Entity::find()
            .filter(segment_row::Column::OrgId.eq(self.org_id))
            .filter(segment_row::Column::Key.eq(key))
            .one(self.db())
            .await?
            .map(Into::into))
    }

    /// Finds a journey stage by key.
    pub async fn journey_stage_by_key(&self, key: &str) -> StoreResult<Option<JourneyStage>> {
        Ok(stage_row::Entity::find()
            .filter(stage_row::Column::OrgId.eq(self.org_id))
            .filter(stage_row::Column::Key.eq(key))
            .one(self.db())
            .await?
            .map(Into::into))
    }

    /// Maps segment keys to ids.
    pub(crate) async fn segment_ids_by_key<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        keys: &[&str],
    ) -> StoreResult<HashMap<String, Uuid>> {
        Ok(segment_row::Entity::find()
            .filter(segment_row::Column::OrgId.eq(self.org_id))
            .filter(segment_row::Column::Key.is_in(keys.iter().copied()))
            .all(conn)
            .await?
            .into_iter()
            .map(|m| (m.key, m.id))
            .collect())
    }

    /// Maps journey stage keys to ids.
    pub(crate) async fn stage_ids_by_key<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        keys: &[&str],
    ) -> StoreResult<HashMap<String, Uuid>> {
        Ok(stage_row::Entity::find()
            .filter(stage_row::Column::OrgId.eq(self.org_id))
            .filter(stage_row::Column::Key.is_in(keys.iter().copied()))
            .all(conn)
            .await?
            .into_iter()
            .map(|m| (m.key, m.id))
            .collect())
    }
}
