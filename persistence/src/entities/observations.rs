use sea_orm::entity::prelude::*;

use crate::decimal::ExactDecimal;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "observations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub org_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub metric_id: Uuid,
    pub granularity: String,
    pub period_start: Date,
    pub segment_id: Option<Uuid>,
    pub stage_id: Option<Uuid>,
    pub dim_key: String,
    pub value: ExactDecimal,
    pub source: Option<String>,
    pub recorded_by: String,
    pub recorded_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub hidden_by_total: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
