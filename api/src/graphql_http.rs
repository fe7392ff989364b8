//! GraphQL over HTTP at `/graphql`, following the GraphQL-over-HTTP specification:
//! `POST` with an `application/json` body runs any operation; `GET` with `query` (or an
//! automatic persisted query's hash) in the URL runs queries only (mutations get 405);
//! responses are `application/graphql-response+json` or `application/json` as the `Accept`
//! header asks (`application/json` when it names neither). With
//! `application/graphql-response+json`, a request that fails as a whole (unparsable,
//! invalid, bad variables) gets 400; with `application/json` it gets 200 and the errors.
//! A browser's `GET` without a query gets GraphiQL. A `GET` asking for a GraphQL WebSocket
//! never reaches this module: the router hands it to [`crate::live`] for subscriptions.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};
use tracing::Instrument as _;

use crate::graphql::extensions::{OperationInfo, classify_error};
use crate::graphql::{PendingAuth, Session};
use crate::server::AppState;

/// The media type of GraphQL responses defined by the GraphQL-over-HTTP specification.
pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// Longest query text remembered as an automatic persisted query; longer ones still run,
/// but must be sent in full every time.
pub const MAX_PERSISTED_QUERY_BYTES: usize = 64 * 1024;

/// The response media types the endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// `application/graphql-response+json`: request errors get 4xx statuses.
    GraphQLResponseJson,
    /// `application/json`: every GraphQL response gets 200.
    Json,
}

impl Media {
    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Media::GraphQLResponseJson => "application/graphql-response+json; charset=utf-8",
            Media::Json => "application/json; charset=utf-8",
        })
    }
}

/// The media ranges of an `Accept` header with their quality, in order.
fn accepted(headers: &HeaderMap) -> Vec<(String, f32)> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Vec::new();
    };
    accept
        .split(',')
        .filter_map(|range| {
            let mut parts = range.split(';');
            let media = parts.next()?.trim().to_ascii_lowercase();
            if media.is_empty() {
                return None;
            }
            let quality = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((media, quality))
        })
        .collect()
}

/// The response media type for a request: the best-rated of the two the endpoint speaks;
/// wildcards, a missing header, or one naming neither give `application/json`.
pub fn negotiate(headers: &HeaderMap) -> Media {
    let mut best = (Media::Json, 0.0_f32);
    for (media, quality) in accepted(headers) {
        let candidate = match media.as_str() {
            GRAPHQL_RESPONSE_JSON => Media::GraphQLResponseJson,
            "application/json" | "application/*" | "*/*" => Media::Json,
            _ => continue,
        };
        if quality > best.1 {
            best = (candidate, quality);
        }
    }
    best.0
}

/// Whether the client (a browser) asks for a web page.
fn wants_html(headers: &HeaderMap) -> bool {
    accepted(headers)
        .iter()
        .any(|(media, quality)| media == "text/html" && *quality > 0.0)
}

/// The parameters of one GraphQL request, from a JSON body or a URL query string.
#[derive(Debug, Default)]
struct Params {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<Map<String, Value>>,
    extensions: Option<Map<String, Value>>,
}

/// A map parameter: absent or null is none, anything but an object is refused.
fn map_param(value: Option<Value>, name: &str) -> Result<Option<Map<String, Value>>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(format!("`{name}` must be an object")),
    }
}

/// A string parameter: absent or null is none, anything but a string is refused.
fn string_param(value: Option<Value>, name: &str) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("`{name}` must be a string")),
    }
}

impl Params {
    /// Parameters from a POST body.
    fn from_json(body: &[u8]) -> Result<Self, String> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err("the request body is empty; send {\"query\": \"...\"}".to_owned());
        }
        let value: Value =
            serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))?;
        let Value::Object(mut object) = value else {
            return Err("the body must be a JSON object with a `query`".to_owned());
        };
        let params = Self {
            query: string_param(object.remove("query"), "query")?,
            operation_name: string_param(object.remove("operationName"), "operationName")?,
            variables: map_param(object.remove("variables"), "variables")?,
            extensions: map_param(object.remove("extensions"), "extensions")?,
        };
        params.checked()
    }

    /// Parameters from a GET URL; `variables` and `extensions` are JSON text.
    fn from_query_string(raw: &str) -> Result<Self, String> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
            .map_err(|e| format!("the URL query string cannot be read: {e}"))?;
        let mut params = Self::default();
        for (key, value) in pairs {
            let json = |name: &str| -> Result<Option<Map<String, Value>>, String> {
                let parsed: Value = serde_json::from_str(&value)
                    .map_err(|e| format!("`{name}` is not valid JSON: {e}"))?;
                map_param(Some(parsed), name)
            };
            match key.as_str() {
                "query" if !value.is_empty() => params.query = Some(value),
                "operationName" if !value.is_empty() => params.operation_name = Some(value),
                "variables" if !value.is_empty() => params.variables = json("variables")?,
                "extensions" if !value.is_empty() => params.extensions = json("extensions")?,
                _ => {}
            }
        }
        params.checked()
    }

    fn persisted_query(&self) -> bool {
        self.extensions
            .as_ref()
            .is_some_and(|e| e.contains_key("persistedQuery"))
    }

    /// Refuses a request with neither a query nor a persisted query's hash.
    fn checked(self) -> Result<Self, String> {
        if self.query.is_none() && !self.persisted_query() {
            return Err("the request has no `query`".to_owned());
        }
        Ok(self)
    }

    fn into_request(self) -> Result<async_graphql::Request, String> {
        let query = self.query.unwrap_or_default();
        let mut extensions = self.extensions.unwrap_or_default();
        // Very long documents run, but are not kept in the persisted-query cache.
        if query.len() > MAX_PERSISTED_QUERY_BYTES {
            extensions.remove("persistedQuery");
        }
        let mut request = async_graphql::Request::new(query);
        if let Some(name) = self.operation_name {
            request = request.operation_name(name);
        }
        if let Some(variables) = self.variables {
            request = request.variables(async_graphql::Variables::from_json(Value::Object(
                variables,
            )));
        }
        for (key, value) in extensions {
            let value = async_graphql::Value::from_json(value)
                .map_err(|e| format!("`extensions.{key}` cannot be read: {e}"))?;
            request.extensions.insert(key, value);
        }
        Ok(request)
    }
}

/// `GET /graphql`: runs a query from the URL, or serves GraphiQL to a browser.
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response<Body> {
    let started = Instant::now();
    let raw = raw.unwrap_or_default();
    let media = negotiate(&headers);
    match Params::from_query_string(&raw) {
        Ok(params) => execute(&state, &headers, params, true, media, started).await,
        Err(_) if raw.is_empty() && wants_html(&headers) => graphiql(&state),
        Err(message) => request_error(&state, StatusCode::BAD_REQUEST, media, &message, started),
    }
}

/// `POST /graphql`: runs any operation from an `application/json` body.
pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response<Body> {
    let started = Instant::now();
    let media = negotiate(&headers);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if content_type.as_deref() != Some("application/json") {
        return request_error(
            &state,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            media,
            "send the request as `Content-Type: application/json`",
            started,
        );
    }
    let body = match body {
        Ok(body) => body,
        // The body-limit layer's 413 is reshaped by the router.
        Err(rejection) => return rejection.into_response(),
    };
    match Params::from_json(&body) {
        Ok(params) => execute(&state, &headers, params, false, media, started).await,
        Err(message) => request_error(&state, StatusCode::BAD_REQUEST, media, &message, started),
    }
}

/// GraphiQL, served from the binary (see [`crate::graphiql`]).
fn graphiql(state: &AppState) -> Response<Body> {
    crate::graphiql::page(state.graphiql_headers())
}

/// Authenticates, runs the request through the schema, records metrics and shapes the
/// HTTP response.
async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    params: Params,
    read_only: bool,
    media: Media,
    started: Instant,
) -> Response<Body> {
    let info = Arc::new(OperationInfo::new(params.operation_name.clone(), read_only));
    let request = match params.into_request() {
        Ok(request) => request,
        Err(message) => {
            return request_error(state, StatusCode::BAD_REQUEST, media, &message, started);
        }
    };
    let span = tracing::info_span!(
        "graphql",
        graphql.operation.name = tracing::field::Empty,
        http.method = if read_only { "GET" } else { "POST" },
    );
    // Authentication waits in the request until the gate has admitted the document.
    let pending = {
        let state = state.clone();
        let headers = headers.clone();
        PendingAuth::new(async move {
            let caller = state.authenticate(&headers).await?;
            Ok(Arc::new(Session::new(state.store(), caller)))
        })
    };
    let request = request.data(pending).data(Arc::clone(&info));
    let timeout = state.limits().request_timeout;
    let run = async {
        match tokio::time::timeout(timeout, state.schema().execute(request)).await {
            Ok(response) => response,
            Err(_) => timed_out(timeout),
        }
    };
    let mut response = run.instrument(span.clone()).await;
    for error in &mut response.errors {
        classify_error(error);
    }
    let name = info.name();
    let label = state.metrics().operation_label(name.as_deref());
    span.record("graphql.operation.name", label.as_str());
    let codes: Vec<&str> = response.errors.iter().filter_map(error_code).collect();
    state
        .metrics()
        .record(name.as_deref(), started.elapsed(), &codes);

    let timed_out = response
        .errors
        .iter()
        .any(|e| error_code(e) == Some("TIMEOUT"));
    let status = if info.refused_over_get() {
        StatusCode::METHOD_NOT_ALLOWED
    } else if info.throttled() {
        StatusCode::TOO_MANY_REQUESTS
    } else if timed_out {
        StatusCode::SERVICE_UNAVAILABLE
    } else if !info.executed() && media == Media::GraphQLResponseJson {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    // A request that failed as a whole has no `data` entry at all.
    let serialized = if info.executed() {
        serde_json::to_vec(&response)
    } else {
        serde_json::to_vec(&RequestFailure {
            errors: &response.errors,
            extensions: &response.extensions,
        })
    };
    let body = serialized.unwrap_or_else(|e| {
        tracing::error!(error = %e, "failed to serialize a GraphQL response");
        INTERNAL_ERROR_BODY.as_bytes().to_vec()
    });
    let mut res = json_response(status, media, body);
    if status == StatusCode::METHOD_NOT_ALLOWED {
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    rate_limit_headers(res.headers_mut(), &info);
    res
}

/// `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds until the budget
/// is full) for a caller with a budget, and `Retry-After` when the request was refused.
pub fn rate_limit_headers(headers: &mut HeaderMap, info: &OperationInfo) {
    let Some(status) = info.throttle_status() else {
        return;
    };
    let figures = [
        ("ratelimit-limit", status.maximum_available),
        ("ratelimit-remaining", status.currently_available),
        ("ratelimit-reset", status.seconds_to_full()),
    ];
    for (name, value) in figures {
        headers.insert(name, HeaderValue::from(value));
    }
    if let Some(seconds) = info.retry_after() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
}

/// The response of a request stopped by the execution timeout.
fn timed_out(timeout: std::time::Duration) -> async_graphql::Response {
    let mut error = async_graphql::ServerError::new(
        format!(
            "the request ran longer than the limit of {} ms and was stopped; a write it \
             had not committed was rolled back",
            timeout.as_millis()
        ),
        None,
    );
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", "TIMEOUT");
    extensions.set("limit", "requestTimeout");
    error.extensions = Some(extensions);
    async_graphql::Response::from_errors(vec![error])
}

/// The body of a request that failed before execution: errors and extensions, no `data`.
#[derive(serde::Serialize)]
struct RequestFailure<'a> {
    errors: &'a [async_graphql::ServerError],
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    extensions: &'a std::collections::BTreeMap<String, async_graphql::Value>,
}

const INTERNAL_ERROR_BODY: &str =
    r#"{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}"#;

fn json_response(status: StatusCode, media: Media, body: impl Into<Body>) -> Response<Body> {
    let mut res = (status, body.into()).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    res.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    res
}

/// A request refused before it reached the schema (bad body, bad parameters).
fn request_error(
    state: &AppState,
    status: StatusCode,
    media: Media,
    message: &str,
    started: Instant,
) -> Response<Body> {
    state
        .metrics()
        .record(None, started.elapsed(), &["BAD_USER_INPUT"]);
    let body = json!({
        "errors": [{ "message": message, "extensions": { "code": "BAD_USER_INPUT" } }]
    });
    json_response(status, media, body.to_string())
}

/// The `extensions.code` of an error.
fn error_code(error: &async_graphql::ServerError) -> Option<&str> {
    match error.extensions.as_ref()?.get("code")? {
        async_graphql::Value::String(code) => Some(code.as_str()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_str(value).expect("header"),
        );
        headers
    }

    #[test]
    fn negotiation_prefers_the_best_rated_supported_type() {
        assert_eq!(negotiate(&HeaderMap::new()), Media::Json);
        assert_eq!(negotiate(&accept("*/*")), Media::Json);
        assert_eq!(negotiate(&accept("text/html")), Media::Json);
        assert_eq!(
            negotiate(&accept(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Media::GraphQLResponseJson
        );
        assert_eq!(
            negotiate(&accept(
                "application/graphql-response+json;q=0.5, application/json"
            )),
            Media::Json
        );
    }

    #[test]
    fn parameters_of_the_wrong_type_are_refused() {
        assert!(Params::from_json(br#"{"query": 1}"#).is_err());
        assert!(Params::from_json(br#"{"query": "{ a }", "variables": []}"#).is_err());
        assert!(Params::from_json(br#"{"query": "{ a }", "operationName": false}"#).is_err());
        assert!(Params::from_json(br#"{"query": "{ a }", "extensions": "x"}"#).is_err());
        assert!(Params::from_json(br#"{"qeury": "{ a }"}"#).is_err());
        assert!(Params::from_json(b"").is_err());
        assert!(
            Params::from_json(br#"{"query": "{ a }", "variables": null, "extensions": null}"#)
                .is_ok()
        );
        assert!(
            Params::from_json(
                br#"{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "x"}}}"#
            )
            .is_ok()
        );
    }
}
