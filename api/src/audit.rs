//! The audit trail over GraphQL (admin only).

use async_graphql::{Context, ID, InputObject, Json, Object};
use tandem_domain::access::Permission;
use tandem_persistence::{AuditEvent, AuditFilter};

use crate::error::{ApiError, ApiResult};
use crate::graphql::relay::{PageArgs, connection, decode_global_id, global_id};
use crate::graphql::scalars::DateTime;
use crate::graphql::{authorized, limits};

/// One change: who did what to which object, when, with the state before and after.
#[derive(Clone)]
pub struct AuditEventObject(pub AuditEvent);

/// One change: who did what to which object, when, with the state before and after.
#[Object(name = "AuditEvent")]
impl AuditEventObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id("AuditEvent", self.0.id)
    }

    /// Who made the change (token subject).
    async fn actor(&self) -> &str {
        &self.0.actor
    }

    /// The mutation, such as `defineMetric`.
    async fn operation(&self) -> &str {
        &self.0.operation
    }

    /// The kind of object changed, such as `Metric`.
    async fn entity_type(&self) -> &str {
        &self.0.entity_type
    }

    /// Global id of the object changed.
    async fn entity_id(&self) -> Option<ID> {
        let raw = self.0.entity_id.as_deref()?;
        let uuid = uuid::Uuid::parse_str(raw).ok()?;
        Some(global_id(&self.0.entity_type, uuid))
    }

    /// State before the change; null for creations.
    async fn before(&self) -> Option<Json<serde_json::Value>> {
        self.0.before.clone().map(Json)
    }

    /// State after the change.
    async fn after(&self) -> Option<Json<serde_json::Value>> {
        self.0.after.clone().map(Json)
    }

    /// When the change was made.
    async fn at(&self) -> DateTime {
        DateTime(self.0.at)
    }
}

connection!(
    AuditEventConnection,
    AuditEventEdge,
    AuditEventObject,
    "A page of audit events, newest first.",
    "An audit event with its cursor."
);

/// Narrows the audit trail.
#[derive(InputObject, Default)]
pub struct AuditFilterInput {
    /// Only events about this object (global id).
    pub entity_id: Option<ID>,
    /// Only events by this actor (token subject).
    pub actor: Option<String>,
    /// Only events at or after this time.
    pub from: Option<DateTime>,
    /// Only events before this time.
    pub to: Option<DateTime>,
}

/// Audit queries.
#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The audit trail of your organization, newest first (admin only).
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditFilterInput>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<AuditEventConnection> {
        let s = authorized(ctx, Permission::ReadAudit)?;
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, last, before)
            .page(lim.max_page_size, lim.default_page_size)?;
        let f = filter.unwrap_or_default();
        let entity_id = match &f.entity_id {
            None => None,
            Some(id) => Some(
                decode_global_id(id)
                    .map(|(_, uuid)| uuid.to_string())
                    .ok_or_else(|| ApiError::bad_input("filter.entityId", "not a valid id"))?,
            ),
        };
        let filter = AuditFilter {
            entity_id,
            actor: f.actor,
            from: f.from.map(|t| t.0),
            to: f.to.map(|t| t.0),
        };
        let slice = s
            .tenant
            .audit_events(&filter, page)
            .await
            .map_err(ApiError::from)?;
        Ok(AuditEventConnection::from_slice(slice, AuditEventObject))
    }
}
