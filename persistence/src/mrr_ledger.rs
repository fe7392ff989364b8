//! Each account's MRR month by month, rebuilt from its movements whenever they change, and the
//! retention figures read from it for periods made of whole months.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect, Statement, Value,
};
use tandem_domain::revenue::{self as rules, Flow, LedgerMonth, MovementKind, Retention};
use uuid::Uuid;

use crate::decimal::ExactDecimal;
use crate::entities::{
    account_mrr_months as ledger_row, accounts as account_row, revenue_movements as movement_row,
};
use crate::error::StoreResult;
use crate::revenue::stored;
use crate::store::{Store, Tenant};

/// Largest number of rows or values sent in one SQL statement.
const CHUNK: usize = 500;

/// Retention parts of the accounts of one segment (or of none) for one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRetention {
    /// Index of the period.
    pub period: usize,
    /// The accounts' segment.
    pub segment: Option<Uuid>,
    /// MRR at the period start of the accounts paying then.
    pub starting: Decimal,
    /// Their NEW and EXPANSION movements in the period.
    pub expansion: Decimal,
    /// Their CONTRACTION movements in the period.
    pub contraction: Decimal,
    /// Their CHURN movements in the period.
    pub churn: Decimal,
}

/// Rebuilds the monthly ledgers of `accounts` from their movements, inside `conn`'s
/// transaction.
pub(crate) async fn rebuild<C: ConnectionTrait>(
    conn: &C,
    org_id: Uuid,
    accounts: &[Uuid],
) -> StoreResult<()> {
    for chunk in accounts.chunks(CHUNK) {
        ledger_row::Entity::delete_many()
            .filter(ledger_row::Column::OrgId.eq(org_id))
            .filter(ledger_row::Column::AccountId.is_in(chunk.iter().copied()))
            .exec(conn)
            .await?;
        let movements = movement_row::Entity::find()
            .select_only()
            .column(movement_row::Column::AccountId)
            .column(movement_row::Column::EffectiveOn)
            .column(movement_row::Column::Kind)
            .column(movement_row::Column::Amount)
            .filter(movement_row::Column::OrgId.eq(org_id))
            .filter(movement_row::Column::AccountId.is_in(chunk.iter().copied()))
            .into_tuple::<(Uuid, NaiveDate, String, ExactDecimal)>()
            .all(conn)
            .await?;
        let segments: HashMap<Uuid, Option<Uuid>> = account_row::Entity::find()
            .select_only()
            .column(account_row::Column::Id)
            .column(account_row::Column::SegmentId)
            .filter(account_row::Column::OrgId.eq(org_id))
            .filter(account_row::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple::<(Uuid, Option<Uuid>)>()
            .all(conn)
            .await?
            .into_iter()
            .collect();
        let mut by_account: HashMap<Uuid, Vec<(NaiveDate, MovementKind, Decimal)>> = HashMap::new();
        for (account, on, kind, amount) in movements {
            let kind: MovementKind = stored("movement kind", &kind)?;
            by_account
                .entry(account)
                .or_default()
                .push((on, kind, amount.0));
        }
        let mut rows = Vec::new();
        for (account, movements) in by_account {
            let ledger = rules::monthly_ledger(&movements);
            let last = ledger.len().saturating_sub(1);
            let segment_id = segments.get(&account).copied().flatten();
            rows.extend(
                ledger
                    .into_iter()
                    .enumerate()
                    .map(|(i, m)| ledger_row::ActiveModel {
                        org_id: Set(org_id),
                        account_id: Set(account),
                        segment_id: Set(segment_id),
                        month: Set(m.month),
                        opening_mrr: Set(ExactDecimal(m.opening)),
                        new_mrr: Set(ExactDecimal(m.new)),
                        expansion_mrr: Set(ExactDecimal(m.expansion)),
                        contraction_mrr: Set(ExactDecimal(m.contraction)),
                        churned_mrr: Set(ExactDecimal(m.churn)),
                        closing_mrr: Set(ExactDecimal(m.closing)),
                        latest: Set(i == last),
                    }),
            );
        }
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let batch: Vec<_> = rows.by_ref().take(CHUNK).collect();
            ledger_row::Entity::insert_many(batch)
                .exec_without_returning(conn)
                .await?;
        }
    }
    Ok(())
}

/// Moves the ledger rows of accounts whose segment changed to their new segments.
pub(crate) async fn move_segments<C: ConnectionTrait>(
    conn: &C,
    org_id: Uuid,
    moves: &[(Uuid, Option<Uuid>)],
) -> StoreResult<()> {
    let mut by_segment: BTreeMap<Option<Uuid>, Vec<Uuid>> = BTreeMap::new();
    for (account, segment) in moves {
        by_segment.entry(*segment).or_default().push(*account);
    }
    for (segment, accounts) in by_segment {
        for chunk in accounts.chunks(CHUNK) {
            ledger_row::Entity::update_many()
                .col_expr(ledger_row::Column::SegmentId, segment.into())
                .filter(ledger_row::Column::OrgId.eq(org_id))
                .filter(ledger_row::Column::AccountId.is_in(chunk.iter().copied()))
                .exec(conn)
                .await?;
        }
    }
    Ok(())
}

impl Store {
    /// Builds the ledgers of accounts that have movements but no ledger yet (movements
    /// recorded before the ledger existed). Does nothing when every ledger is in place.
    pub async fn rebuild_missing_mrr_ledgers(&self) -> StoreResult<()> {
        let with_movements = movement_row::Entity::find()
            .select_only()
            .column(movement_row::Column::OrgId)
            .column(movement_row::Column::AccountId)
            .distinct()
            .into_tuple::<(Uuid, Uuid)>()
            .all(self.db())
            .await?;
        if with_movements.is_empty() {
            return Ok(());
        }
        let with_ledger: std::collections::HashSet<(Uuid, Uuid)> = ledger_row::Entity::find()
            .select_only()
            .column(ledger_row::Column::OrgId)
            .column(ledger_row::Column::AccountId)
            .filter(ledger_row::Column::Latest.eq(true))
            .into_tuple::<(Uuid, Uuid)>()
            .all(self.db())
            .await?
            .into_iter()
            .collect();
        let mut missing: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
        for (org, account) in with_movements {
            if !with_ledger.contains(&(org, account)) {
                missing.entry(org).or_default().push(account);
            }
        }
        for (org, accounts) in missing {
            let txn = self.begin_write().await?;
            rebuild(&txn, org, &accounts).await?;
            txn.commit().await?;
        }
        Ok(())
    }
}

/// Sums of one (period, segment) group as PostgreSQL returns them.
#[derive(Debug, FromQueryResult)]
struct PartsRow {
    period: i32,
    segment_id: Option<Uuid>,
    starting: ExactDecimal,
    expansion: ExactDecimal,
    contraction: ExactDecimal,
    churn: ExactDecimal,
}

impl Tenant {
    /// Retention parts per period and segment from the monthly ledgers, for periods
    /// `(start, end)` (ascending) that are whole months or runs of them; `None` for any other
    /// periods. PostgreSQL sums in SQL; SQLite, whose text decimals cannot be summed exactly
    /// there, reads the ledger months and applies `retention_series`.
    pub async fn ledger_retention(
        &self,
        periods: &[(NaiveDate, NaiveDate)],
    ) -> StoreResult<Option<Vec<SegmentRetention>>> {
        if periods.is_empty() || !rules::whole_months(periods) {
            return Ok(None);
        }
        let parts = if self.db().get_database_backend() == DbBackend::Postgres {
            self.ledger_retention_sql(periods).await?
        } else {
            self.ledger_retention_rows(periods).await?
        };
        Ok(Some(parts))
    }

    async fn ledger_retention_sql(
        &self,
        periods: &[(NaiveDate, NaiveDate)],
    ) -> StoreResult<Vec<SegmentRetention>> {
        let mut values: Vec<Value> = vec![self.org_id.into()];
        let mut rows = Vec::with_capacity(periods.len());
        for (i, (start, end)) in periods.iter().enumerate() {
            let n = values.len();
            rows.push(format!(
                "(${}::int, ${}::date, ${}::date)",
                n + 1,
                n + 2,
                n + 3
            ));
            values.push(i32::try_from(i).unwrap_or(i32::MAX).into());
            values.push((*start).into());
            values.push((*end).into());
        }
        let single_months = periods
            .iter()
            .all(|(start, end)| rules::month_of(*end) == *start);
        // Each account's MRR at each period start (its ledger month at the start opens with
        // it; an account whose last month is earlier keeps that month's closing MRR) and its
        // movements in the period. Only accounts paying at the start count; the others still
        // name their segment, so every segment with accounts comes back.
        let at_start = if single_months {
            "SELECT p.idx, l.segment_id, l.opening_mrr AS starting,
                    l.new_mrr + l.expansion_mrr AS expansion, l.contraction_mrr AS contraction,
                    l.churned_mrr AS churn
             FROM account_mrr_months l JOIN p ON l.month = p.s
             WHERE l.org_id = $1"
        } else {
            "SELECT p.idx, l.segment_id,
                    SUM(CASE WHEN l.month = p.s THEN l.opening_mrr ELSE 0 END) AS starting,
                    SUM(l.new_mrr + l.expansion_mrr) AS expansion,
                    SUM(l.contraction_mrr) AS contraction, SUM(l.churned_mrr) AS churn
             FROM account_mrr_months l JOIN p ON l.month BETWEEN p.s AND p.e
             WHERE l.org_id = $1
             GROUP BY p.idx, l.account_id, l.segment_id"
        };
        let sql = format!(
            "WITH p(idx, s, e) AS (VALUES {values}),
             spans AS (
                {at_start}
                UNION ALL
                SELECT p.idx, l.segment_id, l.closing_mrr, 0, 0, 0
                FROM account_mrr_months l JOIN p ON l.month < p.s
                WHERE l.org_id = $1 AND l.latest)
             SELECT spans.idx AS period, spans.segment_id,
                    SUM(CASE WHEN spans.starting > 0 THEN spans.starting ELSE 0 END) AS starting,
                    SUM(CASE WHEN spans.starting > 0 THEN spans.expansion ELSE 0 END) AS expansion,
                    SUM(CASE WHEN spans.starting > 0 THEN spans.contraction ELSE 0 END)
                        AS contraction,
                    SUM(CASE WHEN spans.starting > 0 THEN spans.churn ELSE 0 END) AS churn
             FROM spans
             GROUP BY spans.idx, spans.segment_id",
            values = rows.join(", "),
        );
        let rows = PartsRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .all(self.db())
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(SegmentRetention {
                    period: usize::try_from(r.period).ok()?,
                    segment: r.segment_id,
                    starting: r.starting.0,
                    expansion: r.expansion.0,
                    contraction: r.contraction.0,
                    churn: r.churn.0,
                })
            })
            .collect())
    }

    async fn ledger_retention_rows(
        &self,
        periods: &[(NaiveDate, NaiveDate)],
    ) -> StoreResult<Vec<SegmentRetention>> {
        let Some((first_start, last_day)) = periods
            .first()
            .map(|p| p.0)
            .zip(periods.last().map(|p| p.1))
        else {
            return Ok(Vec::new());
        };
        let in_range = ledger_row::Entity::find()
            .filter(ledger_row::Column::OrgId.eq(self.org_id))
            .filter(ledger_row::Column::Month.between(first_start, last_day))
            .order_by_asc(ledger_row::Column::Month)
            .all(self.db())
            .await?;
        let before = ledger_row::Entity::find()
            .filter(ledger_row::Column::OrgId.eq(self.org_id))
            .filter(ledger_row::Column::Latest.eq(true))
            .filter(ledger_row::Column::Month.lt(first_start))
            .all(self.db())
            .await?;
        let mut months: HashMap<Uuid, (Option<Uuid>, Vec<LedgerMonth>)> = HashMap::new();
        for m in before.into_iter().chain(in_range) {
            let (_, account_months) = months
                .entry(m.account_id)
                .or_insert_with(|| (m.segment_id, Vec::new()));
            account_months.push(LedgerMonth {
                month: m.month,
                opening: m.opening_mrr.0,
                new: m.new_mrr.0,
                expansion: m.expansion_mrr.0,
                contraction: m.contraction_mrr.0,
                churn: m.churned_mrr.0,
                closing: m.closing_mrr.0,
            });
        }
        let starts: Vec<NaiveDate> = periods.iter().map(|p| p.0).collect();
        let mut by_segment: HashMap<Option<Uuid>, Vec<Flow<Uuid>>> = HashMap::new();
        for (account, (segment, months)) in &months {
            let flows = rules::ledger_flows(account, months, first_start, |month| {
                rules::period_index(&starts, last_day, month).flatten()
            });
            by_segment.entry(*segment).or_default().extend(flows);
        }
        let mut out = Vec::new();
        for (segment, flows) in by_segment {
            let series: Vec<Retention> = rules::retention_series(&flows, periods.len());
            out.extend(
                series
                    .into_iter()
                    .enumerate()
                    .map(|(period, r)| SegmentRetention {
                        period,
                        segment,
                        starting: r.starting,
                        expansion: r.expansion,
                        contraction: r.contraction,
                        churn: r.churn,
                    }),
            );
        }
        Ok(out)
    }
}
