//! Bulk export for tools without GraphQL: `GET /export/<dataset>.csv` or `.ndjson`, with the
//! same bearer token and role rules as the GraphQL lists, `updatedSince`, `after` (a sync
//! cursor) and `columns`. Rows are read in chunks in (change time, id) order and streamed as
//! they are encoded, so memory stays flat whatever the size of the dataset.
//!
//! Everything that can be refused is refused before the first byte (parameters, and the first
//! read). The cursor to resume from ends the body, after the last row: a body cut off midway
//! (the transfer is aborted on a failure) has no cursor, so a loader cannot save one past
//! rows it never got.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use serde::Deserialize;
use tandem_persistence::{
    Access, Dataset, ExportRow, ExportValue, Field, SyncCursor, SyncWindow, Tenant, dataset,
};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::error::ApiError;
use crate::graphql::Session;
use crate::graphql::relay::{decode_sync_cursor, sync_cursor};
use crate::server::AppState;

/// Rows read from the database per statement.
const CHUNK: u64 = 2_000;
/// Encoded chunks buffered between the reader and the socket.
const BUFFERED_CHUNKS: usize = 4;
/// The key of the NDJSON record, and the first field of the CSV record, that ends a complete
/// export and holds the cursor to pass as `after` on the next one.
pub const RESUME_MARK: &str = "_resume_after";

/// The file formats served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Ndjson,
}

/// Query-string parameters of an export; any other parameter is refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// Only rows changed at or after this RFC 3339 time.
    #[serde(rename = "updatedSince")]
    updated_since: Option<String>,
    /// Only rows after this sync cursor (from a GraphQL page or a previous export).
    after: Option<String>,
    /// Comma-separated column names; every column when absent.
    columns: Option<String>,
}

/// An export failure as an HTTP status with a GraphQL-shaped JSON body.
enum ExportError {
    /// A refusal with its status.
    Refused(StatusCode, ApiError),
    /// The caller's budget holds too little: the budget and the seconds to wait.
    Throttled(crate::throttle::ThrottleStatus, u64),
}

impl IntoResponse for ExportError {
    fn into_response(self) -> Response {
        let (status, err) = match self {
            ExportError::Refused(status, err) => (status, err),
            ExportError::Throttled(budget, seconds) => {
                let body = serde_json::json!({
                    "errors": [{
                        "message": format!(
                            "an export costs {EXPORT_COST} points and {} are left; retry after {seconds} s",
                            budget.currently_available
                        ),
                        "extensions": { "code": "THROTTLED", "retryAfter": seconds }
                    }]
                });
                let mut response =
                    (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
                budget_headers(response.headers_mut(), &budget, Some(seconds));
                return response;
            }
        };
        if let ApiError::Internal(detail) = &err {
            tracing::error!(error = %detail, "export failed");
        }
        let mut extensions = serde_json::json!({ "code": err.code() });
        if let ApiError::BadUserInput(problems) = &err
            && let Some(first) = problems.first()
        {
            extensions["field"] = serde_json::Value::from(first.path.as_str());
        }
        let body = serde_json::json!({
            "errors": [{ "message": err.message(), "extensions": extensions }]
        });
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            // RFC 7235: a 401 names the scheme that would be accepted.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<ApiError> for ExportError {
    fn from(err: ApiError) -> Self {
        let status = match &err {
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::BadUserInput(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ExportError::Refused(status, err)
    }
}

/// `GET /export/{dataset}.{csv|ndjson}`.
pub async fn export(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
    params: Result<Query<ExportParams>, QueryRejection>,
) -> Response {
    match start(state, &file, &headers, params).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn start(
    state: AppState,
    file: &str,
    headers: &HeaderMap,
    params: Result<Query<ExportParams>, QueryRejection>,
) -> Result<Response, ExportError> {
    let not_found =
        |message: String| ExportError::Refused(StatusCode::NOT_FOUND, ApiError::NotFound(message));
    let (name, format) = match file.rsplit_once('.') {
        Some((name, "csv")) => (name, Format::Csv),
        Some((name, "ndjson")) => (name, Format::Ndjson),
        _ => {
            return Err(not_found(format!(
                "export `{file}`: ask for `<dataset>.csv` or `<dataset>.ndjson`"
            )));
        }
    };
    let set = dataset(name).ok_or_else(|| {
        not_found(format!(
            "no dataset `{name}`; datasets: {}",
            tandem_persistence::DATASETS
                .iter()
                .map(|d| d.name)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let caller = state.authenticate(headers).await?;
    let session = Session::new(state.store(), caller);
    let people = match set.access {
        Access::Permission(p) => {
            session.caller.require(p)?;
            None
        }
        Access::PersonalPay { .. } => crate::incentives::pay_scope(&session).await?,
    };
    let Query(params) =
        params.map_err(|e| ApiError::bad_input("query", format!("bad query string: {e}")))?;
    let fields = select(set, params.columns.as_deref())?;
    let since = params
        .updated_since
        .as_deref()
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|_| {
                    ApiError::bad_input("updatedSince", format!("`{t}` is not an RFC 3339 time"))
                })
        })
        .transpose()?;
    let after = match params.after.as_deref() {
        None => None,
        Some(c) => Some(decode_sync_cursor(c, "after")?.ok_or_else(|| {
            ApiError::bad_input("after", "not a cursor of a change-ordered list")
        })?),
    };
    let limits = state.limits();
    let settle = chrono::Duration::from_std(limits.sync_settle).unwrap_or_default();
    let window = SyncWindow {
        since,
        after,
        first: CHUNK,
        until: chrono::Utc::now() - settle,
    };
    let resume = sync_cursor(&SyncCursor::past(window.until));
    let budget = charge(&state, &session).await?;
    // The first chunk is read before answering, so a failing read is an error status, not a
    // body cut off after its header line.
    let first = session
        .tenant
        .export_chunk(set, &fields, people.as_deref(), &window)
        .await
        .map_err(ApiError::from)?;

    let (tx, mut rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(BUFFERED_CHUNKS);
    let tenant = session.tenant.clone();
    tokio::spawn(produce(
        Export {
            tenant,
            set,
            fields,
            people: people.map(Arc::from),
            window,
            format,
            resume,
        },
        first,
        tx,
    ));
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));

    let content_type = match format {
        Format::Csv => "text/csv; charset=utf-8",
        Format::Ndjson => "application/x-ndjson",
    };
    let mut response = Response::new(Body::from_stream(stream));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(status) = budget {
        budget_headers(h, &status, None);
    }
    Ok(response)
}

/// Points an export takes from the caller's budget: a bulk read, priced like a page of 100
/// objects whatever its length (exports are how bulk reads are meant to be made).
pub const EXPORT_COST: u64 = 100;

/// Charges the caller's budget for an export; refuses with 429 when it holds too little.
async fn charge(
    state: &AppState,
    session: &Session,
) -> Result<Option<crate::throttle::ThrottleStatus>, ExportError> {
    if state.limits().rate_limit_bucket == 0 {
        return Ok(None);
    }
    let caller = format!("{}:{}", session.caller.org_id, session.caller.subject);
    match state.rate_limiter().charge(&caller, EXPORT_COST).await {
        crate::throttle::Charge::Admitted(status) => Ok(Some(status)),
        crate::throttle::Charge::Throttled {
            status,
            retry_after,
        } => Err(ExportError::Throttled(
            status,
            retry_after.as_secs_f64().ceil().max(1.0) as u64,
        )),
    }
}

/// `RateLimit-*` headers, and `Retry-After` when refused.
fn budget_headers(
    h: &mut HeaderMap,
    status: &crate::throttle::ThrottleStatus,
    retry_after: Option<u64>,
) {
    h.insert(
        "ratelimit-limit",
        HeaderValue::from(status.maximum_available),
    );
    h.insert(
        "ratelimit-remaining",
        HeaderValue::from(status.currently_available),
    );
    h.insert(
        "ratelimit-reset",
        HeaderValue::from(status.seconds_to_full()),
    );
    if let Some(seconds) = retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
}

/// The fields a `columns` parameter selects, in the order given; every field when absent.
/// Unknown and repeated names are refused, and so is a list longer than the dataset's columns.
fn select(set: &'static Dataset, columns: Option<&str>) -> Result<Vec<&'static Field>, ApiError> {
    let Some(columns) = columns.filter(|c| !c.trim().is_empty()) else {
        return Ok(set.fields.iter().collect());
    };
    let names = || {
        set.fields
            .iter()
            .map(|f| f.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let count = columns.split(',').count();
    if count > set.fields.len() {
        return Err(ApiError::bad_input(
            "columns",
            format!(
                "{count} columns asked for; `{}` has {}, each can be named once: {}",
                set.name,
                set.fields.len(),
                names()
            ),
        ));
    }
    let mut chosen: Vec<&'static Field> = Vec::with_capacity(count);
    for name in columns.split(',').map(str::trim) {
        let field = set.field(name).ok_or_else(|| {
            ApiError::bad_input(
                "columns",
                format!(
                    "`{}` has no column `{name}`; columns: {}",
                    set.name,
                    names()
                ),
            )
        })?;
        if chosen.iter().any(|f| f.name == field.name) {
            return Err(ApiError::bad_input(
                "columns",
                format!("column `{name}` is named more than once"),
            ));
        }
        chosen.push(field);
    }
    Ok(chosen)
}

/// What one export reads and how it writes it.
struct Export {
    tenant: Tenant,
    set: &'static Dataset,
    fields: Vec<&'static Field>,
    people: Option<Arc<[Uuid]>>,
    window: SyncWindow,
    format: Format,
    /// The cursor written after the last row.
    resume: String,
}

impl Export {
    fn encode(&self, rows: &[ExportRow]) -> Result<Bytes, std::io::Error> {
        match self.format {
            Format::Csv => csv_chunk(rows.iter().map(|r| r.values.iter().map(csv_text).collect())),
            Format::Ndjson => Ok(ndjson_chunk(&self.fields, rows)),
        }
    }

    /// The last record of a complete export: the cursor to resume from.
    fn ending(&self) -> Result<Bytes, std::io::Error> {
        match self.format {
            Format::Csv => csv_chunk(std::iter::once(vec![
                format!("#{RESUME_MARK}"),
                self.resume.clone(),
            ])),
            Format::Ndjson => {
                let mut line = serde_json::json!({ RESUME_MARK: self.resume }).to_string();
                line.push('\n');
                Ok(Bytes::from(line))
            }
        }
    }
}

/// Sends the header line (CSV), the first chunk, then reads and sends the rest chunk by chunk,
/// and ends with the resume record; stops when the client goes away. A failure aborts the
/// response before the resume record, so the client sees a broken transfer with no cursor,
/// never a silently short file.
async fn produce(
    mut export: Export,
    first: Vec<ExportRow>,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    if export.format == Format::Csv {
        let names = export.fields.iter().map(|f| f.name.to_owned()).collect();
        let header = csv_chunk(std::iter::once(names));
        let failed = header.is_err();
        if tx.send(header).await.is_err() || failed {
            return;
        }
    }
    let mut rows = first;
    loop {
        if let Some(last) = rows.last() {
            export.window.after = Some(last.cursor);
            let encoded = export.encode(&rows);
            let failed = encoded.is_err();
            if tx.send(encoded).await.is_err() || failed {
                return;
            }
        }
        if (rows.len() as u64) < export.window.first {
            let _ = tx.send(export.ending()).await;
            return;
        }
        rows = match export
            .tenant
            .export_chunk(
                export.set,
                &export.fields,
                export.people.as_deref(),
                &export.window,
            )
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, dataset = export.set.name, "export read failed");
                let _ = tx
                    .send(Err(std::io::Error::other("export read failed")))
                    .await;
                return;
            }
        };
    }
}

/// Encodes records as RFC 4180 CSV: CRLF line ends, fields quoted when they hold a comma, a
/// quote or a line break, quotes doubled.
fn csv_chunk(records: impl Iterator<Item = Vec<String>>) -> Result<Bytes, std::io::Error> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(64 * 1024));
    for record in records {
        writer.write_record(&record)?;
    }
    writer
        .into_inner()
        .map(Bytes::from)
        .map_err(|e| std::io::Error::other(e.to_string()))
}

fn csv_text(value: &ExportValue) -> String {
    match value {
        ExportValue::Null => String::new(),
        ExportValue::Uuid(u) => u.to_string(),
        ExportValue::Text(t) => t.clone(),
        ExportValue::Decimal(d) => d.to_string(),
        ExportValue::Date(d) => d.to_string(),
        ExportValue::Timestamp(t) => t.to_rfc3339_opts(SecondsFormat::Micros, true),
        ExportValue::Int(i) => i.to_string(),
        ExportValue::Bool(b) => b.to_string(),
    }
}

fn json_value(value: &ExportValue) -> serde_json::Value {
    match value {
        ExportValue::Null => serde_json::Value::Null,
        ExportValue::Int(i) => serde_json::Value::from(*i),
        ExportValue::Bool(b) => serde_json::Value::from(*b),
        // Decimals travel as strings, as in GraphQL, so no digit is lost to a float.
        other => serde_json::Value::from(csv_text(other)),
    }
}

/// Encodes rows as newline-delimited JSON objects, keys in column order.
fn ndjson_chunk(fields: &[&Field], rows: &[ExportRow]) -> Bytes {
    let mut out = Vec::with_capacity(rows.len() * 256);
    for row in rows {
        out.push(b'{');
        for (i, (field, value)) in fields.iter().zip(&row.values).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // Serializing a str or a JSON value into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut out, field.name);
            out.push(b':');
            let _ = serde_json::to_writer(&mut out, &json_value(value));
        }
        out.extend_from_slice(b"}\n");
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_per_rfc_4180() {
        let bytes = csv_chunk(
            [vec![
                "plain".to_owned(),
                "a,b".to_owned(),
                "say \"hi\"".to_owned(),
                "two\nlines".to_owned(),
                String::new(),
            ]]
            .into_iter(),
        )
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\r\n"
        );
    }
}
