//! The caller's own organization and identity.

use async_graphql::{Context, ID, Object};
use tandem_domain::access::Permission;
use tandem_persistence::Organization;

use crate::error::{ApiError, ApiResult};
use crate::graphql::relay::global_id;
use crate::graphql::scalars::DateTime;
use crate::graphql::{authorized, session};

/// A tenant: a company using Tandem. Nothing crosses organizations.
#[derive(Clone)]
pub struct OrganizationObject(pub Organization);

/// A tenant: a company using Tandem. Nothing crosses organizations.
#[Object(name = "Organization")]
impl OrganizationObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id("Organization", self.0.id)
    }

    /// The organization id as it appears in tokens' `org` claim.
    async fn org_id(&self) -> String {
        self.0.id.to_string()
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// When the organization was created.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
}

/// Who is calling, as the server understood the token.
pub struct Viewer {
    subject: String,
    roles: Vec<String>,
}

/// Who is calling, as the server understood the token.
#[Object]
impl Viewer {
    /// The token's subject.
    async fn subject(&self) -> &str {
        &self.subject
    }

    /// The access roles recognised in the token, lower case.
    async fn roles(&self) -> &[String] {
        &self.roles
    }
}

/// Queries about the caller and their organization.
#[derive(Default)]
pub struct OrganizationQuery;

#[Object]
impl OrganizationQuery {
    /// The caller: subject and recognised access roles.
    async fn viewer(&self, ctx: &Context<'_>) -> ApiResult<Viewer> {
        let s = session(ctx)?;
        Ok(Viewer {
            subject: s.caller.subject.clone(),
            roles: s.caller.roles.iter().map(|r| r.claim()).collect(),
        })
    }

    /// The caller's organization.
    async fn organization(&self, ctx: &Context<'_>) -> ApiResult<OrganizationObject> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let org = s
            .tenant
            .organization()
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound("your organization does not exist".to_owned()))?;
        Ok(OrganizationObject(org))
    }
}
