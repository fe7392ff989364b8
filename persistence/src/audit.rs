//! The audit trail: one event per change, written in the transaction of the change.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use serde_json::Value as Json;
use uuid::Uuid;

use crate::entities::audit_events as row;
use crate::error::StoreResult;
use crate::store::{Actor, Page, Slice, Tenant, paginate};

/// One recorded change.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// Event id.
    pub id: Uuid,
    /// Who made the change (token subject).
    pub actor: String,
    /// The operation, such as `defineMetric`.
    pub operation: String,
    /// The kind of thing changed, such as `Metric`.
    pub entity_type: String,
    /// The id of the thing changed.
    pub entity_id: Option<String>,
    /// State before the change; `None` for creations.
    pub before: Option<Json>,
    /// State after the change.
    pub after: Option<Json>,
    /// When.
    pub at: DateTime<Utc>,
}

impl From<row::Model> for AuditEvent {
    fn from(m: row::Model) -> Self {
        Self {
            id: m.id,
            actor: m.actor,
            operation: m.operation,
            entity_type: m.entity_type,
            entity_id: m.entity_id,
            before: m.before,
            after: m.after,
            at: m.at,
        }
    }
}

/// Which audit events to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only events about this entity id.
    pub entity_id: Option<String>,
    /// Only events by this actor.
    pub actor: Option<String>,
    /// Only events at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only events before this time.
    pub to: Option<DateTime<Utc>>,
}

/// A change about to be recorded.
pub(crate) struct Change {
    pub operation: &'static str,
    pub entity_type: &'static str,
    pub entity_id: String,
    pub before: Option<Json>,
    pub after: Option<Json>,
}

fn active(org_id: Uuid, actor: &Actor, at: DateTime<Utc>, change: Change) -> row::ActiveModel {
    row::ActiveModel {
        org_id: Set(org_id),
        id: Set(Uuid::now_v7()),
        actor: Set(actor.as_str().to_owned()),
        operation: Set(change.operation.to_owned()),
        entity_type: Set(change.entity_type.to_owned()),
        entity_id: Set(Some(change.entity_id)),
        before: Set(change.before),
        after: Set(change.after),
        at: Set(at),
    }
}

/// Records changes inside the caller's transaction, in batches.
pub(crate) async fn record_all<C: ConnectionTrait>(
    conn: &C,
    org_id: Uuid,
    actor: &Actor,
    changes: Vec<Change>,
) -> StoreResult<()> {
    let at = Utc::now();
    let mut rows = changes
        .into_iter()
        .map(|c| active(org_id, actor, at, c))
        .peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(500).collect();
        row::Entity::insert_many(chunk).exec(conn).await?;
    }
    Ok(())
}

/// Records one change inside the caller's transaction.
pub(crate) async fn record<C: ConnectionTrait>(
    conn: &C,
    org_id: Uuid,
    actor: &Actor,
    change: Change,
) -> StoreResult<()> {
    record_all(conn, org_id, actor, vec![change]).await
}

impl Tenant {
    /// One audit event by id.
    pub async fn audit_event(&self, id: Uuid) -> StoreResult<Option<AuditEvent>> {
        Ok(row::Entity::find()
            .filter(row::Column::OrgId.eq(self.org_id))
            .filter(row::Column::Id.eq(id))
            .one(self.db())
            .await?
            .map(AuditEvent::from))
    }

    /// Lists audit events, newest first.
    pub async fn audit_events(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> StoreResult<Slice<AuditEvent>> {
        let mut query = row::Entity::find().filter(row::Column::OrgId.eq(self.org_id));
        if let Some(entity_id) = &filter.entity_id {
            query = query.filter(row::Column::EntityId.eq(entity_id.as_str()));
        }
        if let Some(actor) = &filter.actor {
            query = query.filter(row::Column::Actor.eq(actor.as_str()));
        }
        if let Some(from) = filter.from {
            query = query.filter(row::Column::At.gte(from));
        }
        if let Some(to) = filter.to {
            query = query.filter(row::Column::At.lt(to));
        }
        let query = query
            .order_by_desc(row::Column::At)
            .order_by_desc(row::Column::Id);
        paginate(self.db(), query, page, |m| Ok(AuditEvent::from(m))).await
    }
}
