//! Each account's MRR month by month (opening, movements by kind, closing), kept in step with
//! its movements so retention over whole months reads one row per account and month instead
//! of every movement. Rows exist from an account's first movement month to its last;
//! `latest` marks the last, whose closing MRR holds for every later month. Each row carries its
//! account's segment so figures by segment need no join.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Accounts {
    Table,
}

#[derive(DeriveIden, Clone, Copy)]
enum AccountMrrMonths {
    Table,
    OrgId,
    AccountId,
    SegmentId,
    Month,
    OpeningMrr,
    NewMrr,
    ExpansionMrr,
    ContractionMrr,
    ChurnedMrr,
    ClosingMrr,
    Latest,
}

/// Exact decimals: `NUMERIC` on PostgreSQL, canonical text on SQLite.
fn exact_decimal(col: impl IntoIden, backend: DbBackend) -> ColumnDef {
    let mut def = ColumnDef::new(col);
    match backend {
        DbBackend::Sqlite => def.text(),
        _ => def.decimal(),
    };
    def.not_null().take()
}

fn uuid(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).uuid().not_null().take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let org = Alias::new("org_id");
        manager
            .create_table(
                Table::create()
                    .table(AccountMrrMonths::Table)
                    .col(uuid(AccountMrrMonths::OrgId))
                    .col(uuid(AccountMrrMonths::AccountId))
                    .col(ColumnDef::new(AccountMrrMonths::SegmentId).uuid().null())
                    .col(ColumnDef::new(AccountMrrMonths::Month).date().not_null())
                    .col(exact_decimal(AccountMrrMonths::OpeningMrr, backend))
                    .col(exact_decimal(AccountMrrMonths::NewMrr, backend))
                    .col(exact_decimal(AccountMrrMonths::ExpansionMrr, backend))
                    .col(exact_decimal(AccountMrrMonths::ContractionMrr, backend))
                    .col(exact_decimal(AccountMrrMonths::ChurnedMrr, backend))
                    .col(exact_decimal(AccountMrrMonths::ClosingMrr, backend))
                    .col(
                        ColumnDef::new(AccountMrrMonths::Latest)
                            .boolean()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(AccountMrrMonths::OrgId)
                            .col(AccountMrrMonths::AccountId)
                            .col(AccountMrrMonths::Month),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(AccountMrrMonths::Table)
                            .from_col(org.clone())
                            .from_col(AccountMrrMonths::AccountId)
                            .to_tbl(Accounts::Table)
                            .to_col(org)
                            .to_col(Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Whole-month retention reads every account's row for some months from this index
        // alone on PostgreSQL; SQLite has no INCLUDE and reads the rows.
        let by_month = match backend {
            DbBackend::Postgres => {
                "CREATE INDEX ix_account_mrr_months_month ON account_mrr_months (org_id, month) \
                 INCLUDE (account_id, segment_id, opening_mrr, new_mrr, expansion_mrr, \
                 contraction_mrr, churned_mrr, closing_mrr, latest)"
            }
            _ => "CREATE INDEX ix_account_mrr_months_month ON account_mrr_months (org_id, month)",
        };
        manager
            .get_connection()
            .execute_unprepared(by_month)
            .await?;
        // The accounts' last months, read for periods after an account's last movement.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_account_mrr_months_latest \
                 ON account_mrr_months (org_id, month) WHERE latest",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AccountMrrMonths::Table).to_owned())
            .await
    }
}
