//! Review forums and sessions, trade-off rules with guards, decisions, maturity assessments.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum People {
    Table,
}

#[derive(DeriveIden, Clone, Copy)]
enum Goals {
    Table,
}

#[derive(DeriveIden, Clone, Copy)]
enum Scorecards {
    Table,
}

#[derive(DeriveIden, Clone, Copy)]
enum Metrics {
    Table,
}

#[derive(DeriveIden, Clone, Copy)]
enum Forums {
    Table,
    OrgId,
    Id,
    Name,
    Cadence,
    SetUpOn,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ForumMembers {
    Table,
    ForumId,
    PersonId,
}

#[derive(DeriveIden, Clone, Copy)]
enum ReviewSessions {
    Table,
    OrgId,
    Id,
    ForumId,
    HeldOn,
    Notes,
    DashboardsUsed,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum SessionAttendees {
    Table,
    SessionId,
    PersonId,
}

#[derive(DeriveIden, Clone, Copy)]
enum SessionGoals {
    Table,
    SessionId,
    GoalId,
}

#[derive(DeriveIden, Clone, Copy)]
enum SessionScorecards {
    Table,
    SessionId,
    ScorecardId,
}

#[derive(DeriveIden, Clone, Copy)]
enum TradeOffRules {
    Table,
    OrgId,
    Id,
    Kind,
    Statement,
    OwnerPersonId,
    GuardMetricId,
    GuardComparator,
    GuardThreshold,
    GuardGoalId,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Decisions {
    Table,
    OrgId,
    Id,
    Title,
    Context,
    Options,
    Outcome,
    Escalated,
    ResolvedByRule,
    SessionId,
    DecidedOn,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum DecisionRules {
    Table,
    DecisionId,
    RuleId,
}

#[derive(DeriveIden, Clone, Copy)]
enum MaturityAssessments {
    Table,
    OrgId,
    Id,
    Capability,
    Level,
    OwnerPersonId,
    Evidence,
    AssessedOn,
    CreatedBy,
    CreatedAt,
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

/// A join table `(org_id, left, right)` with tenant foreign keys to both sides.
fn join_table(
    table: impl IntoIden + Copy + 'static,
    left: impl IntoIden + Copy + 'static,
    left_to: impl IntoIden + Copy + 'static,
    right: impl IntoIden + Copy + 'static,
    right_to: impl IntoIden + Copy + 'static,
) -> TableCreateStatement {
    let org = Alias::new("org_id");
    Table::create()
        .table(table)
        .col(uuid(org.clone()))
        .col(uuid(left))
        .col(uuid(right))
        .primary_key(Index::create().col(org).col(left).col(right))
        .foreign_key(&mut tenant_fk(table, left, left_to))
        .foreign_key(&mut tenant_fk(table, right, right_to))
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let decimal = |col: TradeOffRules| {
            let mut def = ColumnDef::new(col);
            match backend {
                DbBackend::Sqlite => def.text(),
                _ => def.decimal(),
            };
            def.null().take()
        };
        manager
            .create_table(
                Table::create()
                    .table(Forums::Table)
                    .col(uuid(Forums::OrgId))
                    .col(uuid(Forums::Id))
                    .col(text(Forums::Name))
                    .col(text(Forums::Cadence))
                    .col(date(Forums::SetUpOn))
                    .col(timestamp(Forums::CreatedAt))
                    .col(timestamp(Forums::UpdatedAt))
                    .primary_key(Index::create().col(Forums::OrgId).col(Forums::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Forums::Table, Forums::OrgId)
                            .to(Organizations::Table, Organizations::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(join_table(
                ForumMembers::Table,
                ForumMembers::ForumId,
                Forums::Table,
                ForumMembers::PersonId,
                People::Table,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ReviewSessions::Table)
                    .col(uuid(ReviewSessions::OrgId))
                    .col(uuid(ReviewSessions::Id))
                    .col(uuid(ReviewSessions::ForumId))
                    .col(date(ReviewSessions::HeldOn))
                    .col(text_null(ReviewSessions::Notes))
                    .col(
                        ColumnDef::new(ReviewSessions::DashboardsUsed)
                            .json_binary()
                            .not_null(),
                    )
                    .col(text(ReviewSessions::CreatedBy))
                    .col(timestamp(ReviewSessions::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(ReviewSessions::OrgId)
                            .col(ReviewSessions::Id),
                    )
                    .foreign_key(&mut tenant_fk(
                        ReviewSessions::Table,
                        ReviewSessions::ForumId,
                        Forums::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(join_table(
                SessionAttendees::Table,
                SessionAttendees::SessionId,
                ReviewSessions::Table,
                SessionAttendees::PersonId,
                People::Table,
            ))
            .await?;
        manager
            .create_table(join_table(
                SessionGoals::Table,
                SessionGoals::SessionId,
                ReviewSessions::Table,
                SessionGoals::GoalId,
                Goals::Table,
            ))
            .await?;
        manager
            .create_table(join_table(
                SessionScorecards::Table,
                SessionScorecards::SessionId,
                ReviewSessions::Table,
                SessionScorecards::ScorecardId,
                Scorecards::Table,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TradeOffRules::Table)
                    .col(uuid(TradeOffRules::OrgId))
                    .col(uuid(TradeOffRules::Id))
                    .col(text(TradeOffRules::Kind))
                    .col(text(TradeOffRules::Statement))
                    .col(uuid_null(TradeOffRules::OwnerPersonId))
                    .col(uuid_null(TradeOffRules::GuardMetricId))
                    .col(text_null(TradeOffRules::GuardComparator))
                    .col(decimal(TradeOffRules::GuardThreshold))
                    .col(uuid_null(TradeOffRules::GuardGoalId))
                    .col(text(TradeOffRules::CreatedBy))
                    .col(timestamp(TradeOffRules::CreatedAt))
                    .col(timestamp(TradeOffRules::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(TradeOffRules::OrgId)
                            .col(TradeOffRules::Id),
                    )
                    .foreign_key(&mut tenant_fk(
                        TradeOffRules::Table,
                        TradeOffRules::OwnerPersonId,
                        People::Table,
                    ))
                    .foreign_key(&mut tenant_fk(
                        TradeOffRules::Table,
                        TradeOffRules::GuardMetricId,
                        Metrics::Table,
                    ))
                    .foreign_key(&mut tenant_fk(
                        TradeOffRules::Table,
                        TradeOffRules::GuardGoalId,
                        Goals::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Decisions::Table)
                    .col(uuid(Decisions::OrgId))
                    .col(uuid(Decisions::Id))
                    .col(text(Decisions::Title))
                    .col(text(Decisions::Context))
                    .col(ColumnDef::new(Decisions::Options).json_binary().not_null())
                    .col(text(Decisions::Outcome))
                    .col(ColumnDef::new(Decisions::Escalated).boolean().not_null())
                    .col(
                        ColumnDef::new(Decisions::ResolvedByRule)
                            .boolean()
                            .not_null(),
                    )
                    .col(uuid_null(Decisions::SessionId))
                    .col(date(Decisions::DecidedOn))
                    .col(text(Decisions::CreatedBy))
                    .col(timestamp(Decisions::CreatedAt))
                    .primary_key(Index::create().col(Decisions::OrgId).col(Decisions::Id))
                    .foreign_key(&mut tenant_fk(
                        Decisions::Table,
                        Decisions::SessionId,
                        ReviewSessions::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(join_table(
                DecisionRules::Table,
                DecisionRules::DecisionId,
                Decisions::Table,
                DecisionRules::RuleId,
                TradeOffRules::Table,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MaturityAssessments::Table)
                    .col(uuid(MaturityAssessments::OrgId))
                    .col(uuid(MaturityAssessments::Id))
                    .col(text(MaturityAssessments::Capability))
                    .col(
                        ColumnDef::new(MaturityAssessments::Level)
                            .small_integer()
                            .not_null(),
                    )
                    .col(uuid_null(MaturityAssessments::OwnerPersonId))
                    .col(text_null(MaturityAssessments::Evidence))
                    .col(date(MaturityAssessments::AssessedOn))
                    .col(text(MaturityAssessments::CreatedBy))
                    .col(timestamp(MaturityAssessments::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(MaturityAssessments::OrgId)
                            .col(MaturityAssessments::Id),
                    )
                    .foreign_key(&mut tenant_fk(
                        MaturityAssessments::Table,
                        MaturityAssessments::OwnerPersonId,
                        People::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            MaturityAssessments::Table.into_iden(),
            DecisionRules::Table.into_iden(),
            Decisions::Table.into_iden(),
            TradeOffRules::Table.into_iden(),
            SessionScorecards::Table.into_iden(),
            SessionGoals::Table.into_iden(),
            SessionAttendees::Table.into_iden(),
            ReviewSessions::Table.into_iden(),
            ForumMembers::Table.into_iden(),
            Forums::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
