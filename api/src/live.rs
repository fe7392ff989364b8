//! Live updates over GraphQL subscriptions (the `graphql-transport-ws` protocol on
//! `/graphql`): observations recorded, check-ins added, scorecard statuses changed.
//!
//! A WebSocket connection authenticates once, in its `connection_init` payload, with the same
//! token check as HTTP. Every event is re-read through the subscriber's own organization with
//! a fresh session, so what it receives follows the same access rules as a query, and a
//! subscription ends when its token expires.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::futures_util::stream::{self, BoxStream, StreamExt};
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocketProtocols};
use async_graphql::{Context, Data, ID, Object, Response, Subscription};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::response::{IntoResponse, Response as HttpResponse};
use futures::SinkExt as _;
use tandem_domain::access::Permission;
use tandem_domain::metrics::MetricKey;
use tandem_domain::periods::{DateRange, Granularity as DomainGranularity, Period};
use tandem_domain::rollup::Fact;
use tandem_domain::scorecards as rules;
use tandem_persistence::{
    Event, Observation, Scorecard, ScorecardItem, StatusReading, Store, Tenant, TenantEvents,
};
use uuid::Uuid;

use crate::auth::{Caller, Claims, Verifier};
use crate::error::ApiError;
use crate::goals::{CheckInObject, KeyResultObject};
use crate::graphql::enums::Granularity;
use crate::graphql::relay::expect_global_id;
use crate::graphql::scalars::{Date, Decimal};
use crate::graphql::{ApiSchema, RequestAuth, Session, authorized};
use crate::observations::ObservationObject;
use crate::scorecards::{RagStatus, ScorecardObject, item_specs};

/// The close code sent when `connection_init` carries no valid token (`4403: Forbidden` in
/// the graphql-transport-ws protocol).
const FORBIDDEN_CLOSE: u16 = 4403;

/// Marks a refused `connection_init` so the close frame can be given its protocol code.
const REFUSED: &str = "UNAUTHENTICATED: ";

/// A WebSocket connection's verified caller, kept for the life of the connection.
#[derive(Clone)]
pub struct LiveConnection {
    store: Store,
    caller: Caller,
    /// When the token expires, seconds since the epoch.
    expires_at: u64,
}

impl LiveConnection {
    fn expired(&self) -> bool {
        now_secs() >= self.expires_at
    }

    /// A fresh session: new loaders, nothing cached from earlier events.
    fn session(&self) -> Session {
        Session::new(&self.store, self.caller.clone())
    }

    /// Resolves when the token expires.
    async fn expiry(&self) {
        let left = self.expires_at.saturating_sub(now_secs());
        tokio::time::sleep(std::time::Duration::from_secs(left)).await;
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Reads the token out of a `connection_init` payload: `{"Authorization": "Bearer ..."}`
/// (any case) or `{"token": "..."}`.
fn token_of(payload: &serde_json::Value) -> Option<String> {
    let object = payload.as_object()?;
    for (key, value) in object {
        let Some(text) = value.as_str() else { continue };
        if key.eq_ignore_ascii_case("authorization") {
            let token = text
                .strip_prefix("Bearer ")
                .or_else(|| text.strip_prefix("bearer "))?;
            return Some(token.trim().to_owned());
        }
        if key == "token" {
            return Some(text.trim().to_owned());
        }
    }
    None
}

/// Verifies a `connection_init` payload into the connection's data.
async fn connect(
    store: Store,
    verifier: Verifier,
    payload: serde_json::Value,
) -> Result<LiveConnection, ApiError> {
    let token = token_of(&payload).ok_or_else(|| {
        ApiError::Unauthenticated(
            "send the token in connection_init: {\"Authorization\": \"Bearer <token>\"}".to_owned(),
        )
    })?;
    let caller = verifier.verify(&token)?;
    // The signature and expiry were just checked; this only reads the expiry back.
    let expires_at = jsonwebtoken::dangerous::insecure_decode::<Claims>(&token)
        .map(|data| data.claims.exp)
        .map_err(|_| ApiError::Unauthenticated("the token is not valid".to_owned()))?;
    if store.organization(caller.org_id).await?.is_none() {
        return Err(ApiError::Unauthenticated(
            "the token's organization does not exist".to_owned(),
        ));
    }
    Ok(LiveConnection {
        store,
        caller,
        expires_at,
    })
}

/// Serves one WebSocket upgrade of `/graphql`.
pub fn upgrade(
    upgrade: WebSocketUpgrade,
    protocol: GraphQLProtocol,
    schema: ApiSchema,
    store: Store,
    verifier: Verifier,
) -> HttpResponse {
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            let (sink, source) = async_graphql::futures_util::StreamExt::split(socket);
            // A refused connection_init closes with 4403 as graphql-transport-ws asks.
            let sink = sink.with(|message: Message| async move {
                Ok::<_, axum::Error>(match message {
                    Message::Close(Some(frame)) if frame.reason.starts_with(REFUSED) => {
                        let reason: String =
                            format!("Forbidden: {}", &frame.reason[REFUSED.len()..])
                                .chars()
                                .take(120)
                                .collect();
                        Message::Close(Some(CloseFrame {
                            code: FORBIDDEN_CLOSE,
                            reason: reason.into(),
                        }))
                    }
                    other => other,
                })
            });
            GraphQLWebSocket::new_with_pair(sink, source, schema, protocol)
                .on_connection_init(move |payload| async move {
                    match connect(store, verifier, payload).await {
                        Ok(conn) => {
                            let mut data = Data::default();
                            data.insert(RequestAuth(Ok(Arc::new(conn.session()))));
                            data.insert(conn);
                            Ok(data)
                        }
                        Err(e) => Err(async_graphql::Error::new(format!(
                            "{REFUSED}{}",
                            e.message()
                        ))),
                    }
                })
                .serve()
                .await;
        })
        .into_response()
}

/// Whether a request asks to upgrade to a GraphQL WebSocket.
pub fn wants_websocket(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|p| p.trim().parse::<WebSocketProtocols>().is_ok())
        })
}

/// Gives every operation on a WebSocket connection (each subscription event included) a fresh
/// session, so nothing read for one event is served stale for the next.
pub struct FreshSessions;

impl ExtensionFactory for FreshSessions {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(FreshSessionsExtension)
    }
}

struct FreshSessionsExtension;

#[async_graphql::async_trait::async_trait]
impl Extension for FreshSessionsExtension {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        match ctx.data_opt::<LiveConnection>() {
            Some(conn) => {
                let auth = if conn.expired() {
                    Err(ApiError::Unauthenticated(
                        "the token has expired".to_owned(),
                    ))
                } else {
                    Ok(Arc::new(conn.session()))
                };
                let mut data = Data::default();
                data.insert(RequestAuth(auth));
                next.run_with_data(ctx, operation_name, data).await
            }
            None => next.run(ctx, operation_name).await,
        }
    }
}

/// The connection of a subscription, or `UNAUTHENTICATED` (subscriptions need a WebSocket
/// connection that sent a valid token).
fn connection<'a>(ctx: &Context<'a>) -> Result<&'a LiveConnection, ApiError> {
    let conn = ctx.data_opt::<LiveConnection>().ok_or_else(|| {
        ApiError::Unauthenticated(
            "subscriptions run over a WebSocket on /graphql with a token in connection_init"
                .to_owned(),
        )
    })?;
    if conn.expired() {
        return Err(ApiError::Unauthenticated(
            "the token has expired".to_owned(),
        ));
    }
    Ok(conn)
}

/// Turns an organization's events into a subscription: each event goes through `deliver`
/// with a fresh session (skipped when it yields nothing); the stream ends with an
/// `UNAUTHENTICATED` error when the token expires.
fn subscription<T, F, Fut>(
    conn: LiveConnection,
    events: TenantEvents,
    deliver: F,
) -> BoxStream<'static, async_graphql::Result<T>>
where
    T: Send + 'static,
    F: Fn(Arc<Session>, Arc<Event>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<T>, ApiError>> + Send + 'static,
{
    let deliver = Arc::new(deliver);
    stream::unfold(Some((events, conn)), move |state| {
        let deliver = Arc::clone(&deliver);
        async move {
            let (mut events, conn) = state?;
            loop {
                let event = tokio::select! {
                    event = events.next() => event?,
                    () = conn.expiry() => {
                        let expired = ApiError::Unauthenticated("the token has expired".to_owned());
                        return Some((Err(expired.into()), None));
                    }
                };
                let session = Arc::new(conn.session());
                match deliver(session, event).await {
                    Ok(Some(item)) => return Some((Ok(item), Some((events, conn)))),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = ?e, "a live event could not be delivered"),
                }
            }
        }
    })
    .boxed()
}

/// Observations just recorded: one batch, or one part of a large batch.
pub struct ObservationRecordedEvent {
    observations: Vec<Observation>,
}

/// Observations just recorded: one batch, or one part of a large batch.
#[Object]
impl ObservationRecordedEvent {
    /// The observations created or changed that match the subscription, ordered by period.
    async fn observations(&self) -> Vec<ObservationObject> {
        self.observations
            .iter()
            .cloned()
            .map(ObservationObject)
            .collect()
    }
}

/// A check-in just added.
pub struct CheckInAddedEvent {
    check_in: CheckInObject,
    key_result: KeyResultObject,
}

/// A check-in just added.
#[Object]
impl CheckInAddedEvent {
    /// The new check-in.
    async fn check_in(&self) -> &CheckInObject {
        &self.check_in
    }

    /// Its key result, as it stands now.
    async fn key_result(&self) -> &KeyResultObject {
        &self.key_result
    }
}

/// A scorecard whose status for a period just changed.
pub struct ScorecardStatusChangedEvent {
    scorecard: Scorecard,
    period: Period,
    status: RagStatus,
    previous: Option<RagStatus>,
    score: rust_decimal::Decimal,
}

/// A scorecard whose status for a period just changed.
#[Object]
impl ScorecardStatusChangedEvent {
    /// The scorecard.
    async fn scorecard(&self) -> ScorecardObject {
        ScorecardObject(self.scorecard.clone())
    }

    /// First day of the period evaluated.
    async fn period_start(&self) -> Date {
        self.period.start().into()
    }

    /// Last day of the period evaluated (inclusive).
    async fn period_end(&self) -> Date {
        self.period.end().into()
    }

    /// Length of the period evaluated.
    async fn granularity(&self) -> Granularity {
        self.period.granularity().into()
    }

    /// The new status.
    async fn status(&self) -> RagStatus {
        self.status
    }

    /// The status announced before; null the first time the period is evaluated.
    async fn previous_status(&self) -> Option<RagStatus> {
        self.previous
    }

    /// The weighted score behind the new status.
    async fn score(&self) -> Decimal {
        self.score.into()
    }
}

/// Live updates, over a WebSocket on `/graphql` (graphql-transport-ws).
#[derive(Default)]
pub struct Subscription;

/// Live updates, over a WebSocket on `/graphql` (graphql-transport-ws): send the token in
/// `connection_init` as `{"Authorization": "Bearer <token>"}`.
#[Subscription]
impl Subscription {
    /// Observations as they are recorded in your organization, optionally only one metric's
    /// and/or one segment's. Needs a role that reads organization data.
    async fn observation_recorded(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only observations of this metric.")] metric_key: Option<String>,
        #[graphql(desc = "Only observations of this segment.")] segment_key: Option<String>,
    ) -> async_graphql::Result<BoxStream<'static, async_graphql::Result<ObservationRecordedEvent>>>
    {
        let conn = connection(ctx)?.clone();
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let metric = match &metric_key {
            None => None,
            Some(key) => {
                let unknown =
                    || ApiError::bad_input("metricKey", format!("no metric with key `{key}`"));
                let parsed = MetricKey::parse(key).map_err(|_| unknown())?;
                Some(
                    s.tenant
                        .metric_by_key(&parsed)
                        .await
                        .map_err(ApiError::from)?
                        .ok_or_else(unknown)?
                        .id,
                )
            }
        };
        let segment = match &segment_key {
            None => None,
            Some(key) => Some(
                s.tenant
                    .segment_by_key(key)
                    .await
                    .map_err(ApiError::from)?
                    .ok_or_else(|| {
                        ApiError::bad_input("segmentKey", format!("no segment with key `{key}`"))
                    })?
                    .id,
            ),
        };
        let events = s.tenant.events().await.map_err(ApiError::from)?;
        Ok(subscription(
            conn,
            events,
            move |session, event| async move {
                let Event::ObservationsRecorded { ids, .. } = event.as_ref() else {
                    return Ok(None);
                };
                if !session.caller.may(Permission::ReadOrgData) {
                    return Ok(None);
                }
                let observations: Vec<Observation> = session
                    .tenant
                    .observations_by_ids(ids)
                    .await?
                    .into_iter()
                    .filter(|o| metric.is_none_or(|m| o.metric_id == m))
                    .filter(|o| segment.is_none_or(|g| o.segment_id == Some(g)))
                    .collect();
                Ok((!observations.is_empty()).then_some(ObservationRecordedEvent { observations }))
            },
        ))
    }

    /// Check-ins as they are added in your organization, optionally only one key result's or
    /// one objective's. Needs a role that reads organization data.
    async fn check_in_added(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only check-ins on this key result.")] key_result_id: Option<ID>,
        #[graphql(desc = "Only check-ins on this objective's key results.")] objective_id: Option<
            ID,
        >,
    ) -> async_graphql::Result<BoxStream<'static, async_graphql::Result<CheckInAddedEvent>>> {
        let conn = connection(ctx)?.clone();
        let s = authorized(ctx, Permission::ReadOrgData)?;
        let key_result = key_result_id
            .as_ref()
            .map(|id| expect_global_id(id, "KeyResult", "keyResultId"))
            .transpose()?;
        let objective = objective_id
            .as_ref()
            .map(|id| expect_global_id(id, "Objective", "objectiveId"))
            .transpose()?;
        let events = s.tenant.events().await.map_err(ApiError::from)?;
        Ok(subscription(
            conn,
            events,
            move |session, event| async move {
                let Event::CheckInAdded {
                    check_in,
                    key_result: kr_id,
                    objective: objective_id,
                    ..
                } = *event.as_ref()
                else {
                    return Ok(None);
                };
                if key_result.is_some_and(|k| k != kr_id)
                    || objective.is_some_and(|o| o != objective_id)
                {
                    return Ok(None);
                }
                if !session.caller.may(Permission::ReadOrgData) {
                    return Ok(None);
                }
                let tenant = &session.tenant;
                let Some(check_in) = tenant.check_in_by_id(check_in).await? else {
                    return Ok(None);
                };
                let Some(kr) = tenant.key_results_by_ids(&[kr_id]).await?.remove(&kr_id) else {
                    return Ok(None);
                };
                let Some(obj) = tenant
                    .objectives_by_ids(&[kr.objective_id])
                    .await?
                    .remove(&kr.objective_id)
                else {
                    return Ok(None);
                };
                Ok(Some(CheckInAddedEvent {
                    check_in: CheckInObject(check_in),
                    key_result: KeyResultObject(kr, obj),
                }))
            },
        ))
    }

    /// Scorecard statuses (GREEN / AMBER / RED) as they change, optionally only one
    /// scorecard's. A scorecard is re-evaluated for the periods observations are recorded in
    /// (and for the periods it was evaluated in before, when its KPIs or thresholds change);
    /// an event is sent when the status differs from the last one sent. Needs a role that
    /// reads scorecards.
    async fn scorecard_status_changed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this scorecard.")] scorecard_id: Option<ID>,
    ) -> async_graphql::Result<BoxStream<'static, async_graphql::Result<ScorecardStatusChangedEvent>>>
    {
        let conn = connection(ctx)?.clone();
        let s = authorized(ctx, Permission::ReadPeople)?;
        let only = scorecard_id
            .as_ref()
            .map(|id| expect_global_id(id, "Scorecard", "scorecardId"))
            .transpose()?;
        let events = s.tenant.events().await.map_err(ApiError::from)?;
        Ok(subscription(
            conn,
            events,
            move |session, event| async move {
                let Event::ScorecardStatusChanged {
                    scorecard,
                    period,
                    status,
                    previous,
                    score,
                    ..
                } = *event.as_ref()
                else {
                    return Ok(None);
                };
                if only.is_some_and(|id| id != scorecard) {
                    return Ok(None);
                }
                if !session.caller.may(Permission::ReadPeople) {
                    return Ok(None);
                }
                let Some(card) = session
                    .tenant
                    .scorecards_by_ids(&[scorecard])
                    .await?
                    .remove(&scorecard)
                else {
                    return Ok(None);
                };
                Ok(Some(ScorecardStatusChangedEvent {
                    scorecard: card,
                    period,
                    status: status.into(),
                    previous: previous.map(Into::into),
                    score,
                }))
            },
        ))
    }
}

/// Re-evaluates the scorecards that use the metrics just recorded, for the periods recorded,
/// and announces the statuses that changed. Runs after the observations committed; a failure
/// is logged, never undoes the write.
pub(crate) async fn refresh_after_recording(tenant: &Tenant, touched: &[(Uuid, Period)]) {
    if touched.is_empty() {
        return;
    }
    if let Err(e) = refresh_for_metrics(tenant, touched).await {
        tracing::warn!(error = ?e, "scorecard statuses could not be refreshed");
    }
}

async fn refresh_for_metrics(tenant: &Tenant, touched: &[(Uuid, Period)]) -> Result<(), ApiError> {
    let metric_ids: Vec<Uuid> = touched
        .iter()
        .map(|(m, _)| *m)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let cards = tenant.scorecards_using(&metric_ids).await?;
    if cards.is_empty() {
        return Ok(());
    }
    let mut periods_of: HashMap<Uuid, HashSet<Period>> = HashMap::new();
    for (metric, period) in touched {
        periods_of.entry(*metric).or_default().insert(*period);
    }
    let work: Vec<(Scorecard, Vec<ScorecardItem>, Vec<Period>)> = cards
        .into_iter()
        .map(|(card, items)| {
            let mut periods: Vec<Period> = items
                .iter()
                .filter_map(|i| periods_of.get(&i.metric_id))
                .flatten()
                .copied()
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            periods.sort();
            (card, items, periods)
        })
        .collect();
    refresh(tenant, work).await
}

/// Re-evaluates one scorecard for the periods it was evaluated in before (after its KPIs or
/// thresholds changed) and announces the statuses that changed; failures are logged.
pub(crate) async fn refresh_after_scorecard_change(tenant: &Tenant, scorecard_id: Uuid) {
    let run = async {
        let periods = tenant.announced_periods(scorecard_id).await?;
        if periods.is_empty() {
            return Ok::<_, ApiError>(());
        }
        let card = tenant
            .scorecards_by_ids(&[scorecard_id])
            .await?
            .remove(&scorecard_id);
        let Some(card) = card else { return Ok(()) };
        let items = tenant
            .scorecard_items(&[scorecard_id])
            .await?
            .remove(&scorecard_id)
            .unwrap_or_default();
        refresh(tenant, vec![(card, items, periods)]).await
    };
    if let Err(e) = run.await {
        tracing::warn!(error = ?e, "scorecard statuses could not be refreshed");
    }
}

/// Evaluates each scorecard for each of its periods and stores and announces the changes.
/// The status update is opened before reading, so this evaluation sees every change
/// committed before it and no later evaluation is overwritten by an older one.
async fn refresh(
    tenant: &Tenant,
    work: Vec<(Scorecard, Vec<ScorecardItem>, Vec<Period>)>,
) -> Result<(), ApiError> {
    let all: Vec<&Period> = work.iter().flat_map(|(_, _, p)| p).collect();
    let (Some(from), Some(to)) = (
        all.iter().map(|p| p.start()).min(),
        all.iter().map(|p| p.end()).max(),
    ) else {
        return Ok(());
    };
    let range = DateRange::new(from, to).map_err(|e| ApiError::Internal(e.message))?;
    let update = tenant.begin_status_update().await?;
    let metric_ids: Vec<Uuid> = work
        .iter()
        .flat_map(|(_, items, _)| items.iter().map(|i| i.metric_id))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let metrics = tenant.metrics_by_ids(&metric_ids).await?;
    let facts = tenant.observation_facts_for(&metric_ids, range).await?;
    // Facts by (metric, period) for each granularity evaluated, so each evaluation looks only
    // at its own period's values.
    let granularities: HashSet<DomainGranularity> = all.iter().map(|p| p.granularity()).collect();
    let mut bucketed: HashMap<(Uuid, Period), Vec<Fact<Uuid>>> = HashMap::new();
    for (metric, list) in &facts {
        for fact in list {
            for g in &granularities {
                if fact.period.granularity().rolls_into(*g) {
                    bucketed
                        .entry((*metric, fact.period.bucket(*g)))
                        .or_default()
                        .push(fact.clone());
                }
            }
        }
    }
    let mut readings = Vec::new();
    for (card, items, periods) in &work {
        for period in periods {
            let specs = item_specs(items, &metrics, *period, |metric| {
                bucketed
                    .get(&(metric, *period))
                    .map(Vec::as_slice)
                    .unwrap_or_default()
            })?;
            let result = rules::evaluate(&specs, card.green_score, card.amber_score);
            if let (Some(status), Some(score)) = (result.status, result.score) {
                readings.push(StatusReading {
                    scorecard_id: card.id,
                    period: *period,
                    status,
                    score,
                });
            }
        }
    }
    update.commit(readings).await?;
    Ok(())
}
