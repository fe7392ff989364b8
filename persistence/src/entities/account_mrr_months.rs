use sea_orm::entity::prelude::*;

use crate::decimal::ExactDecimal;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account_mrr_months")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub org_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: Uuid,
    pub segment_id: Option<Uuid>,
    #[sea_orm(primary_key, auto_increment = false)]
    pub month: Date,
    pub opening_mrr: ExactDecimal,
    pub new_mrr: ExactDecimal,
    pub expansion_mrr: ExactDecimal,
    pub contraction_mrr: ExactDecimal,
    pub churned_mrr: ExactDecimal,
    pub closing_mrr: ExactDecimal,
    pub latest: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
