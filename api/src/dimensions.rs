//! Segments and journey stages over GraphQL.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use tandem_domain::access::Permission;
use tandem_domain::metrics::parse_text;
use tandem_domain::segments::{DimensionKey, parse_display_name};
use tandem_persistence::{
    Actor, JourneyStage, NewSegment, NewStage, Segment, SegmentPatch, StagePatch,
};

use crate::error::{ApiError, ApiResult};
use crate::graphql::relay::{PageArgs, connection, expect_global_id, global_id};
use crate::graphql::scalars::DateTime;
use crate::graphql::{authorized, limits};

/// A customer segment, such as Enterprise, Mid-market or SMB.
#[derive(Clone)]
pub struct SegmentObject(pub Segment);

/// A customer segment, such as Enterprise, Mid-market or SMB.
#[Object(name = "Segment")]
impl SegmentObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id("Segment", self.0.id)
    }

    /// Key used by pipelines (`enterprise`).
    async fn key(&self) -> &str {
        &self.0.key
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What belongs in the segment.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// When it last changed.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }
}

/// A stage of the customer journey, such as Acquisition or Retention.
#[derive(Clone)]
pub struct JourneyStageObject(pub JourneyStage);

/// A stage of the customer journey, such as Acquisition or Retention.
#[Object(name = "JourneyStage")]
impl JourneyStageObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id("JourneyStage", self.0.id)
    }

    /// Key used by pipelines (`adoption`).
    async fn key(&self) -> &str {
        &self.0.key
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Order in the journey, from 1.
    async fn position(&self) -> i32 {
        self.0.position
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// When it last changed.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }
}

connection!(
    SegmentConnection,
    SegmentEdge,
    SegmentObject,
    "A page of segments.",
    "A segment with its cursor."
);
connection!(
    JourneyStageConnection,
    JourneyStageEdge,
    JourneyStageObject,
    "A page of journey stages.",
    "A journey stage with its cursor."
);

/// Segment and stage queries.
#[derive(Default)]
pub struct DimensionQuery;

#[Object]
impl DimensionQuery {
    /// Customer segments, ordered by key.
    async fn segments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<SegmentConnection> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, last, before)
            .page(lim.max_page_size, lim.default_page_size)?;
        let slice = s.tenant.segments(page).await.map_err(ApiError::from)?;
        Ok(SegmentConnection::from_slice(slice, SegmentObject))
    }

    /// Journey stages, in journey order.
    async fn journey_stages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<JourneyStageConnection> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let lim = limits(ctx);
        let page = PageArgs::new(first, after, last, before)
            .page(lim.max_page_size, lim.default_page_size)?;
        let slice = s
            .tenant
            .journey_stages(page)
            .await
            .map_err(ApiError::from)?;
        Ok(JourneyStageConnection::from_slice(
            slice,
            JourneyStageObject,
        ))
    }
}

/// A new segment.
#[derive(InputObject)]
pub struct CreateSegmentInput {
    /// Unique key: lower-case letters, digits, `_` or `-`, starting with a letter.
    pub key: String,
    /// Display name.
    pub name: String,
    /// What belongs in the segment.
    pub description: Option<String>,
}

/// Changes to a segment; omitted fields stay, `null` clears the description.
#[derive(InputObject)]
pub struct UpdateSegmentInput {
    /// The segment.
    pub id: ID,
    /// New display name.
    pub name: Option<String>,
    /// New description; null clears it.
    pub description: MaybeUndefined<String>,
}

/// A new journey stage.
#[derive(InputObject)]
pub struct CreateJourneyStageInput {
    /// Unique key.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Position in the journey; after the last stage when omitted.
    pub position: Option<i32>,
}

/// Changes to a journey stage.
#[derive(InputObject)]
pub struct UpdateJourneyStageInput {
    /// The stage.
    pub id: ID,
    /// New display name.
    pub name: Option<String>,
    /// New position.
    pub position: Option<i32>,
}

/// The segment after a change.
#[derive(SimpleObject)]
pub struct SegmentPayload {
    /// The segment as it now stands.
    pub segment: SegmentObject,
}

/// The journey stage after a change.
#[derive(SimpleObject)]
pub struct JourneyStagePayload {
    /// The stage as it now stands.
    pub journey_stage: JourneyStageObject,
}

fn key(raw: &str) -> Result<DimensionKey, ApiError> {
    DimensionKey::parse(raw).map_err(|e| ApiError::bad_input("input.key", e.message))
}

fn name(raw: &str) -> Result<String, ApiError> {
    parse_display_name(raw).map_err(|e| ApiError::bad_input("input.name", e.message))
}

fn description(raw: &str) -> Result<Option<String>, ApiError> {
    let text = parse_text(raw, 2_000, false)
        .map_err(|e| ApiError::bad_input("input.description", e.message))?;
    Ok(Some(text).filter(|t| !t.is_empty()))
}

fn position(value: Option<i32>) -> Result<Option<i32>, ApiError> {
    match value {
        Some(p) if p < 1 => Err(ApiError::bad_input("input.position", "must be 1 or more")),
        other => Ok(other),
    }
}

/// Segment and stage changes (admin, revops).
#[derive(Default)]
pub struct DimensionMutation;

#[Object]
impl DimensionMutation {
    /// Creates a customer segment.
    async fn create_segment(
        &self,
        ctx: &Context<'_>,
        input: CreateSegmentInput,
    ) -> ApiResult<SegmentPayload> {
        let s = authorized(ctx, Permission::ManageDimensions)?;
        let new = NewSegment {
            key: key(&input.key)?,
            name: name(&input.name)?,
            description: input
                .description
                .as_deref()
                .map(description)
                .transpose()?
                .flatten(),
        };
        let segment = s
            .tenant
            .create_segment(&Actor(s.caller.subject.clone()), new)
            .await
            .map_err(ApiError::from)?;
        Ok(SegmentPayload {
            segment: SegmentObject(segment),
        })
    }

    /// Renames a segment or changes its description.
    async fn update_segment(
        &self,
        ctx: &Context<'_>,
        input: UpdateSegmentInput,
    ) -> ApiResult<SegmentPayload> {
        let s = authorized(ctx, Permission::ManageDimensions)?;
        let id = expect_global_id(&input.id, "Segment", "input.id")?;
        let patch = SegmentPatch {
            name: input.name.as_deref().map(name).transpose()?,
            description: match &input.description {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(v) => Some(description(v)?),
            },
        };
        let segment = s
            .tenant
            .update_segment(&Actor(s.caller.subject.clone()), id, patch)
            .await
            .map_err(ApiError::from)?;
        Ok(SegmentPayload {
            segment: SegmentObject(segment),
        })
    }

    /// Adds a journey stage.
    async fn create_journey_stage(
        &self,
        ctx: &Context<'_>,
        input: CreateJourneyStageInput,
    ) -> ApiResult<JourneyStagePayload> {
        let s = authorized(ctx, Permission::ManageDimensions)?;
        let new = NewStage {
            key: key(&input.key)?,
            name: name(&input.name)?,
            position: position(input.position)?,
        };
        let stage = s
            .tenant
            .create_journey_stage(&Actor(s.caller.subject.clone()), new)
            .await
            .map_err(ApiError::from)?;
        Ok(JourneyStagePayload {
            journey_stage: JourneyStageObject(stage),
        })
    }

    /// Renames or moves a journey stage.
    async fn update_journey_stage(
        &self,
        ctx: &Context<'_>,
        input: UpdateJourneyStageInput,
    ) -> ApiResult<JourneyStagePayload> {
        let s = authorized(ctx, Permission::ManageDimensions)?;
        let id = expect_global_id(&input.id, "JourneyStage", "input.id")?;
        let patch = StagePatch {
            name: input.name.as_deref().map(name).transpose()?,
            position: position(input.position)?,
        };
        let stage = s
            .tenant
            .update_journey_stage(&Actor(s.caller.subject.clone()), id, patch)
            .await
            .map_err(ApiError::from)?;
        Ok(JourneyStagePayload {
            journey_stage: JourneyStageObject(stage),
        })
    }
}
