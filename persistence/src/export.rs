//! Bulk export: each dataset is one declarative entry (table, change-time column, columns,
//! who may read it), and one generic reader pages any of them in (change time, id) order.
//!
//! Adding a dataset is adding an entry to [`DATASETS`]: the export endpoint, its column
//! selection, `updatedSince` and the role rules follow from it.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, Order, Query};
use sea_orm::{ConnectionTrait, QueryResult};
use tandem_domain::access::Permission;
use uuid::Uuid;

use crate::decimal::ExactDecimal;
use crate::error::{StoreError, StoreResult};
use crate::store::Tenant;
use crate::sync::{SyncCursor, SyncWindow, after_cursor};

/// How a column's values are typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A row id.
    Uuid,
    /// Text.
    Text,
    /// An exact decimal.
    Decimal,
    /// A calendar date.
    Date,
    /// A point in time (UTC).
    Timestamp,
    /// A small integer (2 bytes in PostgreSQL).
    SmallInt,
    /// An integer (4 bytes in PostgreSQL).
    Int,
    /// True or false.
    Bool,
}

/// One exported column: its public name, where it comes from, and its type.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The column name in the file (snake case).
    pub name: &'static str,
    /// The table alias it is read from: `t` for the dataset's table, or a join's alias.
    pub from: &'static str,
    /// The column in that table.
    pub column: &'static str,
    /// Its type.
    pub kind: FieldKind,
}

/// A related row read alongside (by the dataset's column holding its id), for readable keys.
#[derive(Debug, Clone, Copy)]
pub struct Join {
    /// The related table.
    pub table: &'static str,
    /// Its alias in the query.
    pub alias: &'static str,
    /// The dataset's column holding the related id.
    pub on: &'static str,
}

/// Who may read a dataset.
#[derive(Debug, Clone, Copy)]
pub enum Access {
    /// Callers holding the permission read every row.
    Permission(Permission),
    /// Individual pay: callers who read all pay see every row; people see their own rows and
    /// their reports' (the named column holds the person); nobody else reads it.
    PersonalPay {
        /// The column holding the person the row is about.
        person_column: &'static str,
    },
}

/// An exportable dataset.
#[derive(Debug, Clone, Copy)]
pub struct Dataset {
    /// Its name in URLs (`/export/<name>.csv`).
    pub name: &'static str,
    /// The table.
    pub table: &'static str,
    /// The column holding when a row last changed.
    pub changed_at: &'static str,
    /// Who may read it.
    pub access: Access,
    /// Every column, in file order; the default selection.
    pub fields: &'static [Field],
    /// Related rows read for readable keys.
    pub joins: &'static [Join],
}

impl Dataset {
    /// A column by name.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

const fn f(name: &'static str, kind: FieldKind) -> Field {
    Field {
        name,
        from: "t",
        column: name,
        kind,
    }
}

const fn joined(
    name: &'static str,
    from: &'static str,
    column: &'static str,
    kind: FieldKind,
) -> Field {
    Field {
        name,
        from,
        column,
        kind,
    }
}

use FieldKind as K;

/// Every exportable dataset.
pub const DATASETS: &[Dataset] = &[
    Dataset {
        name: "observations",
        table: "observations",
        changed_at: "updated_at",
        access: Access::Permission(Permission::ReadOrgData),
        fields: &[
            f("id", K::Uuid),
            f("metric_id", K::Uuid),
            joined("metric_key", "m", "key", K::Text),
            f("granularity", K::Text),
            f("period_start", K::Date),
            joined("segment_key", "s", "key", K::Text),
            joined("stage_key", "st", "key", K::Text),
            f("value", K::Decimal),
            f("source", K::Text),
            f("recorded_by", K::Text),
            f("recorded_at", K::Timestamp),
            f("updated_at", K::Timestamp),
        ],
        joins: &[
            Join {
                table: "metrics",
                alias: "m",
                on: "metric_id",
            },
            Join {
                table: "segments",
                alias: "s",
                on: "segment_id",
            },
            Join {
                table: "journey_stages",
                alias: "st",
                on: "stage_id",
            },
        ],
    },
    Dataset {
        name: "goals",
        table: "goals",
        changed_at: "updated_at",
        access: Access::Permission(Permission::ReadOrgData),
        fields: &[
            f("id", K::Uuid),
            f("title", K::Text),
            f("description", K::Text),
            f("perspective", K::Text),
            f("status", K::Text),
            f("period_start", K::Date),
            f("period_end", K::Date),
            f("owner_person_id", K::Uuid),
            f("owner_team_id", K::Uuid),
            f("parent_id", K::Uuid),
            f("created_by", K::Text),
            f("created_at", K::Timestamp),
            f("updated_at", K::Timestamp),
        ],
        joins: &[],
    },
    Dataset {
        name: "key_results",
        table: "key_results",
        changed_at: "updated_at",
        access: Access::Permission(Permission::ReadOrgData),
        fields: &[
            f("id", K::Uuid),
            f("objective_id", K::Uuid),
            f("title", K::Text),
            f("baseline", K::Decimal),
            f("target", K::Decimal),
            f("weight", K::Decimal),
            f("metric_id", K::Uuid),
            joined("metric_key", "m", "key", K::Text),
            f("segment_id", K::Uuid),
            f("owner_person_id", K::Uuid),
            f("created_at", K::Timestamp),
            f("updated_at", K::Timestamp),
        ],
        joins: &[Join {
            table: "metrics",
            alias: "m",
            on: "metric_id",
        }],
    },
    Dataset {
        name: "accounts",
        table: "accounts",
        changed_at: "updated_at",
        access: Access::Permission(Permission::ReadOrgData),
        fields: &[
            f("id", K::Uuid),
            f("external_id", K::Text),
            f("name", K::Text),
            f("segment_id", K::Uuid),
            joined("segment_key", "s", "key", K::Text),
            f("started_on", K::Date),
            f("renews_on", K::Date),
            f("arr", K::Decimal),
            f("health_score", K::Decimal),
            f("risk", K::Text),
            f("created_at", K::Timestamp),
            f("updated_at", K::Timestamp),
        ],
        joins: &[Join {
            table: "segments",
            alias: "s",
            on: "segment_id",
        }],
    },
    Dataset {
        name: "revenue_movements",
        table: "revenue_movements",
        changed_at: "updated_at",
        access: Access::Permission(Permission::ReadOrgData),
        fields: &[
            f("id", K::Uuid),
            f("external_id", K::Text),
            f("account_id", K::Uuid),
            joined("account_external_id", "a", "external_id", K::Text),
            f("effective_on", K::Date),
            f("kind", K::Text),
            f("amount", K::Decimal),
            f("recorded_by", K::Text),
            f("created_at", K::Timestamp),
            f("updated_at", K::Timestamp),
        ],
        joins: &[Join {
            table: "accounts",
            alias: "a",
            on: "account_id",
        }],
    },
    Dataset {
        name: "check_ins",
        table: "check_ins",
        changed_at: "created_at",
        access: Access::Permission(Permission::ReadOrgData),
        fields: &[
            f("id", K::Uuid),
            f("key_result_id", K::Uuid),
            f("value", K::Decimal),
            f("confidence", K::SmallInt),
            f("note", K::Text),
            f("author", K::Text),
            f("created_at", K::Timestamp),
        ],
        joins: &[],
    },
    Dataset {
        name: "payout_statements",
        table: "payout_statements",
        changed_at: "computed_at",
        access: Access::PersonalPay {
            person_column: "person_id",
        },
        fields: &[
            f("id", K::Uuid),
            f("plan_id", K::Uuid),
            f("person_id", K::Uuid),
            joined("person_external_id", "p", "external_id", K::Text),
            f("version", K::Int),
            f("currency", K::Text),
            f("total", K::Decimal),
            f("computed_by", K::Text),
            f("computed_at", K::Timestamp),
        ],
        joins: &[Join {
            table: "people",
            alias: "p",
            on: "person_id",
        }],
    },
    Dataset {
        name: "tombstones",
        table: "tombstones",
        changed_at: "removed_at",
        access: Access::Permission(Permission::ReadOrgData),
        fields: &[
            f("id", K::Uuid),
            f("dataset", K::Text),
            f("entity_id", K::Text),
            f("natural_key", K::Text),
            f("removed_at", K::Timestamp),
        ],
        joins: &[],
    },
];

/// A dataset by name.
pub fn dataset(name: &str) -> Option<&'static Dataset> {
    DATASETS.iter().find(|d| d.name == name)
}

/// One exported value.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportValue {
    /// No value.
    Null,
    /// A row id.
    Uuid(Uuid),
    /// Text.
    Text(String),
    /// An exact decimal.
    Decimal(Decimal),
    /// A date.
    Date(NaiveDate),
    /// A point in time.
    Timestamp(DateTime<Utc>),
    /// An integer.
    Int(i64),
    /// True or false.
    Bool(bool),
}

/// One exported row: its position in change order and the selected values.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRow {
    /// Where the row sits; pass it as `after` to resume behind it.
    pub cursor: SyncCursor,
    /// The values of the selected fields, in selection order.
    pub values: Vec<ExportValue>,
}

fn read(row: &QueryResult, index: usize, kind: FieldKind) -> Result<ExportValue, sea_orm::DbErr> {
    fn get<T: sea_orm::TryGetable>(
        row: &QueryResult,
        index: usize,
    ) -> Result<Option<T>, sea_orm::DbErr> {
        row.try_get_by_index::<Option<T>>(index)
    }
    Ok(match kind {
        K::Uuid => get::<Uuid>(row, index)?.map(ExportValue::Uuid),
        K::Text => get::<String>(row, index)?.map(ExportValue::Text),
        K::Decimal => get::<ExactDecimal>(row, index)?.map(|d| ExportValue::Decimal(d.0)),
        K::Date => get::<NaiveDate>(row, index)?.map(ExportValue::Date),
        K::Timestamp => get::<DateTime<Utc>>(row, index)?.map(ExportValue::Timestamp),
        K::SmallInt => get::<i16>(row, index)?.map(|v| ExportValue::Int(v.into())),
        K::Int => get::<i32>(row, index)?.map(|v| ExportValue::Int(v.into())),
        K::Bool => get::<bool>(row, index)?.map(ExportValue::Bool),
    }
    .unwrap_or(ExportValue::Null))
}

impl Tenant {
    /// Reads the next chunk of a dataset in (change time, id) order: the `fields` of at most
    /// `window.first` rows of this organization. `people` limits rows to those people for
    /// datasets of personal pay.
    pub async fn export_chunk(
        &self,
        dataset: &Dataset,
        fields: &[&Field],
        people: Option<&[Uuid]>,
        window: &SyncWindow,
    ) -> StoreResult<Vec<ExportRow>> {
        let t = Alias::new("t");
        let col = |table: &str, column: &str| (Alias::new(table), Alias::new(column));
        let mut q = Query::select();
        q.from_as(Alias::new(dataset.table), t.clone());
        for join in dataset.joins {
            q.join_as(
                JoinType::LeftJoin,
                Alias::new(join.table),
                Alias::new(join.alias),
                Expr::col(col(join.alias, "org_id"))
                    .equals(col("t", "org_id"))
                    .and(Expr::col(col(join.alias, "id")).equals(col("t", join.on))),
            );
        }
        q.column(col("t", dataset.changed_at))
            .column(col("t", "id"));
        for field in fields {
            q.column(col(field.from, field.column));
        }
        let changed = col("t", dataset.changed_at);
        q.and_where(Expr::col(col("t", "org_id")).eq(self.org_id))
            .and_where(Expr::col(changed.clone()).lte(window.until));
        if let Some(since) = window.since {
            q.and_where(Expr::col(changed.clone()).gte(since));
        }
        if let Some(cursor) = window.after {
            q.and_where(after_cursor(changed.clone(), col("t", "id"), cursor));
        }
        if let (Access::PersonalPay { person_column }, Some(ids)) = (dataset.access, people) {
            q.and_where(Expr::col(col("t", person_column)).is_in(ids.iter().copied()));
        }
        q.order_by(changed, Order::Asc)
            .order_by(col("t", "id"), Order::Asc)
            .limit(window.first);
        let rows = self.db().query_all(&q).await?;
        rows.iter()
            .map(|row| {
                let changed_at: DateTime<Utc> = row.try_get_by_index(0)?;
                let id: Uuid = row.try_get_by_index(1)?;
                let values = fields
                    .iter()
                    .enumerate()
                    .map(|(i, field)| read(row, i + 2, field.kind))
                    .collect::<Result<_, _>>()?;
                Ok(ExportRow {
                    cursor: SyncCursor { changed_at, id },
                    values,
                })
            })
            .collect::<Result<_, sea_orm::DbErr>>()
            .map_err(StoreError::from)
    }
}
