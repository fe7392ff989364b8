//! Goals with links and cascading parents, objectives, key results and check-ins.

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
enum Teams {
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
enum Goals {
    Table,
    OrgId,
    Id,
    Title,
    Description,
    Perspective,
    OwnerPersonId,
    OwnerTeamId,
    PeriodStart,
    PeriodEnd,
    Status,
    ParentId,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum GoalLinks {
    Table,
    OrgId,
    LowGoalId,
    HighGoalId,
    Rationale,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Objectives {
    Table,
    OrgId,
    Id,
    GoalId,
    Title,
    OwnerPersonId,
    OwnerTeamId,
    PeriodStart,
    PeriodEnd,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum KeyResults {
    Table,
    OrgId,
    Id,
    ObjectiveId,
    Title,
    Baseline,
    Target,
    Weight,
    MetricId,
    SegmentId,
    OwnerPersonId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CheckIns {
    Table,
    OrgId,
    Id,
    KeyResultId,
    Value,
    Confidence,
    Note,
    Author,
    CreatedAt,
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

fn text_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().null().take()
}

fn date(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).date().not_null().take()
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

async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    cols: Vec<DynIden>,
) -> Result<(), DbErr> {
    let mut index = Index::create().name(name).table(table).take();
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
                    .table(Goals::Table)
                    .col(uuid(Goals::OrgId))
                    .col(uuid(Goals::Id))
                    .col(text(Goals::Title))
                    .col(text_null(Goals::Description))
                    .col(text(Goals::Perspective))
                    .col(uuid_null(Goals::OwnerPersonId))
                    .col(uuid_null(Goals::OwnerTeamId))
                    .col(date(Goals::PeriodStart))
                    .col(date(Goals::PeriodEnd))
                    .col(text(Goals::Status))
                    .col(uuid_null(Goals::ParentId))
                    .col(text(Goals::CreatedBy))
                    .col(timestamp(Goals::CreatedAt))
                    .col(timestamp(Goals::UpdatedAt))
                    .primary_key(Index::create().col(Goals::OrgId).col(Goals::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Goals::Table, Goals::OrgId)
                            .to(Organizations::Table, Organizations::Id),
                    )
                    .foreign_key(&mut tenant_fk(
                        Goals::Table,
                        Goals::OwnerPersonId,
                        People::Table,
                    ))
                    .foreign_key(&mut tenant_fk(
                        Goals::Table,
                        Goals::OwnerTeamId,
                        Teams::Table,
                    ))
                    .foreign_key(&mut tenant_fk(Goals::Table, Goals::ParentId, Goals::Table))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_goals_org_parent",
            Goals::Table,
            vec![Goals::OrgId.into_iden(), Goals::ParentId.into_iden()],
        )
        .await?;
        index(
            manager,
            "ix_goals_org_period",
            Goals::Table,
            vec![Goals::OrgId.into_iden(), Goals::PeriodStart.into_iden()],
        )
        .await?;

        // A link is one pair of goals whichever way it was made: stored as (lower id, higher id).
        manager
            .create_table(
                Table::create()
                    .table(GoalLinks::Table)
                    .col(uuid(GoalLinks::OrgId))
                    .col(uuid(GoalLinks::LowGoalId))
                    .col(uuid(GoalLinks::HighGoalId))
                    .col(text(GoalLinks::Rationale))
                    .col(text(GoalLinks::CreatedBy))
                    .col(timestamp(GoalLinks::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(GoalLinks::OrgId)
                            .col(GoalLinks::LowGoalId)
                            .col(GoalLinks::HighGoalId),
                    )
                    .foreign_key(&mut tenant_fk(
                        GoalLinks::Table,
                        GoalLinks::LowGoalId,
                        Goals::Table,
                    ))
                    .foreign_key(&mut tenant_fk(
                        GoalLinks::Table,
                        GoalLinks::HighGoalId,
                        Goals::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_goal_links_org_high",
            GoalLinks::Table,
            vec![
                GoalLinks::OrgId.into_iden(),
                GoalLinks::HighGoalId.into_iden(),
            ],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Objectives::Table)
                    .col(uuid(Objectives::OrgId))
                    .col(uuid(Objectives::Id))
                    .col(uuid(Objectives::GoalId))
                    .col(text(Objectives::Title))
                    .col(uuid_null(Objectives::OwnerPersonId))
                    .col(uuid_null(Objectives::OwnerTeamId))
                    .col(date(Objectives::PeriodStart))
                    .col(date(Objectives::PeriodEnd))
                    .col(timestamp(Objectives::CreatedAt))
                    .col(timestamp(Objectives::UpdatedAt))
                    .primary_key(Index::create().col(Objectives::OrgId).col(Objectives::Id))
                    .foreign_key(&mut tenant_fk(
                        Objectives::Table,
                        Objectives::GoalId,
                        Goals::Table,
                    ))
                    .foreign_key(&mut tenant_fk(
                        Objectives::Table,
                        Objectives::OwnerPersonId,
                        People::Table,
                    ))
                    .foreign_key(&mut tenant_fk(
                        Objectives::Table,
                        Objectives::OwnerTeamId,
                        Teams::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_objectives_org_goal",
            Objectives::Table,
            vec![
                Objectives::OrgId.into_iden(),
                Objectives::GoalId.into_iden(),
            ],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(KeyResults::Table)
                    .col(uuid(KeyResults::OrgId))
                    .col(uuid(KeyResults::Id))
                    .col(uuid(KeyResults::ObjectiveId))
                    .col(text(KeyResults::Title))
                    .col(exact_decimal(KeyResults::Baseline, backend))
                    .col(exact_decimal(KeyResults::Target, backend))
                    .col(exact_decimal(KeyResults::Weight, backend))
                    .col(uuid_null(KeyResults::MetricId))
                    .col(uuid_null(KeyResults::SegmentId))
                    .col(uuid_null(KeyResults::OwnerPersonId))
                    .col(timestamp(KeyResults::CreatedAt))
                    .col(timestamp(KeyResults::UpdatedAt))
                    .primary_key(Index::create().col(KeyResults::OrgId).col(KeyResults::Id))
                    .foreign_key(&mut tenant_fk(
                        KeyResults::Table,
                        KeyResults::ObjectiveId,
                        Objectives::Table,
                    ))
                    .foreign_key(&mut tenant_fk(
                        KeyResults::Table,
                        KeyResults::MetricId,
                        Metrics::Table,
                    ))
                    .foreign_key(&mut tenant_fk(
                        KeyResults::Table,
                        KeyResults::SegmentId,
                        Segments::Table,
                    ))
                    .foreign_key(&mut tenant_fk(
                        KeyResults::Table,
                        KeyResults::OwnerPersonId,
                        People::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_key_results_org_objective",
            KeyResults::Table,
            vec![
                KeyResults::OrgId.into_iden(),
                KeyResults::ObjectiveId.into_iden(),
            ],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(CheckIns::Table)
                    .col(uuid(CheckIns::OrgId))
                    .col(uuid(CheckIns::Id))
                    .col(uuid(CheckIns::KeyResultId))
                    .col(exact_decimal(CheckIns::Value, backend))
                    .col(
                        ColumnDef::new(CheckIns::Confidence)
                            .small_integer()
                            .not_null(),
                    )
                    .col(text_null(CheckIns::Note))
                    .col(text(CheckIns::Author))
                    .col(timestamp(CheckIns::CreatedAt))
                    .primary_key(Index::create().col(CheckIns::OrgId).col(CheckIns::Id))
                    .foreign_key(&mut tenant_fk(
                        CheckIns::Table,
                        CheckIns::KeyResultId,
                        KeyResults::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_check_ins_org_key_result",
            CheckIns::Table,
            vec![
                CheckIns::OrgId.into_iden(),
                CheckIns::KeyResultId.into_iden(),
                CheckIns::CreatedAt.into_iden(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            CheckIns::Table.into_iden(),
            KeyResults::Table.into_iden(),
            Objectives::Table.into_iden(),
            GoalLinks::Table.into_iden(),
            Goals::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
