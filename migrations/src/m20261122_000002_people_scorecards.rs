//! Organization settings, teams, people, job roles, role assignments, and scorecards with
//! their weighted KPI items.

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
enum Metrics {
    Table,
}

#[derive(DeriveIden)]
enum Segments {
    Table,
}

#[derive(DeriveIden)]
enum OrganizationSettings {
    Table,
    OrgId,
    MaxPerspectiveShare,
    RequireCustomerLink,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Teams {
    Table,
    OrgId,
    Id,
    ExternalId,
    Name,
    ParentId,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum People {
    Table,
    OrgId,
    Id,
    ExternalId,
    Name,
    Email,
    Subject,
    ManagerId,
    TeamId,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum JobRoles {
    Table,
    OrgId,
    Id,
    Key,
    Name,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PersonRoles {
    Table,
    OrgId,
    PersonId,
    RoleId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Scorecards {
    Table,
    OrgId,
    Id,
    Name,
    OwnerKind,
    RoleId,
    TeamId,
    GreenScore,
    AmberScore,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ScorecardItems {
    Table,
    OrgId,
    Id,
    ScorecardId,
    MetricId,
    SegmentId,
    ScopeKey,
    Weight,
    Target,
    Green,
    Amber,
    Position,
    CreatedAt,
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

fn uuid_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).uuid().null().take()
}

fn text(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().not_null().take()
}

fn text_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().null().take()
}

fn flag(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).boolean().not_null().take()
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

async fn unique(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    cols: Vec<DynIden>,
) -> Result<(), DbErr> {
    let mut index = Index::create().name(name).table(table).unique().take();
    for col in cols {
        index.col(col);
    }
    manager.create_index(index).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();

        manager
            .create_table(
                Table::create()
                    .table(OrganizationSettings::Table)
                    .col(uuid(OrganizationSettings::OrgId).primary_key())
                    .col(exact_decimal(
                        OrganizationSettings::MaxPerspectiveShare,
                        backend,
                    ))
                    .col(
                        ColumnDef::new(OrganizationSettings::RequireCustomerLink)
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .col(timestamp(OrganizationSettings::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(OrganizationSettings::Table, OrganizationSettings::OrgId)
                            .to(Organizations::Table, Organizations::Id),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Teams::Table)
                    .col(uuid(Teams::OrgId))
                    .col(uuid(Teams::Id))
                    .col(text(Teams::ExternalId))
                    .col(text(Teams::Name))
                    .col(uuid_null(Teams::ParentId))
                    .col(flag(Teams::Active))
                    .col(timestamp(Teams::CreatedAt))
                    .col(timestamp(Teams::UpdatedAt))
                    .primary_key(Index::create().col(Teams::OrgId).col(Teams::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Teams::Table, Teams::OrgId)
                            .to(Organizations::Table, Organizations::Id),
                    )
                    .foreign_key(&mut tenant_fk(Teams::Table, Teams::ParentId, Teams::Table))
                    .to_owned(),
            )
            .await?;
        unique(
            manager,
            "ux_teams_org_external_id",
            Teams::Table,
            vec![Teams::OrgId.into_iden(), Teams::ExternalId.into_iden()],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(People::Table)
                    .col(uuid(People::OrgId))
                    .col(uuid(People::Id))
                    .col(text(People::ExternalId))
                    .col(text(People::Name))
                    .col(text_null(People::Email))
                    .col(text_null(People::Subject))
                    .col(uuid_null(People::ManagerId))
                    .col(uuid_null(People::TeamId))
                    .col(flag(People::Active))
                    .col(timestamp(People::CreatedAt))
                    .col(timestamp(People::UpdatedAt))
                    .primary_key(Index::create().col(People::OrgId).col(People::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(People::Table, People::OrgId)
                            .to(Organizations::Table, Organizations::Id),
                    )
                    .foreign_key(&mut tenant_fk(
                        People::Table,
                        People::ManagerId,
                        People::Table,
                    ))
                    .foreign_key(&mut tenant_fk(People::Table, People::TeamId, Teams::Table))
                    .to_owned(),
            )
            .await?;
        unique(
            manager,
            "ux_people_org_external_id",
            People::Table,
            vec![People::OrgId.into_iden(), People::ExternalId.into_iden()],
        )
        .await?;
        unique(
            manager,
            "ux_people_org_subject",
            People::Table,
            vec![People::OrgId.into_iden(), People::Subject.into_iden()],
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_people_org_manager")
                    .table(People::Table)
                    .col(People::OrgId)
                    .col(People::ManagerId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(JobRoles::Table)
                    .col(uuid(JobRoles::OrgId))
                    .col(uuid(JobRoles::Id))
                    .col(text(JobRoles::Key))
                    .col(text(JobRoles::Name))
                    .col(flag(JobRoles::Active))
                    .col(timestamp(JobRoles::CreatedAt))
                    .col(timestamp(JobRoles::UpdatedAt))
                    .primary_key(Index::create().col(JobRoles::OrgId).col(JobRoles::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(JobRoles::Table, JobRoles::OrgId)
                            .to(Organizations::Table, Organizations::Id),
                    )
                    .to_owned(),
            )
            .await?;
        unique(
            manager,
            "ux_job_roles_org_key",
            JobRoles::Table,
            vec![JobRoles::OrgId.into_iden(), JobRoles::Key.into_iden()],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(PersonRoles::Table)
                    .col(uuid(PersonRoles::OrgId))
                    .col(uuid(PersonRoles::PersonId))
                    .col(uuid(PersonRoles::RoleId))
                    .col(timestamp(PersonRoles::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(PersonRoles::OrgId)
                            .col(PersonRoles::PersonId)
                            .col(PersonRoles::RoleId),
                    )
                    .foreign_key(&mut tenant_fk(
                        PersonRoles::Table,
                        PersonRoles::PersonId,
                        People::Table,
                    ))
                    .foreign_key(&mut tenant_fk(
                        PersonRoles::Table,
                        PersonRoles::RoleId,
                        JobRoles::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_person_roles_org_role")
                    .table(PersonRoles::Table)
                    .col(PersonRoles::OrgId)
                    .col(PersonRoles::RoleId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Scorecards::Table)
                    .col(uuid(Scorecards::OrgId))
                    .col(uuid(Scorecards::Id))
                    .col(text(Scorecards::Name))
                    .col(text(Scorecards::OwnerKind))
                    .col(uuid_null(Scorecards::RoleId))
                    .col(uuid_null(Scorecards::TeamId))
                    .col(exact_decimal(Scorecards::GreenScore, backend))
                    .col(exact_decimal(Scorecards::AmberScore, backend))
                    .col(timestamp(Scorecards::CreatedAt))
                    .col(timestamp(Scorecards::UpdatedAt))
                    .primary_key(Index::create().col(Scorecards::OrgId).col(Scorecards::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Scorecards::Table, Scorecards::OrgId)
                            .to(Organizations::Table, Organizations::Id),
                    )
                    .foreign_key(&mut tenant_fk(
                        Scorecards::Table,
                        Scorecards::RoleId,
                        JobRoles::Table,
                    ))
                    .foreign_key(&mut tenant_fk(
                        Scorecards::Table,
                        Scorecards::TeamId,
                        Teams::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        // One KPI assignment per role and one scorecard per team; company scorecards are many.
        unique(
            manager,
            "ux_scorecards_org_role",
            Scorecards::Table,
            vec![
                Scorecards::OrgId.into_iden(),
                Scorecards::RoleId.into_iden(),
            ],
        )
        .await?;
        unique(
            manager,
            "ux_scorecards_org_team",
            Scorecards::Table,
            vec![
                Scorecards::OrgId.into_iden(),
                Scorecards::TeamId.into_iden(),
            ],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ScorecardItems::Table)
                    .col(uuid(ScorecardItems::OrgId))
                    .col(uuid(ScorecardItems::Id))
                    .col(uuid(ScorecardItems::ScorecardId))
                    .col(uuid(ScorecardItems::MetricId))
                    .col(uuid_null(ScorecardItems::SegmentId))
                    .col(text(ScorecardItems::ScopeKey))
                    .col(exact_decimal(ScorecardItems::Weight, backend))
                    .col(exact_decimal(ScorecardItems::Target, backend))
                    .col(exact_decimal(ScorecardItems::Green, backend))
                    .col(exact_decimal(ScorecardItems::Amber, backend))
                    .col(
                        ColumnDef::new(ScorecardItems::Position)
                            .integer()
                            .not_null(),
                    )
                    .col(timestamp(ScorecardItems::CreatedAt))
                    .col(timestamp(ScorecardItems::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(ScorecardItems::OrgId)
                            .col(ScorecardItems::Id),
                    )
                    .foreign_key(&mut tenant_fk(
                        ScorecardItems::Table,
                        ScorecardItems::ScorecardId,
                        Scorecards::Table,
                    ))
                    .foreign_key(&mut tenant_fk(
                        ScorecardItems::Table,
                        ScorecardItems::MetricId,
                        Metrics::Table,
                    ))
                    .foreign_key(&mut tenant_fk(
                        ScorecardItems::Table,
                        ScorecardItems::SegmentId,
                        Segments::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        unique(
            manager,
            "ux_scorecard_items_natural_key",
            ScorecardItems::Table,
            vec![
                ScorecardItems::OrgId.into_iden(),
                ScorecardItems::ScorecardId.into_iden(),
                ScorecardItems::MetricId.into_iden(),
                ScorecardItems::ScopeKey.into_iden(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ScorecardItems::Table.into_iden(),
            Scorecards::Table.into_iden(),
            PersonRoles::Table.into_iden(),
            JobRoles::Table.into_iden(),
            People::Table.into_iden(),
            Teams::Table.into_iden(),
            OrganizationSettings::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
