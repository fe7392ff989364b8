//! Revenue and retention over GraphQL: customer accounts, MRR movements, net and gross revenue
//! retention with their parts, and ARR exposure by risk, segment and renewal window.

use std::collections::BTreeMap;

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{NaiveDate, Utc};
use tandem_domain::access::Permission;
use tandem_domain::metrics::parse_text;
use tandem_domain::people::ExternalId;
use tandem_domain::periods::{DateRange, Period};
use tandem_domain::revenue::{self as rules, Exposed, Flow, Retention};
use tandem_domain::segments::DimensionKey;
use tandem_persistence::{
    Account, AccountFilter, Actor, MovementFilter, NewAccount, NewMovement, Page, RevenueMovement,
    SegmentRetention, Tenant,
};
use uuid::Uuid;

use crate::dimensions::SegmentObject;
use crate::error::{ApiError, ApiResult};
use crate::graphql::enums::{Granularity, MovementKind, Risk};
use crate::graphql::relay::{PageArgs, SyncArgs, connection, expect_global_id, global_id};
use crate::graphql::scalars::{Date, DateTime, Decimal};
use crate::graphql::{Session, authorized, limits, selects, session};
use crate::observations::resolve_segment;
use tandem_persistence::Problem;

/// Most periods one retention query may return per segment.
const MAX_RETENTION_PERIODS: usize = 120;
/// Most renewal windows one exposure query may ask for.
const MAX_WINDOWS: usize = 12;

/// A customer account.
#[derive(Clone)]
pub struct AccountObject(pub Account);

/// A customer account: who pays, how much, when they renew, and how healthy they are.
#[Object(name = "Account")]
impl AccountObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id("Account", self.0.id)
    }

    /// Id in the CRM or billing system.
    async fn external_id(&self) -> &str {
        &self.0.external_id
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The segment the account belongs to.
    async fn segment(&self, ctx: &Context<'_>) -> ApiResult<Option<SegmentObject>> {
        let Some(id) = self.0.segment_id else {
            return Ok(None);
        };
        Ok(session(ctx)?.loaders.segment(id).await?.map(SegmentObject))
    }

    /// When the customer started.
    async fn started_on(&self) -> Option<Date> {
        self.0.started_on.map(Into::into)
    }

    /// Next renewal date.
    async fn renews_on(&self) -> Option<Date> {
        self.0.renews_on.map(Into::into)
    }

    /// Annual recurring revenue, exact.
    async fn arr(&self) -> Decimal {
        self.0.arr.into()
    }

    /// Health score, 0-100.
    async fn health_score(&self) -> Option<Decimal> {
        self.0.health_score.map(Into::into)
    }

    /// Risk level.
    async fn risk(&self) -> Risk {
        self.0.risk.into()
    }

    /// When the account was first written.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// When the account last changed.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }
}

/// A recorded MRR movement.
#[derive(Clone)]
pub struct RevenueMovementObject(pub RevenueMovement);

/// One change of an account's monthly recurring revenue.
#[Object(name = "RevenueMovement")]
impl RevenueMovementObject {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        global_id("RevenueMovement", self.0.id)
    }

    /// Event id in the billing system.
    async fn external_id(&self) -> &str {
        &self.0.external_id
    }

    /// The account.
    async fn account(&self, ctx: &Context<'_>) -> ApiResult<AccountObject> {
        let s = session(ctx)?;
        s.loaders
            .accounts
            .load_one(self.0.account_id)
            .await
            .map_err(crate::graphql::loaders::loader_error)?
            .map(AccountObject)
            .ok_or_else(|| {
                ApiError::Internal(format!("movement {} has no account", self.0.id)).into()
            })
    }

    /// When it took effect.
    async fn effective_on(&self) -> Date {
        self.0.effective_on.into()
    }

    /// What it did.
    async fn kind(&self) -> MovementKind {
        self.0.kind.into()
    }

    /// How much MRR moved (positive; the kind gives the direction).
    async fn amount(&self) -> Decimal {
        self.0.amount.into()
    }

    /// Token subject that last wrote it.
    async fn recorded_by(&self) -> &str {
        &self.0.recorded_by
    }

    /// When it was first recorded.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// When it last changed.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }
}

connection!(
    AccountConnection,
    AccountEdge,
    AccountObject,
    "A page of accounts.",
    "An account in a page."
);
connection!(
    RevenueMovementConnection,
    RevenueMovementEdge,
    RevenueMovementObject,
    "A page of MRR movements.",
    "An MRR movement in a page."
);

/// Which accounts to list.
#[derive(InputObject, Default)]
pub struct AccountFilterInput {
    /// Only this segment.
    pub segment_key: Option<String>,
    /// Only this risk level.
    pub risk: Option<Risk>,
    /// Only accounts renewing on or after this day.
    pub renews_from: Option<Date>,
    /// Only accounts renewing on or before this day.
    pub renews_to: Option<Date>,
}

/// Which MRR movements to list.
#[derive(InputObject, Default)]
pub struct RevenueMovementFilterInput {
    /// Only this account (global id).
    pub account_id: Option<ID>,
    /// Only this kind.
    pub kind: Option<MovementKind>,
    /// Only movements on or after this day.
    pub from: Option<Date>,
    /// Only movements on or before this day.
    pub to: Option<Date>,
}

/// What retention to compute.
#[derive(InputObject)]
pub struct RevenueRetentionInput {
    /// First day of the range.
    pub from: Date,
    /// Last day of the range.
    pub to: Date,
    /// Split the range into periods of this length (widened to whole periods); without it
    /// the range is one period.
    pub granularity: Option<Granularity>,
    /// Also one figure per segment, beside the all-accounts figure.
    #[graphql(default)]
    pub by_segment: bool,
    /// Only accounts of this segment.
    pub segment_key: Option<String>,
}

/// Net and gross revenue retention for one period, with the parts it is computed from.
#[derive(SimpleObject)]
pub struct RetentionFigure {
    /// First day of the period.
    pub period_start: Date,
    /// Last day of the period (inclusive).
    pub period_end: Date,
    /// The segment; null for the figure over all accounts asked for.
    pub segment: Option<SegmentObject>,
    /// MRR at the period start of the accounts paying then.
    pub starting_mrr: Decimal,
    /// Their expansion during the period.
    pub expansion_mrr: Decimal,
    /// Their contraction during the period.
    pub contraction_mrr: Decimal,
    /// Their churn during the period.
    pub churned_mrr: Decimal,
    /// (starting + expansion - contraction - churn) / starting; null without starting MRR.
    pub nrr: Option<Decimal>,
    /// (starting - contraction - churn) / starting; null without starting MRR.
    pub grr: Option<Decimal>,
    /// Why the ratios are null, when they are.
    pub reason: Option<String>,
}

/// What ARR exposure to compute.
#[derive(InputObject, Default)]
pub struct ArrExposureInput {
    /// The day renewal windows count from; today (UTC) when omitted.
    pub as_of: Option<Date>,
    /// Renewal windows in days; 30, 60 and 90 when omitted. Windows are cumulative.
    pub windows_days: Option<Vec<i32>>,
    /// Only accounts of this segment.
    pub segment_key: Option<String>,
}

/// Accounts behind one exposure figure.
#[derive(Clone)]
struct Members {
    /// Ids ordered by ARR, largest first, then id.
    ids: Vec<Uuid>,
}

impl Members {
    fn of<'a>(accounts: impl Iterator<Item = &'a Exposed<Uuid, Uuid>>) -> Self {
        let mut rows: Vec<&Exposed<Uuid, Uuid>> = accounts.collect();
        rows.sort_by(|a, b| b.arr.cmp(&a.arr).then(a.account.cmp(&b.account)));
        Self {
            ids: rows.iter().map(|a| a.account).collect(),
        }
    }

    async fn page(&self, ctx: &Context<'_>, args: PageArgs) -> ApiResult<AccountConnection> {
        let s = session(ctx)?;
        let lim = limits(ctx);
        let page: Page = args.page(lim.max_page_size, lim.default_page_size)?;
        let slice = page.slice(self.ids.clone());
        let loaded = s
            .loaders
            .accounts
            .load_many(slice.items.iter().copied())
            .await
            .map_err(crate::graphql::loaders::loader_error)?;
        let slice = tandem_persistence::Slice {
            items: slice
                .items
                .iter()
                .filter_map(|id| loaded.get(id).cloned())
                .collect(),
            total: slice.total,
            offset: slice.offset,
        };
        Ok(AccountConnection::from_slice(slice, AccountObject))
    }
}

/// ARR of accounts at one risk level, split by segment and renewal window.
pub struct RiskExposure {
    risk: Risk,
    arr: rust_decimal::Decimal,
    members: Members,
    by_segment: Vec<SegmentExposure>,
    by_window: Vec<WindowExposure>,
}

/// ARR of accounts at one risk level, split by segment and renewal window.
#[Object]
impl RiskExposure {
    /// The risk level.
    async fn risk(&self) -> Risk {
        self.risk
    }

    /// Total ARR of the accounts at this risk level.
    async fn arr(&self) -> Decimal {
        self.arr.into()
    }

    /// How many accounts.
    async fn account_count(&self) -> i32 {
        i32::try_from(self.members.ids.len()).unwrap_or(i32::MAX)
    }

    /// The accounts, largest ARR first.
    async fn accounts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<AccountConnection> {
        self.members
            .page(ctx, PageArgs::new(first, after, last, before))
            .await
    }

    /// The same ARR split by segment (accounts without a segment have a null segment).
    async fn by_segment(&self) -> &[SegmentExposure] {
        &self.by_segment
    }

    /// ARR of the accounts renewing within each window.
    async fn by_renewal_window(&self) -> &[WindowExposure] {
        &self.by_window
    }
}

/// ARR of one segment's accounts at a risk level.
pub struct SegmentExposure {
    segment: Option<Uuid>,
    arr: rust_decimal::Decimal,
    members: Members,
}

/// ARR of one segment's accounts at a risk level.
#[Object]
impl SegmentExposure {
    /// The segment; null for accounts without one.
    async fn segment(&self, ctx: &Context<'_>) -> ApiResult<Option<SegmentObject>> {
        let Some(id) = self.segment else {
            return Ok(None);
        };
        Ok(session(ctx)?.loaders.segment(id).await?.map(SegmentObject))
    }

    /// Their total ARR.
    async fn arr(&self) -> Decimal {
        self.arr.into()
    }

    /// How many accounts.
    async fn account_count(&self) -> i32 {
        i32::try_from(self.members.ids.len()).unwrap_or(i32::MAX)
    }

    /// The accounts, largest ARR first.
    async fn accounts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<AccountConnection> {
        self.members
            .page(ctx, PageArgs::new(first, after, last, before))
            .await
    }
}

/// ARR of accounts at a risk level renewing within a window.
pub struct WindowExposure {
    days: u32,
    until: NaiveDate,
    arr: rust_decimal::Decimal,
    members: Members,
}

/// ARR of accounts at a risk level renewing within a window.
#[Object]
impl WindowExposure {
    /// Length of the window in days, counted from `asOf` (both ends included).
    async fn days(&self) -> i32 {
        i32::try_from(self.days).unwrap_or(i32::MAX)
    }

    /// Last day of the window.
    async fn until(&self) -> Date {
        self.until.into()
    }

    /// Their total ARR.
    async fn arr(&self) -> Decimal {
        self.arr.into()
    }

    /// How many accounts.
    async fn account_count(&self) -> i32 {
        i32::try_from(self.members.ids.len()).unwrap_or(i32::MAX)
    }

    /// The accounts, largest ARR first.
    async fn accounts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<AccountConnection> {
        self.members
            .page(ctx, PageArgs::new(first, after, last, before))
            .await
    }
}

/// ARR by risk level, segment and renewal window.
#[derive(SimpleObject)]
pub struct ArrExposure {
    /// The day renewal windows count from.
    pub as_of: Date,
    /// ARR of every account counted.
    pub total_arr: Decimal,
    /// One entry per risk level (GREEN, AMBER, RED), including levels without accounts.
    pub by_risk: Vec<RiskExposure>,
}

/// Revenue queries.
#[derive(Default)]
pub struct RevenueQuery;

#[Object]
impl RevenueQuery {
    /// Customer accounts, by name. With `updatedSince` (or a cursor from such a page), every
    /// account in change order (change time, then id) for incremental sync; `filter` does not
    /// apply then. Keep `pageInfo.endCursor` and pass it as `after` next time.
    #[allow(clippy::too_many_arguments)]
    async fn accounts(
        &self,
        ctx: &Context<'_>,
        filter: Option<AccountFilterInput>,
        updated_since: Option<DateTime>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<AccountConnection> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let lim = limits(ctx);
        let sync = SyncArgs {
            updated_since: updated_since.map(|d| d.0),
            first,
            after: after.clone(),
            last,
            before: before.clone(),
        }
        .window(&lim, false)?;
        if let Some(window) = sync {
            let changed = s
                .tenant
                .accounts_changed(&window)
                .await
                .map_err(ApiError::from)?;
            if selects(ctx, &["segment"]) {
                s.loaders
                    .prime_segments(changed.items.iter().filter_map(|(_, a)| a.segment_id))
                    .await?;
            }
            return Ok(AccountConnection::from_sync(
                changed,
                &window,
                AccountObject,
            ));
        }
        let page = PageArgs::new(first, after, last, before)
            .page(lim.max_page_size, lim.default_page_size)?;
        let f = filter.unwrap_or_default();
        let mut filter = AccountFilter {
            risk: f.risk.map(Into::into),
            renews_from: f
                .renews_from
                .map(|d| d.at("filter.renewsFrom"))
                .transpose()?,
            renews_to: f.renews_to.map(|d| d.at("filter.renewsTo")).transpose()?,
            ..AccountFilter::default()
        };
        if let Some(key) = &f.segment_key {
            filter.segment_id = Some(resolve_segment(&s.tenant, key, "filter.segmentKey").await?);
        }
        let slice = s
            .tenant
            .accounts(&filter, page)
            .await
            .map_err(ApiError::from)?;
        if selects(ctx, &["segment"]) {
            s.loaders
                .prime_segments(slice.items.iter().filter_map(|a| a.segment_id))
                .await?;
        }
        Ok(AccountConnection::from_slice(slice, AccountObject))
    }

    /// MRR movements, by effective date. With `updatedSince` (or a cursor from such a page),
    /// every movement in change order (change time, then id) for incremental sync; `filter`
    /// does not apply then.
    #[allow(clippy::too_many_arguments)]
    async fn revenue_movements(
        &self,
        ctx: &Context<'_>,
        filter: Option<RevenueMovementFilterInput>,
        updated_since: Option<DateTime>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<RevenueMovementConnection> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let lim = limits(ctx);
        let sync = SyncArgs {
            updated_since: updated_since.map(|d| d.0),
            first,
            after: after.clone(),
            last,
            before: before.clone(),
        }
        .window(&lim, false)?;
        if let Some(window) = sync {
            let changed = s
                .tenant
                .revenue_movements_changed(&window)
                .await
                .map_err(ApiError::from)?;
            if selects(ctx, &["account"]) {
                s.loaders
                    .accounts
                    .load_many(changed.items.iter().map(|(_, m)| m.account_id))
                    .await
                    .map_err(crate::graphql::loaders::loader_error)?;
            }
            return Ok(RevenueMovementConnection::from_sync(
                changed,
                &window,
                RevenueMovementObject,
            ));
        }
        let page = PageArgs::new(first, after, last, before)
            .page(lim.max_page_size, lim.default_page_size)?;
        let f = filter.unwrap_or_default();
        let filter = MovementFilter {
            account_id: f
                .account_id
                .map(|id| expect_global_id(&id, "Account", "filter.accountId"))
                .transpose()?,
            kind: f.kind.map(Into::into),
            from: f.from.map(|d| d.at("filter.from")).transpose()?,
            to: f.to.map(|d| d.at("filter.to")).transpose()?,
        };
        let slice = s
            .tenant
            .revenue_movements(&filter, page)
            .await
            .map_err(ApiError::from)?;
        if selects(ctx, &["account"]) {
            s.loaders
                .accounts
                .load_many(slice.items.iter().map(|m| m.account_id))
                .await
                .map_err(crate::graphql::loaders::loader_error)?;
        }
        Ok(RevenueMovementConnection::from_slice(
            slice,
            RevenueMovementObject,
        ))
    }

    /// Net and gross revenue retention computed from MRR movements, for the accounts paying at
    /// each period's start; the four parts come with each figure so it can be checked. A
    /// period without starting MRR has null ratios and a reason.
    async fn revenue_retention(
        &self,
        ctx: &Context<'_>,
        input: RevenueRetentionInput,
    ) -> ApiResult<Vec<RetentionFigure>> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let from = input.from.at("input.from")?;
        let to = input.to.at("input.to")?;
        let range =
            DateRange::new(from, to).map_err(|e| ApiError::bad_input("input.to", e.message))?;
        let periods: Vec<(NaiveDate, NaiveDate)> = match input.granularity {
            None => vec![(range.from(), range.to())],
            Some(g) => range
                .periods(g.into(), MAX_RETENTION_PERIODS)
                .ok_or_else(|| {
                    ApiError::bad_input(
                        "input.granularity",
                        format!("at most {MAX_RETENTION_PERIODS} periods; use a coarser granularity or a shorter range"),
                    )
                })?
                .into_iter()
                .map(|p: Period| (p.start(), p.end()))
                .collect(),
        };
        let only_segment = match &input.segment_key {
            Some(key) => Some(resolve_segment(&s.tenant, key, "input.segmentKey").await?),
            None => None,
        };
        let groups = match s
            .tenant
            .ledger_retention(&periods)
            .await
            .map_err(ApiError::from)?
        {
            Some(parts) => retention_groups(&parts, periods.len(), only_segment, input.by_segment),
            None => {
                retention_from_movements(&s.tenant, &periods, only_segment, input.by_segment)
                    .await?
            }
        };
        s.loaders
            .prime_segments(groups.iter().filter_map(|g| g.0))
            .await?;
        let mut out = Vec::new();
        for (i, (start, end)) in periods.iter().enumerate() {
            for (seg, series) in &groups {
                let Some(r) = series.get(i) else { continue };
                let segment = match seg {
                    Some(id) if input.by_segment || only_segment.is_some() => {
                        s.loaders.segment(*id).await?.map(SegmentObject)
                    }
                    _ => None,
                };
                out.push(RetentionFigure {
                    period_start: (*start).into(),
                    period_end: (*end).into(),
                    segment,
                    starting_mrr: r.starting.into(),
                    expansion_mrr: r.expansion.into(),
                    contraction_mrr: r.contraction.into(),
                    churned_mrr: r.churn.into(),
                    nrr: r.nrr.map(Into::into),
                    grr: r.grr.map(Into::into),
                    reason: r.reason.clone(),
                });
            }
        }
        Ok(out)
    }

    /// ARR by risk level, by segment and by renewal window, with the accounts behind each
    /// figure ("ARR in red-risk accounts renewing in the next 90 days").
    async fn arr_exposure(
        &self,
        ctx: &Context<'_>,
        input: Option<ArrExposureInput>,
    ) -> ApiResult<ArrExposure> {
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let input = input.unwrap_or_default();
        let as_of = match &input.as_of {
            Some(d) => d.at("input.asOf")?,
            None => Utc::now().date_naive(),
        };
        let windows = parse_windows(input.windows_days)?;
        let only_segment = match &input.segment_key {
            Some(key) => Some(resolve_segment(&s.tenant, key, "input.segmentKey").await?),
            None => None,
        };
        let accounts: Vec<Exposed<Uuid, Uuid>> = s
            .tenant
            .exposure_accounts()
            .await
            .map_err(ApiError::from)?
            .into_iter()
            .filter(|a| only_segment.is_none() || a.segment == only_segment)
            .collect();
        let exposure = rules::exposure(&accounts, as_of, &windows);
        let total: rust_decimal::Decimal = exposure.by_risk.values().copied().sum();
        let mut by_risk = Vec::new();
        for risk in tandem_domain::revenue::Risk::ALL.iter().copied() {
            let at_risk = || accounts.iter().filter(move |a| a.risk == risk);
            let by_segment = exposure
                .by_segment
                .iter()
                .filter(|((r, _), _)| *r == risk)
                .map(|((_, seg), arr)| SegmentExposure {
                    segment: *seg,
                    arr: *arr,
                    members: Members::of(at_risk().filter(|a| a.segment == *seg)),
                })
                .collect();
            let by_window = windows
                .iter()
                .map(|w| WindowExposure {
                    days: *w,
                    until: as_of
                        .checked_add_days(chrono::Days::new(u64::from(*w)))
                        .unwrap_or(as_of),
                    arr: exposure
                        .by_window
                        .get(&(risk, *w))
                        .copied()
                        .unwrap_or_default(),
                    members: Members::of(
                        at_risk().filter(|a| rules::renews_within(a.renewal, as_of, *w)),
                    ),
                })
                .collect();
            by_risk.push(RiskExposure {
                risk: risk.into(),
                arr: exposure.by_risk.get(&risk).copied().unwrap_or_default(),
                members: Members::of(at_risk()),
                by_segment,
                by_window,
            });
        }
        Ok(ArrExposure {
            as_of: as_of.into(),
            total_arr: total.into(),
            by_risk,
        })
    }
}

fn parse_windows(raw: Option<Vec<i32>>) -> Result<Vec<u32>, ApiError> {
    let raw = raw.unwrap_or_else(|| vec![30, 60, 90]);
    if raw.len() > MAX_WINDOWS {
        return Err(ApiError::bad_input(
            "input.windowsDays",
            format!("at most {MAX_WINDOWS} windows"),
        ));
    }
    let mut windows = Vec::with_capacity(raw.len());
    for (i, d) in raw.iter().enumerate() {
        match u32::try_from(*d) {
            Ok(days) if (1..=3660).contains(&days) => windows.push(days),
            _ => {
                return Err(ApiError::bad_input(
                    format!("input.windowsDays[{i}]"),
                    "must be between 1 and 3660 days",
                ));
            }
        }
    }
    windows.sort_unstable();
    windows.dedup();
    Ok(windows)
}

/// One account to create or update.
#[derive(InputObject)]
pub struct AccountInput {
    /// Id in the CRM or billing system; the natural key.
    pub external_id: String,
    /// Display name.
    pub name: String,
    /// Segment key.
    pub segment_key: Option<String>,
    /// When the customer started.
    pub started_on: Option<Date>,
    /// Next renewal date.
    pub renews_on: Option<Date>,
    /// Annual recurring revenue (zero or more).
    pub arr: Decimal,
    /// Health score, 0-100.
    pub health_score: Option<Decimal>,
    /// Risk level.
    pub risk: Risk,
}

/// Accounts to create or update.
#[derive(InputObject)]
pub struct UpsertAccountsInput {
    /// The accounts; at most the batch limit per call.
    pub accounts: Vec<AccountInput>,
    /// Report what would change without writing.
    #[graphql(default)]
    pub dry_run: bool,
}

/// One MRR movement to record.
#[derive(InputObject)]
pub struct RevenueMovementInput {
    /// Event id in the billing system; the natural key.
    pub external_id: String,
    /// The account's external id.
    pub account_external_id: String,
    /// When it took effect.
    pub effective_on: Date,
    /// What it did.
    pub kind: MovementKind,
    /// How much MRR moved (above zero; the kind gives the direction).
    pub amount: Decimal,
}

/// MRR movements to record.
#[derive(InputObject)]
pub struct RecordRevenueMovementsInput {
    /// The movements; at most the batch limit per call.
    pub movements: Vec<RevenueMovementInput>,
    /// Report what would change without writing.
    #[graphql(default)]
    pub dry_run: bool,
}

/// What a bulk write did, or would do in a dry run.
#[derive(SimpleObject)]
pub struct BulkWritePayload {
    /// Rows whose natural key was new.
    pub created: i32,
    /// Rows that changed an existing row.
    pub updated: i32,
    /// Rows already stored exactly so.
    pub unchanged: i32,
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
}

impl BulkWritePayload {
    fn from(outcome: tandem_persistence::RecordOutcome, dry_run: bool) -> Self {
        let count = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
        Self {
            created: count(outcome.created),
            updated: count(outcome.updated),
            unchanged: count(outcome.unchanged),
            dry_run,
        }
    }
}

fn check_batch(ctx: &Context<'_>, len: usize, field: &str) -> Result<(), ApiError> {
    let max = limits(ctx).max_batch_size;
    if len > max {
        return Err(ApiError::bad_input(
            field,
            format!("at most {max} rows per call, got {len}"),
        ));
    }
    Ok(())
}

fn parse_accounts(rows: Vec<AccountInput>) -> Result<Vec<NewAccount>, ApiError> {
    let mut problems = Vec::new();
    let mut parsed = Vec::with_capacity(rows.len());
    for (i, row) in rows.into_iter().enumerate() {
        let at = |field: &str, message: String| {
            Problem::new(format!("input.accounts[{i}].{field}"), message)
        };
        let external_id =
            ExternalId::parse(&row.external_id).map_err(|e| at("externalId", e.message));
        let name = parse_text(&row.name, 200, true).map_err(|e| at("name", e.message));
        let segment = row
            .segment_key
            .map(|k| DimensionKey::parse(&k).map_err(|e| at("segmentKey", e.message)))
            .transpose();
        let started_on = row
            .started_on
            .map(|d| d.checked())
            .transpose()
            .map_err(|m| at("startedOn", m));
        let renews_on = row
            .renews_on
            .map(|d| d.checked())
            .transpose()
            .map_err(|m| at("renewsOn", m));
        let arr = row.arr.checked().map_err(|m| at("arr", m));
        let health = row
            .health_score
            .map(|d| d.checked())
            .transpose()
            .map_err(|m| at("healthScore", m));
        match (
            external_id,
            name,
            segment,
            started_on,
            renews_on,
            arr,
            health,
        ) {
            (
                Ok(external_id),
                Ok(name),
                Ok(segment),
                Ok(started_on),
                Ok(renews_on),
                Ok(arr),
                Ok(health_score),
            ) => {
                parsed.push(NewAccount {
                    external_id,
                    name,
                    segment,
                    started_on,
                    renews_on,
                    arr,
                    health_score,
                    risk: row.risk.into(),
                });
            }
            (a, b, c, d, e, f, g) => {
                problems.extend(a.err());
                problems.extend(b.err());
                problems.extend(c.err());
                problems.extend(d.err());
                problems.extend(e.err());
                problems.extend(f.err());
                problems.extend(g.err());
            }
        }
        if problems.len() >= 100 {
            break;
        }
    }
    if problems.is_empty() {
        Ok(parsed)
    } else {
        Err(ApiError::BadUserInput(problems))
    }
}

fn parse_movements(rows: Vec<RevenueMovementInput>) -> Result<Vec<NewMovement>, ApiError> {
    let mut problems = Vec::new();
    let mut parsed = Vec::with_capacity(rows.len());
    for (i, row) in rows.into_iter().enumerate() {
        let at = |field: &str, message: String| {
            Problem::new(format!("input.movements[{i}].{field}"), message)
        };
        let external_id =
            ExternalId::parse(&row.external_id).map_err(|e| at("externalId", e.message));
        let account = ExternalId::parse(&row.account_external_id)
            .map_err(|e| at("accountExternalId", e.message));
        let effective_on = row.effective_on.checked().map_err(|m| at("effectiveOn", m));
        let amount = row.amount.checked().map_err(|m| at("amount", m));
        match (external_id, account, effective_on, amount) {
            (Ok(external_id), Ok(account), Ok(effective_on), Ok(amount)) => {
                parsed.push(NewMovement {
                    external_id,
                    account,
                    effective_on,
                    kind: row.kind.into(),
                    amount,
                })
            }
            (a, b, c, d) => {
                problems.extend(a.err());
                problems.extend(b.err());
                problems.extend(c.err());
                problems.extend(d.err());
            }
        }
        if problems.len() >= 100 {
            break;
        }
    }
    if problems.is_empty() {
        Ok(parsed)
    } else {
        Err(ApiError::BadUserInput(problems))
    }
}

/// Writing accounts (admin, revops) and MRR movements (admin, finance).
#[derive(Default)]
pub struct RevenueMutation;

#[Object]
impl RevenueMutation {
    /// Creates or updates accounts in one transaction: all or nothing, idempotent on
    /// `externalId`. Any bad row refuses the whole batch, with every problem listed.
    async fn upsert_accounts(
        &self,
        ctx: &Context<'_>,
        input: UpsertAccountsInput,
    ) -> ApiResult<BulkWritePayload> {
        let s: &Session = authorized(ctx, Permission::ManageAccounts)?;
        check_batch(ctx, input.accounts.len(), "input.accounts")?;
        let rows = parse_accounts(input.accounts)?;
        let outcome = s
            .tenant
            .upsert_accounts(&Actor(s.caller.subject.clone()), &rows, input.dry_run)
            .await
            .map_err(ApiError::from)?;
        Ok(BulkWritePayload::from(outcome, input.dry_run))
    }

    /// Records MRR movements in one transaction: all or nothing, idempotent on `externalId`
    /// (the billing system's event id); re-sending an event with new figures corrects it.
    async fn record_revenue_movements(
        &self,
        ctx: &Context<'_>,
        input: RecordRevenueMovementsInput,
    ) -> ApiResult<BulkWritePayload> {
        let s: &Session = authorized(ctx, Permission::RecordRevenue)?;
        check_batch(ctx, input.movements.len(), "input.movements")?;
        let rows = parse_movements(input.movements)?;
        let outcome = s
            .tenant
            .record_movements(&Actor(s.caller.subject.clone()), &rows, input.dry_run)
            .await
            .map_err(ApiError::from)?;
        Ok(BulkWritePayload::from(outcome, input.dry_run))
    }
}

/// Retention figures per period, overall (or for `only_segment`) and, when asked, per
/// segment, from ledger sums per period and segment. Sums add up across segments because each
/// account counts by its own MRR at the period start.
fn retention_groups(
    parts: &[SegmentRetention],
    periods: usize,
    only_segment: Option<Uuid>,
    by_segment: bool,
) -> Vec<(Option<Uuid>, Vec<Retention>)> {
    type Sums = [rust_decimal::Decimal; 4];
    let add = |into: &mut Vec<Sums>, p: &SegmentRetention| {
        if let Some(sums) = into.get_mut(p.period) {
            sums[0] += p.starting;
            sums[1] += p.expansion;
            sums[2] += p.contraction;
            sums[3] += p.churn;
        }
    };
    let mut overall: Vec<Sums> = vec![Sums::default(); periods];
    let mut segments: BTreeMap<Uuid, Vec<Sums>> = BTreeMap::new();
    for p in parts {
        if only_segment.is_some() && p.segment != only_segment {
            continue;
        }
        add(&mut overall, p);
        if let (Some(seg), true, None) = (p.segment, by_segment, only_segment) {
            add(
                segments
                    .entry(seg)
                    .or_insert_with(|| vec![Sums::default(); periods]),
                p,
            );
        }
    }
    let figures = |sums: Vec<Sums>| {
        sums.into_iter()
            .map(|[starting, expansion, contraction, churn]| {
                Retention::from_parts(starting, expansion, contraction, churn)
            })
            .collect()
    };
    let mut groups = vec![(only_segment, figures(overall))];
    groups.extend(
        segments
            .into_iter()
            .map(|(seg, sums)| (Some(seg), figures(sums))),
    );
    groups
}

/// Retention figures from the movements themselves, for periods that are not whole months.
async fn retention_from_movements(
    tenant: &Tenant,
    periods: &[(NaiveDate, NaiveDate)],
    only_segment: Option<Uuid>,
    by_segment: bool,
) -> ApiResult<Vec<(Option<Uuid>, Vec<Retention>)>> {
    let starts: Vec<NaiveDate> = periods.iter().map(|p| p.0).collect();
    let Some(last_day) = periods.last().map(|p| p.1) else {
        return Ok(Vec::new());
    };
    let flows = tenant
        .revenue_flows(&starts, last_day)
        .await
        .map_err(ApiError::from)?;
    let segment_of = tenant.account_segments().await.map_err(ApiError::from)?;
    let segment = |f: &Flow<Uuid>| segment_of.get(&f.account).copied().flatten();
    let flows: Vec<Flow<Uuid>> = flows
        .into_iter()
        .filter(|f| only_segment.is_none() || segment(f) == only_segment)
        .collect();
    let mut groups: Vec<(Option<Uuid>, Vec<Retention>)> =
        vec![(only_segment, rules::retention_series(&flows, periods.len()))];
    if by_segment && only_segment.is_none() {
        let mut by: BTreeMap<Uuid, Vec<Flow<Uuid>>> = BTreeMap::new();
        for f in &flows {
            if let Some(seg) = segment(f) {
                by.entry(seg).or_default().push(f.clone());
            }
        }
        for (seg, fs) in by {
            groups.push((Some(seg), rules::retention_series(&fs, periods.len())));
        }
    }
    Ok(groups)
}
