//! Tandem's storage layer: the only code that knows SQL.
//!
//! Callers get a [`Store`] from a database URL and, for everything inside an organization, a
//! [`Tenant`] handle built from a verified token. Every query a `Tenant` runs is scoped to its
//! organization, so no caller can forget the tenant filter.

mod audit;
mod dashboards;
mod decimal;
mod dimensions;
mod entities;
mod error;
mod events;
mod export;
mod goals;
mod governance;
mod hr_sync;
mod incentives;
mod metrics;
mod mrr_ledger;
mod observations;
mod okrs;
mod organizations;
mod people;
mod revenue;
mod scorecard_statuses;
mod scorecards;
mod search;
mod store;
mod sync;

pub use audit::{AuditEvent, AuditFilter};
pub use dashboards::{Dashboard, DashboardContent, MetricEdge};
pub use decimal::ExactDecimal;
pub use dimensions::{JourneyStage, NewSegment, NewStage, Segment, SegmentPatch, StagePatch};
pub use error::{Problem, StoreError, StoreResult};
pub use events::{CHANNEL as EVENT_CHANNEL, Event, EventBus, TenantEvents};
pub use export::{Access, DATASETS, Dataset, ExportRow, ExportValue, Field, FieldKind, dataset};
pub use goals::{Goal, GoalFilter, GoalLink, GoalPatch, NewGoal, Ownership};
pub use governance::{
    Assessment, Decision, Forum, Guard, NewDecision, NewSession, ReviewSession, TradeOffRule,
};
pub use hr_sync::{
    Diff, SyncAssignment, SyncChange, SyncMode, SyncOutcome, SyncPerson, SyncRequest, SyncRole,
    SyncTeam,
};
pub use incentives::{
    NewComponent, NewGate, NewPlan, Plan, PlanComponent, PlanDetails, PlanGate, Statement,
};
pub use metrics::{Metric, MetricFilter, MetricVersion};
pub use mrr_ledger::SegmentRetention;
pub use observations::{NewObservation, Observation, ObservationFilter, RecordOutcome};
pub use okrs::{CheckIn, KeyResult, NewKeyResult, NewObjective, Objective};
pub use organizations::{Organization, TokenStanding};
pub use people::{JobRole, Person, PersonFilter, Team};
pub use revenue::{
    Account, AccountFilter, MovementFilter, NewAccount, NewMovement, RevenueMovement,
};
pub use scorecard_statuses::{StatusChange, StatusReading, StatusUpdate};
pub use scorecards::{
    NewItem, NewScorecard, OrgSettings, Owner, Scorecard, ScorecardItem, ScorecardPatch,
};
pub use search::MAX_SEARCH_CHARS;
pub use store::{Actor, MigrationState, Page, PoolStatus, Slice, Store, Tenant};
pub use sync::{SyncCursor, SyncSlice, SyncWindow, TOMBSTONE_DATASETS, Tombstone};
