use sea_orm::entity::prelude::*;

use crate::decimal::ExactDecimal;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "scorecard_items")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub org_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub scorecard_id: Uuid,
    pub metric_id: Uuid,
    pub segment_id: Option<Uuid>,
    pub scope_key: String,
    pub weight: ExactDecimal,
    pub target: ExactDecimal,
    pub green: ExactDecimal,
    pub amber: ExactDecimal,
    pub position: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
