//! Incentive plans with components, customer gates and assignees; payout statements.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum People {
    Table,
}

#[derive(DeriveIden)]
enum JobRoles {
    Table,
}

#[derive(DeriveIden)]
enum Metrics {
    Table,
}

#[derive(DeriveIden)]
enum Segments {
    Table,
}

#[derive(DeriveIden)]
enum IncentivePlans {
    Table,
    OrgId,
    Id,
    Name,
    PeriodStart,
    Granularity,
    TargetAmount,
    Currency,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PlanAssignees {
    Table,
    OrgId,
    PlanId,
    AssigneeKey,
    RoleId,
    PersonId,
}

#[derive(DeriveIden)]
enum PlanComponents {
    Table,
    OrgId,
    Id,
    PlanId,
    Position,
    Name,
    MetricId,
    SegmentId,
    Target,
    Weight,
    Curve,
    Threshold,
    Cap,
}

#[derive(DeriveIden)]
enum PlanGates {
    Table,
    OrgId,
    Id,
    PlanId,
    Position,
    MetricId,
    Target,
    MinAttainment,
    Factor,
}

#[derive(DeriveIden)]
enum PayoutStatements {
    Table,
    OrgId,
    Id,
    PlanId,
    PersonId,
    Version,
    Currency,
    Total,
    Lines,
    ComputedBy,
    ComputedAt,
}

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

fn uuid_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).uuid().null().take()
}

fn text(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().not_null().take()
}

fn int(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).integer().not_null().take()
}

fn timestamp(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .take()
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
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table(IncentivePlans::Table)
                    .col(uuid(IncentivePlans::OrgId))
                    .col(uuid(IncentivePlans::Id))
                    .col(text(IncentivePlans::Name))
                    .col(
                        ColumnDef::new(IncentivePlans::PeriodStart)
                            .date()
                            .not_null(),
                    )
                    .col(text(IncentivePlans::Granularity))
                    .col(exact_decimal(IncentivePlans::TargetAmount, backend))
                    .col(text(IncentivePlans::Currency))
                    .col(text(IncentivePlans::CreatedBy))
                    .col(timestamp(IncentivePlans::CreatedAt))
                    .col(timestamp(IncentivePlans::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(IncentivePlans::OrgId)
                            .col(IncentivePlans::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(IncentivePlans::Table, IncentivePlans::OrgId)
                            .to(Organizations::Table, Organizations::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PlanAssignees::Table)
                    .col(uuid(PlanAssignees::OrgId))
                    .col(uuid(PlanAssignees::PlanId))
                    .col(text(PlanAssignees::AssigneeKey))
                    .col(uuid_null(PlanAssignees::RoleId))
                    .col(uuid_null(PlanAssignees::PersonId))
                    .primary_key(
                        Index::create()
                            .col(PlanAssignees::OrgId)
                            .col(PlanAssignees::PlanId)
                            .col(PlanAssignees::AssigneeKey),
                    )
                    .foreign_key(&mut tenant_fk(
                        PlanAssignees::Table,
                        PlanAssignees::PlanId,
                        IncentivePlans::Table,
                    ))
                    .foreign_key(&mut tenant_fk(
                        PlanAssignees::Table,
                        PlanAssignees::RoleId,
                        JobRoles::Table,
                    ))
                    .foreign_key(&mut tenant_fk(
                        PlanAssignees::Table,
                        PlanAssignees::PersonId,
                        People::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PlanComponents::Table)
                    .col(uuid(PlanComponents::OrgId))
                    .col(uuid(PlanComponents::Id))
                    .col(uuid(PlanComponents::PlanId))
                    .col(int(PlanComponents::Position))
                    .col(text(PlanComponents::Name))
                    .col(uuid(PlanComponents::MetricId))
                    .col(uuid_null(PlanComponents::SegmentId))
                    .col(exact_decimal(PlanComponents::Target, backend))
                    .col(exact_decimal(PlanComponents::Weight, backend))
                    .col(
                        ColumnDef::new(PlanComponents::Curve)
                            .json_binary()
                            .not_null(),
                    )
                    .col(exact_decimal(PlanComponents::Threshold, backend))
                    .col(exact_decimal(PlanComponents::Cap, backend))
                    .primary_key(
                        Index::create()
                            .col(PlanComponents::OrgId)
                            .col(PlanComponents::Id),
                    )
                    .foreign_key(&mut tenant_fk(
                        PlanComponents::Table,
                        PlanComponents::PlanId,
                        IncentivePlans::Table,
                    ))
                    .foreign_key(&mut tenant_fk(
                        PlanComponents::Table,
                        PlanComponents::MetricId,
                        Metrics::Table,
                    ))
                    .foreign_key(&mut tenant_fk(
                        PlanComponents::Table,
                        PlanComponents::SegmentId,
                        Segments::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PlanGates::Table)
                    .col(uuid(PlanGates::OrgId))
                    .col(uuid(PlanGates::Id))
                    .col(uuid(PlanGates::PlanId))
                    .col(int(PlanGates::Position))
                    .col(uuid(PlanGates::MetricId))
                    .col(exact_decimal(PlanGates::Target, backend))
                    .col(exact_decimal(PlanGates::MinAttainment, backend))
                    .col(exact_decimal(PlanGates::Factor, backend))
                    .primary_key(Index::create().col(PlanGates::OrgId).col(PlanGates::Id))
                    .foreign_key(&mut tenant_fk(
                        PlanGates::Table,
                        PlanGates::PlanId,
                        IncentivePlans::Table,
                    ))
                    .foreign_key(&mut tenant_fk(
                        PlanGates::Table,
                        PlanGates::MetricId,
                        Metrics::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PayoutStatements::Table)
                    .col(uuid(PayoutStatements::OrgId))
                    .col(uuid(PayoutStatements::Id))
                    .col(uuid(PayoutStatements::PlanId))
                    .col(uuid(PayoutStatements::PersonId))
                    .col(int(PayoutStatements::Version))
                    .col(text(PayoutStatements::Currency))
                    .col(exact_decimal(PayoutStatements::Total, backend))
                    .col(
                        ColumnDef::new(PayoutStatements::Lines)
                            .json_binary()
                            .not_null(),
                    )
                    .col(text(PayoutStatements::ComputedBy))
                    .col(timestamp(PayoutStatements::ComputedAt))
                    .primary_key(
                        Index::create()
                            .col(PayoutStatements::OrgId)
                            .col(PayoutStatements::Id),
                    )
                    .foreign_key(&mut tenant_fk(
                        PayoutStatements::Table,
                        PayoutStatements::PlanId,
                        IncentivePlans::Table,
                    ))
                    .foreign_key(&mut tenant_fk(
                        PayoutStatements::Table,
                        PayoutStatements::PersonId,
                        People::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_payout_statements_version")
                    .table(PayoutStatements::Table)
                    .col(PayoutStatements::OrgId)
                    .col(PayoutStatements::PlanId)
                    .col(PayoutStatements::PersonId)
                    .col(PayoutStatements::Version)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PayoutStatements::Table.into_iden(),
            PlanGates::Table.into_iden(),
            PlanComponents::Table.into_iden(),
            PlanAssignees::Table.into_iden(),
            IncentivePlans::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
