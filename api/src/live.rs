//! Live updates over GraphQL subscriptions (the `graphql-transport-ws` protocol on
//! `/graphql`): observations recorded, check-ins added, scorecard statuses changed.
//!
//! A WebSocket connection authenticates once, in its `connection_init` payload, through the
//! same check as HTTP ([`AppState::authenticate_token`]). Every event is re-read through the
//! subscriber's own organization with a fresh session, so what it receives follows the same
//! access rules as a query; a subscription ends when its token expires, its organization is
//! deleted or its subject deactivated.
//!
//! Messages are checked before they reach the executor: the body limit applies to each, the
//! protocol's order is enforced with graphql-transport-ws close codes, and subscriptions per
//! connection and connections per caller are capped ([`LiveSettings`]).

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::futures_util::stream::{self, BoxStream, SplitStream, Stream, StreamExt};
use async_graphql::http::{
    ALL_WEBSOCKET_PROTOCOLS, ClientMessage, WebSocket as WsProtocol, WebSocketProtocols, WsMessage,
};
use async_graphql::{Context, Data, ID, Object, Response, Subscription};
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use futures::SinkExt as _;
use serde_json::json;
use tandem_domain::access::Permission;
use tandem_domain::metrics::MetricKey;
use tandem_domain::periods::{DateRange, Granularity as DomainGranularity, Period};
use tandem_domain::rollup::Fact;
use tandem_domain::scorecards as rules;
use tandem_persistence::{
    Event, Observation, Scorecard, ScorecardItem, StatusReading, Tenant, TenantEvents,
};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::auth::{Caller, bearer_token};
use crate::cli::ServeArgs;
use crate::error::ApiError;
use crate::goals::{CheckInObject, KeyResultObject};
use crate::graphql::enums::Granularity;
use crate::graphql::relay::expect_global_id;
use crate::graphql::scalars::{Date, Decimal};
use crate::graphql::{RequestAuth, Session, authorized};
use crate::observations::ObservationObject;
use crate::scorecards::{RagStatus, ScorecardObject, item_specs};
use crate::server::AppState;

/// Limits of the WebSocket endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveSettings {
    /// Most subscriptions running at once on one connection.
    pub max_subscriptions_per_connection: usize,
    /// Most connections open at once per caller (token subject in its organization).
    pub max_connections_per_caller: usize,
    /// How long a connection may stay open without `connection_init`.
    pub connection_init_timeout: Duration,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self::from(&ServeArgs::default())
    }
}

impl From<&ServeArgs> for LiveSettings {
    fn from(args: &ServeArgs) -> Self {
        Self {
            max_subscriptions_per_connection: args.max_subscriptions_per_connection,
            max_connections_per_caller: args.max_connections_per_caller,
            connection_init_timeout: Duration::from_millis(args.connection_init_timeout_ms),
        }
    }
}

/// The WebSocket endpoint's settings and the connections open per caller in this process.
pub struct Live {
    settings: LiveSettings,
    open: Mutex<HashMap<(Uuid, String), usize>>,
}

impl Live {
    /// No connection open yet.
    pub fn new(settings: LiveSettings) -> Self {
        Self {
            settings,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one of the caller's connection places, or `None` when all are taken.
    fn take_place(self: &Arc<Self>, caller: &Caller) -> Option<Place> {
        let key = (caller.org_id, caller.subject.clone());
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key.clone()).or_insert(0);
        if *count >= self.settings.max_connections_per_caller {
            return None;
        }
        *count += 1;
        Some(Place {
            live: Arc::clone(self),
            key,
        })
    }
}

/// One open connection of a caller; gives its place back when the connection ends.
struct Place {
    live: Arc<Live>,
    key: (Uuid, String),
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut open = self.live.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// graphql-transport-ws close codes (and the WebSocket ones used beside them).
mod close {
    /// A message that is not a valid protocol message.
    pub const INVALID_MESSAGE: u16 = 4400;
    /// `subscribe` before the connection was acknowledged.
    pub const UNAUTHORIZED: u16 = 4401;
    /// `connection_init` without a valid token.
    pub const FORBIDDEN: u16 = 4403;
    /// No `connection_init` in time.
    pub const INIT_TIMEOUT: u16 = 4408;
    /// `subscribe` with the id of a running subscription.
    pub const SUBSCRIBER_EXISTS: u16 = 4409;
    /// A second `connection_init`.
    pub const TOO_MANY_INITS: u16 = 4429;
    /// The caller already holds as many connections as allowed (RFC 6455 "policy violation").
    pub const POLICY: u16 = 1008;
    /// A message larger than the body limit (RFC 6455 "message too big").
    pub const TOO_BIG: u16 = 1009;
}

/// Marks a refused `connection_init` so the close frame can be given its protocol code.
const REFUSED: &str = "UNAUTHENTICATED: ";
/// Marks a `connection_init` refused because the caller has too many connections open.
const CROWDED: &str = "TOO_MANY_CONNECTIONS: ";

/// A WebSocket connection's verified caller, kept for the life of the connection.
#[derive(Clone)]
pub struct LiveConnection {
    state: AppState,
    caller: Caller,
}

impl LiveConnection {
    fn expired(&self) -> bool {
        now_secs() >= self.caller.expires_at
    }

    /// A fresh session: new loaders, nothing cached from earlier events.
    fn session(&self) -> Session {
        Session::new(self.state.store(), self.caller.clone())
    }

    /// Checks again that the token's organization exists and its subject is not a
    /// deactivated person (the same check as every HTTP request).
    async fn still_admitted(&self) -> Result<(), ApiError> {
        self.state.admit(self.caller.clone()).await.map(|_| ())
    }

    /// Resolves when the token expires.
    async fn expiry(&self) {
        let left = self.caller.expires_at.saturating_sub(now_secs());
        tokio::time::sleep(Duration::from_secs(left)).await;
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Reads the token out of a `connection_init` payload: `{"Authorization": "Bearer ..."}`
/// (header and scheme in any case) or `{"token": "..."}`.
fn token_of(payload: &serde_json::Value) -> Option<String> {
    let object = payload.as_object()?;
    for (key, value) in object {
        let Some(text) = value.as_str() else { continue };
        if key.eq_ignore_ascii_case("authorization") {
            return bearer_token(text).map(str::to_owned);
        }
        if key == "token" {
            return Some(text.trim().to_owned());
        }
    }
    None
}

/// Verifies a `connection_init` payload into the connection's caller, through the same
/// checks as an HTTP request.
async fn connect(state: AppState, payload: serde_json::Value) -> Result<LiveConnection, ApiError> {
    let token = token_of(&payload).ok_or_else(|| {
        ApiError::Unauthenticated(
            "send the token in connection_init: {\"Authorization\": \"Bearer <token>\"}".to_owned(),
        )
    })?;
    let caller = state.authenticate_token(&token).await?;
    Ok(LiveConnection { state, caller })
}

/// What one connection's reader, `connection_init` handler and writer share.
#[derive(Default)]
struct ConnectionState {
    /// `connection_init` arrived.
    init_received: bool,
    /// `connection_init` was accepted.
    acknowledged: bool,
    /// Ids of the subscriptions running.
    running: HashSet<String>,
    /// The close frame to end the connection with, once the reader stops.
    close: Option<(u16, String)>,
    /// The caller's connection place, held while the connection is open.
    place: Option<Place>,
}

type Shared = Arc<Mutex<ConnectionState>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, ConnectionState> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// The reader side of a connection: enforces the message size limit and the protocol's
/// order (init once, then subscriptions with unique ids, at most so many at once) before
/// anything reaches the GraphQL executor. A violation records its close frame and ends the
/// stream, which ends the connection.
struct Gate {
    source: SplitStream<WebSocket>,
    shared: Shared,
    refusals: mpsc::UnboundedSender<String>,
    max_bytes: usize,
    max_subscriptions: usize,
}

impl Gate {
    fn stop(&self, code: u16, reason: String) -> Poll<Option<serde_json::Result<ClientMessage>>> {
        // Close reasons are limited to 123 bytes.
        let reason: String = reason.chars().take(120).collect();
        lock(&self.shared).close = Some((code, reason));
        Poll::Ready(None)
    }

    /// Checks one message; `Ok(None)` when it is answered here and not passed on.
    fn check(&self, bytes: &[u8]) -> Result<Option<ClientMessage>, (u16, String)> {
        if bytes.len() > self.max_bytes {
            return Err((
                close::TOO_BIG,
                format!(
                    "message too big: {} bytes, the limit is {}",
                    bytes.len(),
                    self.max_bytes
                ),
            ));
        }
        let message = ClientMessage::from_bytes(bytes).map_err(|e| {
            (
                close::INVALID_MESSAGE,
                format!("Invalid message received: {e}"),
            )
        })?;
        let mut state = lock(&self.shared);
        match &message {
            ClientMessage::ConnectionInit { .. } => {
                if state.init_received {
                    return Err((
                        close::TOO_MANY_INITS,
                        "Too many initialisation requests".to_owned(),
                    ));
                }
                state.init_received = true;
            }
            ClientMessage::Start { id, .. } => {
                if !state.acknowledged {
                    return Err((close::UNAUTHORIZED, "Unauthorized".to_owned()));
                }
                if state.running.contains(id) {
                    return Err((
                        close::SUBSCRIBER_EXISTS,
                        format!("Subscriber for {id} already exists"),
                    ));
                }
                if state.running.len() >= self.max_subscriptions {
                    let refusal = json!({
                        "id": id,
                        "type": "error",
                        "payload": [{
                            "message": format!(
                                "this connection already runs {} subscriptions, the most \
                                 allowed; complete one first",
                                self.max_subscriptions
                            ),
                            "extensions": { "code": "BAD_USER_INPUT", "limit": "subscriptionsPerConnection" }
                        }]
                    });
                    let _ = self.refusals.send(refusal.to_string());
                    return Ok(None);
                }
                state.running.insert(id.clone());
            }
            ClientMessage::Stop { id } => {
                state.running.remove(id);
            }
            ClientMessage::ConnectionTerminate
            | ClientMessage::Ping { .. }
            | ClientMessage::Pong { .. } => {}
        }
        Ok(Some(message))
    }
}

impl Stream for Gate {
    type Item = serde_json::Result<ClientMessage>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let message = match self.source.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Err(e))) => {
                    // The socket refuses frames past twice the limit before reading them
                    // (tungstenite's capacity error); anything else ends the connection.
                    let text = e.to_string();
                    if text.contains("too long") {
                        return self.stop(close::TOO_BIG, format!("message too big: {text}"));
                    }
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Ok(message))) => message,
            };
            let bytes = match message {
                Message::Text(text) => Bytes::from(text),
                Message::Binary(bytes) => bytes,
                Message::Close(_) => return Poll::Ready(None),
                Message::Ping(_) | Message::Pong(_) => continue,
            };
            match self.check(&bytes) {
                Ok(Some(message)) => return Poll::Ready(Some(Ok(message))),
                Ok(None) => {
                    // A refusal is waiting to be written: let the writer run before reading on.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Err((code, reason)) => return self.stop(code, reason),
            }
        }
    }
}

/// The frame a message of the GraphQL WebSocket becomes, and the subscription it completes.
fn outgoing(message: WsMessage) -> (Message, Option<String>) {
    match message {
        WsMessage::Text(text) => {
            let completed = if text.starts_with(r#"{"type":"complete""#) {
                serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v["id"].as_str().map(str::to_owned))
            } else {
                None
            };
            (Message::Text(text.into()), completed)
        }
        WsMessage::Close(code, reason) => {
            // The initialisation handler marks its refusals with the protocol's code.
            let (code, reason) = if let Some(why) = reason.strip_prefix(REFUSED) {
                (close::FORBIDDEN, format!("Forbidden: {why}"))
            } else if let Some(why) = reason.strip_prefix(CROWDED) {
                (close::POLICY, why.to_owned())
            } else {
                (code, reason)
            };
            let reason: String = reason.chars().take(120).collect();
            (
                Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                })),
                None,
            )
        }
    }
}

/// Serves one WebSocket upgrade of `/graphql`.
pub fn upgrade(upgrade: WebSocketUpgrade, headers: &HeaderMap, state: AppState) -> HttpResponse {
    let Some(protocol) = protocol_of(headers) else {
        return (
            StatusCode::BAD_REQUEST,
            "ask for the graphql-transport-ws (or graphql-ws) subprotocol",
        )
            .into_response();
    };
    let max_bytes = state.max_body_bytes();
    // Frames up to twice the limit are read whole and refused with a close frame; larger ones
    // are refused by the socket before their payload is read.
    let socket_limit = max_bytes.saturating_mul(2);
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(socket_limit)
        .max_frame_size(socket_limit)
        .on_upgrade(move |socket| serve(socket, protocol, state, max_bytes))
        .into_response()
}

async fn serve(socket: WebSocket, protocol: WebSocketProtocols, state: AppState, max_bytes: usize) {
    let settings = state.live().settings;
    let (mut sink, source) = socket.split();
    let shared: Shared = Arc::default();
    let (refusals, mut refused) = mpsc::unbounded_channel();
    let gate = Gate {
        source,
        shared: Arc::clone(&shared),
        refusals,
        max_bytes,
        max_subscriptions: settings.max_subscriptions_per_connection,
    };
    let init_shared = Arc::clone(&shared);
    let schema = state.schema().clone();
    let mut protocol_stream = WsProtocol::from_message_stream(schema, gate, protocol)
        .on_connection_init(move |payload| async move {
            let conn = connect(state.clone(), payload)
                .await
                .map_err(|e| async_graphql::Error::new(format!("{REFUSED}{}", e.message())))?;
            let place = state.live().take_place(&conn.caller).ok_or_else(|| {
                async_graphql::Error::new(format!(
                    "{CROWDED}too many connections: at most {} per caller",
                    settings.max_connections_per_caller
                ))
            })?;
            {
                let mut shared = lock(&init_shared);
                shared.place = Some(place);
                shared.acknowledged = true;
            }
            let mut data = Data::default();
            data.insert(RequestAuth(Ok(Arc::new(conn.session()))));
            data.insert(conn);
            Ok(data)
        });
    let init_deadline = tokio::time::sleep(settings.connection_init_timeout);
    tokio::pin!(init_deadline);
    loop {
        let frame = tokio::select! {
            message = protocol_stream.next() => match message {
                Some(message) => {
                    let (frame, completed) = outgoing(message);
                    if let Some(id) = completed {
                        lock(&shared).running.remove(&id);
                    }
                    frame
                }
                None => match lock(&shared).close.take() {
                    Some((code, reason)) => Message::Close(Some(CloseFrame { code, reason: reason.into() })),
                    None => break,
                },
            },
            Some(refusal) = refused.recv() => Message::Text(refusal.into()),
            () = &mut init_deadline, if !lock(&shared).init_received => Message::Close(Some(CloseFrame {
                code: close::INIT_TIMEOUT,
                reason: "Connection initialisation timeout".into(),
            })),
        };
        let closing = matches!(frame, Message::Close(_));
        if sink.send(frame).await.is_err() || closing {
            break;
        }
    }
}

/// Whether a request asks to upgrade to a GraphQL WebSocket.
pub fn wants_websocket(headers: &HeaderMap) -> bool {
    protocol_of(headers).is_some()
}

/// The first GraphQL WebSocket subprotocol a request asks for.
fn protocol_of(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    headers
        .get(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())?
        .split(',')
        .find_map(|p| p.trim().parse::<WebSocketProtocols>().ok())
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
                    match conn.still_admitted().await {
                        Ok(()) => Ok(Arc::new(conn.session())),
                        Err(e) => Err(e),
                    }
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
/// `UNAUTHENTICATED` error when the token expires, its organization is deleted or its
/// subject deactivated.
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
                // A deleted organization or a deactivated subject ends the subscription.
                if let Err(e) = conn.still_admitted().await {
                    return Some((Err(e.into()), None));
                }
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
        conn.still_admitted().await?;
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
        conn.still_admitted().await?;
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
        conn.still_admitted().await?;
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
