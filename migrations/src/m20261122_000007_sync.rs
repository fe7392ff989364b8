//! Incremental sync: a tombstone per removed or retired row, and indexes that let every fact
//! list page in (change time, id) order.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Tombstones {
    Table,
    OrgId,
    Id,
    Dataset,
    EntityId,
    NaturalKey,
    RemovedBy,
    RemovedAt,
}

fn uuid(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).uuid().not_null().take()
}

fn text(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().not_null().take()
}

fn timestamp(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .take()
}

/// The fact tables and the column their changes are ordered by, for the keyset indexes.
const KEYSET_INDEXES: [(&str, &str); 5] = [
    ("observations", "updated_at"),
    ("goals", "updated_at"),
    ("key_results", "updated_at"),
    ("check_ins", "created_at"),
    ("payout_statements", "computed_at"),
];

fn keyset_index_name(table: &str) -> String {
    format!("idx_{table}_sync")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tombstones::Table)
                    .col(uuid(Tombstones::OrgId))
                    .col(uuid(Tombstones::Id))
                    .col(text(Tombstones::Dataset))
                    .col(text(Tombstones::EntityId))
                    .col(text(Tombstones::NaturalKey))
                    .col(text(Tombstones::RemovedBy))
                    .col(timestamp(Tombstones::RemovedAt))
                    .primary_key(Index::create().col(Tombstones::OrgId).col(Tombstones::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Tombstones::Table, Tombstones::OrgId)
                            .to(Organizations::Table, Organizations::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tombstones_sync")
                    .table(Tombstones::Table)
                    .col(Tombstones::OrgId)
                    .col(Tombstones::Dataset)
                    .col(Tombstones::RemovedAt)
                    .col(Tombstones::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tombstones_removed_at")
                    .table(Tombstones::Table)
                    .col(Tombstones::RemovedAt)
                    .to_owned(),
            )
            .await?;
        for (table, changed) in KEYSET_INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(keyset_index_name(table))
                        .table(Alias::new(table))
                        .col(Alias::new("org_id"))
                        .col(Alias::new(changed))
                        .col(Alias::new("id"))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, _) in KEYSET_INDEXES {
            manager
                .drop_index(
                    Index::drop()
                        .name(keyset_index_name(table))
                        .table(Alias::new(table))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(Tombstones::Table).to_owned())
            .await?;
        Ok(())
    }
}
