//! Customer accounts and their MRR movements: idempotent bulk writes, lists, and the per-account
//! figures retention and exposure are computed from.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, ExprTrait, Func, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::json;
use tandem_domain::people::ExternalId;
use tandem_domain::revenue::{self as rules, Exposed, Flow, MovementKind, Risk};
use tandem_domain::segments::DimensionKey;
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::decimal::ExactDecimal;
use crate::entities::{accounts as account_row, revenue_movements as movement_row};
use crate::error::{Problems, StoreError, StoreResult, corrupt, distinct};
use crate::observations::RecordOutcome;
use crate::store::{Actor, BulkArea, Page, Retry, Slice, Tenant, paginate};

/// Largest number of rows sent in one SQL statement.
const CHUNK: usize = 500;

/// An account to create or update, keyed by its id in the source system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    /// Id in the CRM or billing system; the natural key.
    pub external_id: ExternalId,
    /// Display name.
    pub name: String,
    /// Segment, by key.
    pub segment: Option<DimensionKey>,
    /// When the customer started.
    pub started_on: Option<NaiveDate>,
    /// Next renewal.
    pub renews_on: Option<NaiveDate>,
    /// Annual recurring revenue.
    pub arr: Decimal,
    /// Health score, 0-100.
    pub health_score: Option<Decimal>,
    /// Risk level.
    pub risk: Risk,
}

/// A customer account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Account id.
    pub id: Uuid,
    /// Id in the source system.
    pub external_id: String,
    /// Display name.
    pub name: String,
    /// Segment.
    pub segment_id: Option<Uuid>,
    /// When the customer started.
    pub started_on: Option<NaiveDate>,
    /// Next renewal.
    pub renews_on: Option<NaiveDate>,
    /// Annual recurring revenue.
    pub arr: Decimal,
    /// Health score.
    pub health_score: Option<Decimal>,
    /// Risk level.
    pub risk: Risk,
    /// First written.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Which accounts to list.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    /// Only this segment.
    pub segment_id: Option<Uuid>,
    /// Only this risk level.
    pub risk: Option<Risk>,
    /// Only accounts renewing on or after this day.
    pub renews_from: Option<NaiveDate>,
    /// Only accounts renewing on or before this day.
    pub renews_to: Option<NaiveDate>,
    /// Only these accounts.
    pub ids: Option<Vec<Uuid>>,
}

/// An MRR movement to record, keyed by its event id in the source system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMovement {
    /// Event id in the billing system; the natural key.
    pub external_id: ExternalId,
    /// The account, by its external id.
    pub account: ExternalId,
    /// When it took effect.
    pub effective_on: NaiveDate,
    /// What it did.
    pub kind: MovementKind,
    /// How much MRR moved (positive).
    pub amount: Decimal,
}

/// A recorded MRR movement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevenueMovement {
    /// Movement id.
    pub id: Uuid,
    /// Event id in the source system.
    pub external_id: String,
    /// The account.
    pub account_id: Uuid,
    /// When it took effect.
    pub effective_on: NaiveDate,
    /// What it did.
    pub kind: MovementKind,
    /// How much MRR moved.
    pub amount: Decimal,
    /// Who last wrote it.
    pub recorded_by: String,
    /// First written.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Which movements to list.
#[derive(Debug, Clone, Default)]
pub struct MovementFilter {
    /// Only this account.
    pub account_id: Option<Uuid>,
    /// Only this kind.
    pub kind: Option<MovementKind>,
    /// Only movements on or after this day.
    pub from: Option<NaiveDate>,
    /// Only movements on or before this day.
    pub to: Option<NaiveDate>,
}

/// Parses a stored enum value; a value that does not parse is a corrupt row.
pub(crate) fn stored<T: std::str::FromStr<Err = tandem_domain::Invalid>>(
    what: &str,
    raw: &str,
) -> StoreResult<T> {
    raw.parse()
        .map_err(|e: tandem_domain::Invalid| corrupt(format_args!("{what} ({e})")))
}

impl TryFrom<account_row::Model> for Account {
    type Error = StoreError;

    fn try_from(m: account_row::Model) -> StoreResult<Self> {
        Ok(Account {
            risk: stored("risk", &m.risk)?,
            id: m.id,
            external_id: m.external_id,
            name: m.name,
            segment_id: m.segment_id,
            started_on: m.started_on,
            renews_on: m.renews_on,
            arr: m.arr.0,
            health_score: m.health_score.map(|h| h.0),
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

impl TryFrom<movement_row::Model> for RevenueMovement {
    type Error = StoreError;

    fn try_from(m: movement_row::Model) -> StoreResult<Self> {
        Ok(RevenueMovement {
            kind: stored("movement kind", &m.kind)?,
            id: m.id,
            external_id: m.external_id,
            account_id: m.account_id,
            effective_on: m.effective_on,
            amount: m.amount.0,
            recorded_by: m.recorded_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

fn account_json(a: &NewAccount) -> serde_json::Value {
    json!({
        "externalId": a.external_id.as_str(),
        "name": a.name,
        "segmentKey": a.segment.as_ref().map(DimensionKey::as_str),
        "startedOn": a.started_on,
        "renewsOn": a.renews_on,
        "arr": a.arr.to_string(),
        "healthScore": a.health_score.map(|h| h.to_string()),
        "risk": a.risk.as_str(),
    })
}

fn stored_account_json(m: &account_row::Model, segment_key: Option<&str>) -> serde_json::Value {
    json!({
        "externalId": m.external_id,
        "name": m.name,
        "segmentKey": segment_key,
        "startedOn": m.started_on,
        "renewsOn": m.renews_on,
        "arr": m.arr.0.to_string(),
        "healthScore": m.health_score.map(|h| h.0.to_string()),
        "risk": m.risk,
    })
}

/// One account as exposure and retention read it.
#[derive(Debug, FromQueryResult)]
struct ExposureRow {
    id: Uuid,
    segment_id: Option<Uuid>,
    arr: ExactDecimal,
    risk: String,
    renews_on: Option<NaiveDate>,
}

/// Movements of one account summed per period and kind (or single movements on SQLite, whose
/// text decimals cannot be summed exactly in SQL).
#[derive(Debug, FromQueryResult)]
struct FlowRow {
    account_id: Uuid,
    bucket: i32,
    kind: String,
    amount: ExactDecimal,
}

impl Tenant {
    /// Creates or updates accounts in one transaction, idempotent on the external id; every
    /// problem is listed and nothing is written when there is one.
    ///
    /// Concurrent revenue writes of the organization run one after the other (see
    /// [`BulkArea`]); a run that loses a race anyway is run again a few times.
    pub async fn upsert_accounts(
        &self,
        actor: &Actor,
        rows: &[NewAccount],
        dry_run: bool,
    ) -> StoreResult<RecordOutcome> {
        let mut retry = Retry::default();
        loop {
            match self.try_upsert_accounts(actor, rows, dry_run).await {
                Err(e) if retry.again(&e).await => continue,
                done => return done,
            }
        }
    }

    /// One run of [`Tenant::upsert_accounts`].
    async fn try_upsert_accounts(
        &self,
        actor: &Actor,
        rows: &[NewAccount],
        dry_run: bool,
    ) -> StoreResult<RecordOutcome> {
        let (_turn, txn) = self
            .store
            .begin_bulk_write(self.org_id, BulkArea::Revenue)
            .await?;
        let mut problems = Problems::new("accounts");
        let segment_keys: Vec<&str> = distinct(
            rows.iter()
                .filter_map(|r| r.segment.as_ref().map(DimensionKey::as_str)),
        );
        let mut segments: HashMap<String, Uuid> = HashMap::new();
        for chunk in segment_keys.chunks(CHUNK) {
            segments.extend(self.segment_ids_by_key(&txn, chunk).await?);
        }
        let segment_keys_by_id: HashMap<Uuid, String> =
            segments.iter().map(|(k, v)| (*v, k.clone())).collect();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, row) in rows.iter().enumerate() {
            if let Some(first) = seen.insert(row.external_id.as_str(), i) {
                problems.push(
                    format!("accounts[{i}].externalId"),
                    format!("repeats accounts[{first}]"),
                );
            }
            if let Some(key) = &row.segment
                && !segments.contains_key(key.as_str())
            {
                problems.push(
                    format!("accounts[{i}].segmentKey"),
                    format!("no segment with key `{}`", key.as_str()),
                );
            }
            for (field, e) in
                rules::check_account(row.arr, row.health_score, row.started_on, row.renews_on)
            {
                problems.push(format!("accounts[{i}].{field}"), e.message);
            }
        }
        problems.into_result()?;

        let mut existing: HashMap<String, account_row::Model> = HashMap::new();
        let ids: Vec<&str> = rows.iter().map(|r| r.external_id.as_str()).collect();
        for chunk in ids.chunks(CHUNK) {
            let found = account_row::Entity::find()
                .filter(account_row::Column::OrgId.eq(self.org_id))
                .filter(account_row::Column::ExternalId.is_in(chunk.iter().copied()))
                .all(&txn)
                .await?;
            existing.extend(found.into_iter().map(|m| (m.external_id.clone(), m)));
        }
        let now = Utc::now();
        let mut outcome = RecordOutcome::default();
        let mut writes = Vec::new();
        let mut changes = Vec::new();
        // Accounts that change segment take their MRR ledger along.
        let mut moves = Vec::new();
        // Rows are written in external-id order, so writers lock them in one order.
        let mut sorted: Vec<&NewAccount> = rows.iter().collect();
        sorted.sort_by(|a, b| a.external_id.as_str().cmp(b.external_id.as_str()));
        for row in sorted {
            let segment_id = row
                .segment
                .as_ref()
                .and_then(|k| segments.get(k.as_str()).copied());
            let previous = existing.get(row.external_id.as_str());
            let (id, created_at) = match previous {
                Some(p)
                    if p.name == row.name
                        && p.segment_id == segment_id
                        && p.started_on == row.started_on
                        && p.renews_on == row.renews_on
                        && p.arr.0 == row.arr
                        && p.health_score.map(|h| h.0) == row.health_score
                        && p.risk == row.risk.as_str() =>
                {
                    outcome.unchanged += 1;
                    continue;
                }
                Some(p) => {
                    outcome.updated += 1;
                    if p.segment_id != segment_id {
                        moves.push((p.id, segment_id));
                    }
                    (p.id, p.created_at)
                }
                None => {
                    outcome.created += 1;
                    (Uuid::now_v7(), now)
                }
            };
            changes.push(Change {
                operation: "upsertAccounts",
                entity_type: "Account",
                entity_id: id.to_string(),
                before: previous.map(|p| {
                    stored_account_json(
                        p,
                        p.segment_id
                            .and_then(|s| segment_keys_by_id.get(&s))
                            .map(String::as_str),
                    )
                }),
                after: Some(account_json(row)),
            });
            writes.push(account_row::ActiveModel {
                org_id: Set(self.org_id),
                id: Set(id),
                external_id: Set(row.external_id.as_str().to_owned()),
                name: Set(row.name.clone()),
                segment_id: Set(segment_id),
                started_on: Set(row.started_on),
                renews_on: Set(row.renews_on),
                arr: Set(ExactDecimal(row.arr)),
                health_score: Set(row.health_score.map(ExactDecimal)),
                risk: Set(row.risk.as_str().to_owned()),
                created_at: Set(created_at),
                updated_at: Set(now),
            });
        }
        if dry_run {
            txn.rollback().await?;
            return Ok(outcome);
        }
        let mut writes = writes.into_iter().peekable();
        while writes.peek().is_some() {
            let chunk: Vec<_> = writes.by_ref().take(CHUNK).collect();
            account_row::Entity::insert_many(chunk)
                .on_conflict(
                    OnConflict::columns([account_row::Column::OrgId, account_row::Column::Id])
                        .update_columns([
                            account_row::Column::Name,
                            account_row::Column::SegmentId,
                            account_row::Column::StartedOn,
                            account_row::Column::RenewsOn,
                            account_row::Column::Arr,
                            account_row::Column::HealthScore,
                            account_row::Column::Risk,
                            account_row::Column::UpdatedAt,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        crate::mrr_ledger::move_segments(&txn, self.org_id, &moves).await?;
        audit::record_all(&txn, self.org_id, actor, changes).await?;
        txn.commit().await?;
        Ok(outcome)
    }

    /// Records MRR movements in one transaction, idempotent on the external event id: sending
    /// an event again changes nothing, sending it with new figures corrects it.
    ///
    /// Concurrent revenue writes of the organization run one after the other (see
    /// [`BulkArea`]); a run that loses a race anyway is run again a few times.
    pub async fn record_movements(
        &self,
        actor: &Actor,
        rows: &[NewMovement],
        dry_run: bool,
    ) -> StoreResult<RecordOutcome> {
        let mut retry = Retry::default();
        loop {
            match self.try_record_movements(actor, rows, dry_run).await {
                Err(e) if retry.again(&e).await => continue,
                done => return done,
            }
        }
    }

    /// One run of [`Tenant::record_movements`].
    async fn try_record_movements(
        &self,
        actor: &Actor,
        rows: &[NewMovement],
        dry_run: bool,
    ) -> StoreResult<RecordOutcome> {
        let (_turn, txn) = self
            .store
            .begin_bulk_write(self.org_id, BulkArea::Revenue)
            .await?;
        let mut problems = Problems::new("movements");
        let account_keys: Vec<&str> = distinct(rows.iter().map(|r| r.account.as_str()));
        let mut accounts: HashMap<String, Uuid> = HashMap::new();
        for chunk in account_keys.chunks(CHUNK) {
            let found = account_row::Entity::find()
                .select_only()
                .column(account_row::Column::ExternalId)
                .column(account_row::Column::Id)
                .filter(account_row::Column::OrgId.eq(self.org_id))
                .filter(account_row::Column::ExternalId.is_in(chunk.iter().copied()))
                .into_tuple::<(String, Uuid)>()
                .all(&txn)
                .await?;
            accounts.extend(found);
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, row) in rows.iter().enumerate() {
            if let Some(first) = seen.insert(row.external_id.as_str(), i) {
                problems.push(
                    format!("movements[{i}].externalId"),
                    format!("repeats movements[{first}]"),
                );
            }
            if !accounts.contains_key(row.account.as_str()) {
                problems.push(
                    format!("movements[{i}].accountExternalId"),
                    format!("no account with external id `{}`", row.account.as_str()),
                );
            }
            if let Err(e) = rules::check_movement_amount(row.amount) {
                problems.push(format!("movements[{i}].amount"), e.message);
            }
        }
        problems.into_result()?;

        let mut existing: HashMap<String, movement_row::Model> = HashMap::new();
        let ids: Vec<&str> = rows.iter().map(|r| r.external_id.as_str()).collect();
        for chunk in ids.chunks(CHUNK) {
            let found = movement_row::Entity::find()
                .filter(movement_row::Column::OrgId.eq(self.org_id))
                .filter(movement_row::Column::ExternalId.is_in(chunk.iter().copied()))
                .all(&txn)
                .await?;
            existing.extend(found.into_iter().map(|m| (m.external_id.clone(), m)));
        }
        let now = Utc::now();
        let mut outcome = RecordOutcome::default();
        let mut writes = Vec::new();
        let mut changes = Vec::new();
        // Accounts whose monthly ledger the writes change (a correction may move a movement
        // from one account to another).
        let mut touched = Vec::new();
        // Rows are written in external-id order, so writers lock them in one order.
        let mut sorted: Vec<&NewMovement> = rows.iter().collect();
        sorted.sort_by(|a, b| a.external_id.as_str().cmp(b.external_id.as_str()));
        for row in sorted {
            let account_id = accounts.get(row.account.as_str()).copied().ok_or_else(|| {
                StoreError::NotFound {
                    entity: "account",
                    id: row.account.as_str().to_owned(),
                }
            })?;
            let previous = existing.get(row.external_id.as_str());
            let (id, created_at) = match previous {
                Some(p)
                    if p.account_id == account_id
                        && p.effective_on == row.effective_on
                        && p.kind == row.kind.as_str()
                        && p.amount.0 == row.amount =>
                {
                    outcome.unchanged += 1;
                    continue;
                }
                Some(p) => {
                    outcome.updated += 1;
                    (p.id, p.created_at)
                }
                None => {
                    outcome.created += 1;
                    (Uuid::now_v7(), now)
                }
            };
            touched.push(account_id);
            touched.extend(previous.map(|p| p.account_id));
            changes.push(Change {
                operation: "recordRevenueMovements",
                entity_type: "RevenueMovement",
                entity_id: id.to_string(),
                before: previous.map(|p| {
                    json!({
                        "accountId": p.account_id,
                        "effectiveOn": p.effective_on,
                        "kind": p.kind,
                        "amount": p.amount.0.to_string(),
                    })
                }),
                after: Some(json!({
                    "externalId": row.external_id.as_str(),
                    "accountExternalId": row.account.as_str(),
                    "effectiveOn": row.effective_on,
                    "kind": row.kind.as_str(),
                    "amount": row.amount.to_string(),
                })),
            });
            writes.push(movement_row::ActiveModel {
                org_id: Set(self.org_id),
                id: Set(id),
                external_id: Set(row.external_id.as_str().to_owned()),
                account_id: Set(account_id),
                effective_on: Set(row.effective_on),
                kind: Set(row.kind.as_str().to_owned()),
                amount: Set(ExactDecimal(row.amount)),
                recorded_by: Set(actor.as_str().to_owned()),
                created_at: Set(created_at),
                updated_at: Set(now),
            });
        }
        if dry_run {
            txn.rollback().await?;
            return Ok(outcome);
        }
        let changed_accounts = distinct(touched.into_iter());
        let mut writes = writes.into_iter().peekable();
        while writes.peek().is_some() {
            let chunk: Vec<_> = writes.by_ref().take(CHUNK).collect();
            movement_row::Entity::insert_many(chunk)
                .on_conflict(
                    OnConflict::columns([movement_row::Column::OrgId, movement_row::Column::Id])
                        .update_columns([
                            movement_row::Column::AccountId,
                            movement_row::Column::EffectiveOn,
                            movement_row::Column::Kind,
                            movement_row::Column::Amount,
                            movement_row::Column::RecordedBy,
                            movement_row::Column::UpdatedAt,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        crate::mrr_ledger::rebuild(&txn, self.org_id, &changed_accounts).await?;
        audit::record_all(&txn, self.org_id, actor, changes).await?;
        txn.commit().await?;
        Ok(outcome)
    }

    /// Lists accounts by name, then id.
    pub async fn accounts(
        &self,
        filter: &AccountFilter,
        page: Page,
    ) -> StoreResult<Slice<Account>> {
        let mut query =
            account_row::Entity::find().filter(account_row::Column::OrgId.eq(self.org_id));
        if let Some(segment) = filter.segment_id {
            query = query.filter(account_row::Column::SegmentId.eq(segment));
        }
        if let Some(risk) = filter.risk {
            query = query.filter(account_row::Column::Risk.eq(risk.as_str()));
        }
        if let Some(from) = filter.renews_from {
            query = query.filter(account_row::Column::RenewsOn.gte(from));
        }
        if let Some(to) = filter.renews_to {
            query = query.filter(account_row::Column::RenewsOn.lte(to));
        }
        if let Some(ids) = &filter.ids {
            query = query.filter(account_row::Column::Id.is_in(ids.iter().copied()));
        }
        let query = query
            .order_by_asc(account_row::Column::Name)
            .order_by_asc(account_row::Column::Id);
        paginate(self.db(), query, page, Account::try_from).await
    }

    /// Accounts by id (for batched loading); unknown ids are left out.
    pub async fn accounts_by_ids(&self, ids: &[Uuid]) -> StoreResult<HashMap<Uuid, Account>> {
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let rows = account_row::Entity::find()
                .filter(account_row::Column::OrgId.eq(self.org_id))
                .filter(account_row::Column::Id.is_in(chunk.iter().copied()))
                .all(self.db())
                .await?;
            for r in rows {
                let account = Account::try_from(r)?;
                out.insert(account.id, account);
            }
        }
        Ok(out)
    }

    /// One account by its external id.
    pub async fn account_by_external_id(&self, external_id: &str) -> StoreResult<Option<Account>> {
        account_row::Entity::find()
            .filter(account_row::Column::OrgId.eq(self.org_id))
            .filter(account_row::Column::ExternalId.eq(external_id))
            .one(self.db())
            .await?
            .map(Account::try_from)
            .transpose()
    }

    /// One MRR movement by id.
    pub async fn revenue_movement(&self, id: Uuid) -> StoreResult<Option<RevenueMovement>> {
        movement_row::Entity::find()
            .filter(movement_row::Column::OrgId.eq(self.org_id))
            .filter(movement_row::Column::Id.eq(id))
            .one(self.db())
            .await?
            .map(RevenueMovement::try_from)
            .transpose()
    }

    /// Lists MRR movements by effective date, then id.
    pub async fn revenue_movements(
        &self,
        filter: &MovementFilter,
        page: Page,
    ) -> StoreResult<Slice<RevenueMovement>> {
        let mut query =
            movement_row::Entity::find().filter(movement_row::Column::OrgId.eq(self.org_id));
        if let Some(account) = filter.account_id {
            query = query.filter(movement_row::Column::AccountId.eq(account));
        }
        if let Some(kind) = filter.kind {
            query = query.filter(movement_row::Column::Kind.eq(kind.as_str()));
        }
        if let Some(from) = filter.from {
            query = query.filter(movement_row::Column::EffectiveOn.gte(from));
        }
        if let Some(to) = filter.to {
            query = query.filter(movement_row::Column::EffectiveOn.lte(to));
        }
        let query = query
            .order_by_asc(movement_row::Column::EffectiveOn)
            .order_by_asc(movement_row::Column::Id);
        paginate(self.db(), query, page, RevenueMovement::try_from).await
    }

    /// Every account with the figures ARR exposure needs.
    pub async fn exposure_accounts(&self) -> StoreResult<Vec<Exposed<Uuid, Uuid>>> {
        let rows = account_row::Entity::find()
            .select_only()
            .column(account_row::Column::Id)
            .column(account_row::Column::SegmentId)
            .column(account_row::Column::Arr)
            .column(account_row::Column::Risk)
            .column(account_row::Column::RenewsOn)
            .filter(account_row::Column::OrgId.eq(self.org_id))
            .into_model::<ExposureRow>()
            .all(self.db())
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Exposed {
                    account: r.id,
                    segment: r.segment_id,
                    arr: r.arr.0,
                    risk: stored("risk", &r.risk)?,
                    renewal: r.renews_on,
                })
            })
            .collect()
    }

    /// Each account's segment.
    pub async fn account_segments(&self) -> StoreResult<HashMap<Uuid, Option<Uuid>>> {
        let rows = account_row::Entity::find()
            .select_only()
            .column(account_row::Column::Id)
            .column(account_row::Column::SegmentId)
            .filter(account_row::Column::OrgId.eq(self.org_id))
            .into_tuple::<(Uuid, Option<Uuid>)>()
            .all(self.db())
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// MRR movements up to `last_day` as per-account flows for the periods starting on `starts`
    /// (ascending): movements before the first period come back with `period: None`. On
    /// PostgreSQL the database sums them per account, period and kind.
    pub async fn revenue_flows(
        &self,
        starts: &[NaiveDate],
        last_day: NaiveDate,
    ) -> StoreResult<Vec<Flow<Uuid>>> {
        let effective = Expr::col((movement_row::Entity, movement_row::Column::EffectiveOn));
        let mut bucket = Expr::case(
            effective
                .clone()
                .lt(starts.first().copied().unwrap_or(last_day)),
            0,
        );
        for (i, start) in starts.iter().enumerate().rev() {
            let index = i32::try_from(i + 1).unwrap_or(i32::MAX);
            bucket = bucket.case(effective.clone().gte(*start), index);
        }
        let bucket = bucket.finally(0);
        let mut query = movement_row::Entity::find()
            .select_only()
            .column(movement_row::Column::AccountId)
            .expr_as(bucket, "bucket")
            .column(movement_row::Column::Kind)
            .filter(movement_row::Column::OrgId.eq(self.org_id))
            .filter(movement_row::Column::EffectiveOn.lte(last_day));
        query = if self.db().get_database_backend() == DbBackend::Postgres {
            query
                .expr_as(
                    Func::sum(Expr::col((
                        movement_row::Entity,
                        movement_row::Column::Amount,
                    ))),
                    "amount",
                )
                .group_by(movement_row::Column::AccountId)
                .group_by(Expr::cust("bucket"))
                .group_by(movement_row::Column::Kind)
        } else {
            query.column(movement_row::Column::Amount)
        };
        let rows = query.into_model::<FlowRow>().all(self.db()).await?;
        rows.into_iter()
            .map(|r| {
                Ok(Flow {
                    account: r.account_id,
                    period: usize::try_from(r.bucket)
                        .ok()
                        .and_then(|b| b.checked_sub(1)),
                    kind: stored("movement kind", &r.kind)?,
                    amount: r.amount.0,
                })
            })
            .collect()
    }
}
