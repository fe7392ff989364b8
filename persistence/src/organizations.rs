//! Organizations (tenants): created by operators, each seeded with the default journey stages.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;
use tandem_domain::segments::DEFAULT_JOURNEY_STAGES;
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::entities::{journey_stages, organizations as row};
use crate::error::StoreResult;
use crate::store::{Actor, Store, Tenant};

/// A tenant: every other row belongs to exactly one organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// Organization id, the `org` claim of its tokens.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl From<row::Model> for Organization {
    fn from(m: row::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            created_at: m.created_at,
        }
    }
}

impl Store {
    /// Creates an organization with the four default journey stages, in one transaction.
    pub async fn create_organization(
        &self,
        actor: &Actor,
        name: &str,
    ) -> StoreResult<Organization> {
        let txn = self.begin_write().await?;
        let now = Utc::now();
        let org = row::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(name.to_owned()),
            created_at: Set(now),
        };
        let org = row::Entity::insert(org).exec_with_returning(&txn).await?;
        let stages = DEFAULT_JOURNEY_STAGES
            .iter()
            .zip(1..)
            .map(|((key, name), position)| journey_stages::ActiveModel {
                org_id: Set(org.id),
                id: Set(Uuid::now_v7()),
                key: Set((*key).to_owned()),
                name: Set((*name).to_owned()),
                position: Set(position),
                created_at: Set(now),
                updated_at: Set(now),
            });
        journey_stages::Entity::insert_many(stages)
            .exec(&txn)
            .await?;
        audit::record(
            &txn,
            org.id,
            actor,
            Change {
                operation: "createOrganization",
                entity_type: "Organization",
                entity_id: org.id.to_string(),
                before: None,
                after: Some(json!({ "id": org.id, "name": org.name })),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(org.into())
    }

    /// Finds an organization by id.
    pub async fn organization(&self, id: Uuid) -> StoreResult<Option<Organization>> {
        Ok(row::Entity::find_by_id(id)
            .one(self.db())
            .await?
            .map(Into::into))
    }

    /// The oldest organization with this name, if any.
    pub async fn organization_named(&self, name: &str) -> StoreResult<Option<Organization>> {
        Ok(row::Entity::find()
            .filter(row::Column::Name.eq(name))
            .order_by_asc(row::Column::CreatedAt)
            .one(self.db())
            .await?
            .map(Into::into))
    }

    /// Whether the database answers and every migration is applied; used by readiness.
    pub async fn ready(&self) -> StoreResult<bool> {
        self.ping().await?;
        self.is_migrated().await
    }
}

impl Tenant {
    /// The tenant's own organization.
    pub async fn organization(&self) -> StoreResult<Option<Organization>> {
        self.store.organization(self.org_id).await
    }
}
