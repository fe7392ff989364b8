//! The last status published for each scorecard and period, so live updates announce a
//! scorecard's status only when it changes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Scorecards {
    Table,
}

#[derive(DeriveIden, Clone, Copy)]
enum ScorecardStatuses {
    Table,
    OrgId,
    ScorecardId,
    Granularity,
    PeriodStart,
    Status,
    Score,
    UpdatedAt,
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

fn text(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().not_null().take()
}

/// A foreign key `(org_id, col) -> table(org_id, id)`: never across tenants.
fn tenant_fk(
    from_table: impl IntoIden,
    from_col: impl IntoIden,
    to_table: impl IntoIden,
) -> ForeignKeyCreateStatement {
    let org = Alias::new("org_id");
    ForeignKey::create()
        .from_tbl(from_table)
        .from_col(org.clone())
        .from_col(from_col)
        .to_tbl(to_table)
        .to_col(org)
        .to_col(Alias::new("id"))
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table(ScorecardStatuses::Table)
                    .col(uuid(ScorecardStatuses::OrgId))
                    .col(uuid(ScorecardStatuses::ScorecardId))
                    .col(text(ScorecardStatuses::Granularity))
                    .col(
                        ColumnDef::new(ScorecardStatuses::PeriodStart)
                            .date()
                            .not_null(),
                    )
                    .col(text(ScorecardStatuses::Status))
                    .col(exact_decimal(ScorecardStatuses::Score, backend))
                    .col(
                        ColumnDef::new(ScorecardStatuses::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(ScorecardStatuses::OrgId)
                            .col(ScorecardStatuses::ScorecardId)
                            .col(ScorecardStatuses::Granularity)
                            .col(ScorecardStatuses::PeriodStart),
                    )
                    .foreign_key(&mut tenant_fk(
                        ScorecardStatuses::Table,
                        ScorecardStatuses::ScorecardId,
                        Scorecards::Table,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ScorecardStatuses::Table).to_owned())
            .await
    }
}
