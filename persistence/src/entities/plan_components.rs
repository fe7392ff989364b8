use sea_orm::entity::prelude::*;

use crate::decimal::ExactDecimal;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "plan_components")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub org_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub plan_id: Uuid,
    pub position: i32,
    pub name: String,
    pub metric_id: Uuid,
    pub segment_id: Option<Uuid>,
    pub target: ExactDecimal,
    pub weight: ExactDecimal,
    pub curve: Json,
    pub threshold: ExactDecimal,
    pub cap: ExactDecimal,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
