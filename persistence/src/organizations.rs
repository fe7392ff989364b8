//! Organizations (tenants): created by operators, each seeded with the default journey stages.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use serde_json::json;
use tandem_domain::segments::DEFAULT_JOURNEY_STAGES;
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::entities::{journey_stages, organizations as row, people};
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

/// Where a token's organization and subject stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStanding {
    /// The organization exists, and the subject is an active person or not on the roster
    /// (a service account).
    Active,
    /// The organization exists, but the subject is a deactivated person.
    DeactivatedPerson,
    /// No such organization (never created, or deleted).
    UnknownOrganization,
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

    /// Where a token's organization and subject stand, in one statement: checked on every
    /// request, so a deleted organization or a deactivated person stops being served at once.
    pub async fn token_standing(&self, org_id: Uuid, subject: &str) -> StoreResult<TokenStanding> {
        let (o, p) = (Alias::new("o"), Alias::new("p"));
        let q = Query::select()
            .column((o.clone(), row::Column::Id))
            .column((p.clone(), people::Column::Active))
            .from_as(row::Entity, o.clone())
            .join_as(
                JoinType::LeftJoin,
                people::Entity,
                p.clone(),
                Expr::col((p.clone(), people::Column::OrgId))
                    .equals((o.clone(), row::Column::Id))
                    .and(Expr::col((p.clone(), people::Column::Subject)).eq(subject)),
            )
            .and_where(Expr::col((o, row::Column::Id)).eq(org_id))
            .to_owned();
        let Some(found) = self.db().query_one(&q).await? else {
            return Ok(TokenStanding::UnknownOrganization);
        };
        let active: Option<bool> = found.try_get_by_index(1)?;
        Ok(match active {
            Some(false) => TokenStanding::DeactivatedPerson,
            Some(true) | None => TokenStanding::Active,
        })
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
