//! The README runs as written: every GraphQL example and every curl call to `/graphql` in
//! README.md runs, top to bottom, against one fresh server as an admin, and none may fail.
//!
//! The convention the README follows (new sections follow it too):
//! - A ```` ```graphql ```` block is run operation by operation, in the order written:
//!   queries and mutations over HTTP, subscriptions over WebSocket. A subscription stays open
//!   while the examples after it run, and must have received an event without errors by the
//!   end (so some later example must trigger it).
//! - A variable `$name` in an example takes the value of the latest result field whose
//!   response key (field name or alias) is `name`; when that value is an object, the first
//!   `id` inside it. So `nrr: createGoal(...) { goal { id } }` feeds `$nrr`, and
//!   `pageInfo { endCursor }` feeds `$endCursor`. The README tells the reader to paste those
//!   values into GraphiQL's variables.
//! - In a ```` ```sh ```` block, each `curl` to `/graphql` is run with the body of its `-d`
//!   (POST) or its `--data-urlencode` parameters (with `-G`, GET), its `-H` headers, and the
//!   admin token for `$TOKEN`. Other commands (exports, builds) are not GraphQL examples and
//!   are left alone. A curl that needs other shell variables cannot be run this way.
//! - A block not meant to run (a placeholder, shell variables) is preceded by the line
//!   `<!-- readme-test: skip (why) -->`. Keep these few.
//!
//! The server runs with no sync settle horizon: a reader following the README takes longer
//! than the 5 seconds a change needs to settle, this test does not.

use std::collections::BTreeMap;
use std::time::Duration;

use async_graphql::parser::parse_query;
use async_graphql::parser::types::OperationType;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tandem_api::Limits;
use tandem_tests::TestApp;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::on_both_backends_with;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The line that marks the next block as not meant to run.
const SKIP: &str = "<!-- readme-test: skip";

/// One fenced block of README.md.
struct Block {
    lang: String,
    /// 1-based line of the opening fence.
    line: usize,
    text: String,
    skipped: bool,
}

fn readme_blocks() -> Vec<Block> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let readme = std::fs::read_to_string(path).expect("read README.md");
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    let mut previous = "";
    for (i, line) in readme.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        match open.take() {
            Some(block) if fence => blocks.push(block),
            Some(mut block) => {
                block.text.push_str(line);
                block.text.push('\n');
                open = Some(block);
            }
            None if fence => {
                open = Some(Block {
                    lang: line.trim_start().trim_start_matches('`').trim().to_owned(),
                    line: i + 1,
                    text: String::new(),
                    skipped: previous.trim_start().starts_with(SKIP),
                });
            }
            None => {}
        }
        if !line.trim().is_empty() {
            previous = line;
        }
    }
    assert!(open.is_none(), "README.md has an unclosed code block");
    blocks
}

/// Splits a shell command into words: single and double quotes, backslash escapes. `$TOKEN`
/// outside single quotes becomes `token`; any other `$` makes the command unrunnable (None).
fn shell_words(command: &str, token: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = command.chars().peekable();
    // Expands the variable after a `$`: only `$TOKEN` is known.
    fn expand(
        word: &mut String,
        chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
        token: &str,
    ) -> Option<()> {
        let mut name = String::new();
        while let Some(c) = chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_') {
            name.push(c);
        }
        (name == "TOKEN").then(|| word.push_str(token))
    }
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        '$' => expand(&mut word, &mut chars, token)?,
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            '$' => {
                in_word = true;
                expand(&mut word, &mut chars, token)?;
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

/// One curl call to `/graphql`: its method, headers and body or query parameters.
struct Curl {
    get: bool,
    headers: Vec<(String, String)>,
    body: Option<String>,
    params: Vec<(String, String)>,
}

/// The curl calls to `/graphql` of a shell block; an error names a call that cannot run.
fn curl_calls(text: &str, token: &str) -> Result<Vec<Curl>, String> {
    let joined = text.replace("\\\n", " ");
    let mut calls = Vec::new();
    for command in joined.lines().map(str::trim) {
        if !command.starts_with("curl ") || !command.contains("/graphql") {
            continue;
        }
        let words = shell_words(command, token)
            .ok_or_else(|| format!("`{command}` uses shell variables other than $TOKEN"))?;
        let mut call = Curl {
            get: false,
            headers: Vec::new(),
            body: None,
            params: Vec::new(),
        };
        let mut words = words.into_iter().skip(1);
        while let Some(word) = words.next() {
            match word.as_str() {
                "-G" | "--get" => call.get = true,
                "-H" | "--header" => {
                    let header = words.next().unwrap_or_default();
                    let (name, value) = header
                        .split_once(':')
                        .ok_or_else(|| format!("bad header `{header}`"))?;
                    call.headers
                        .push((name.trim().to_owned(), value.trim().to_owned()));
                }
                "-d" | "--data" | "--data-raw" => call.body = words.next(),
                "--data-urlencode" => {
                    let param = words.next().unwrap_or_default();
                    let (name, value) = param
                        .split_once('=')
                        .ok_or_else(|| format!("bad parameter `{param}`"))?;
                    call.params.push((name.to_owned(), value.to_owned()));
                }
                "-s" | "-S" | "-sS" => {}
                url if url.starts_with("http") => {}
                other => return Err(format!("`{command}`: unsupported curl option `{other}`")),
            }
        }
        calls.push(call);
    }
    Ok(calls)
}

/// The first `id` inside a value, depth first.
fn first_id(value: &Value) -> Option<Value> {
    match value {
        Value::Object(fields) => fields
            .get("id")
            .cloned()
            .or_else(|| fields.values().find_map(first_id)),
        Value::Array(items) => items.iter().find_map(first_id),
        _ => None,
    }
}

/// Remembers every response key of `data`, depth first, so later examples can use it.
fn remember(data: &Value, results: &mut BTreeMap<String, Value>) {
    match data {
        Value::Object(fields) => {
            for (key, value) in fields {
                results.insert(key.clone(), value.clone());
                remember(value, results);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| remember(item, results)),
        _ => {}
    }
}

/// The value of variable `name` by the convention above.
fn variable(name: &str, results: &BTreeMap<String, Value>) -> Option<Value> {
    match results.get(name)? {
        value @ Value::Object(_) => first_id(value),
        value => Some(value.clone()),
    }
}

/// Opens a graphql-transport-ws connection, starts `query` as subscription `1`, and returns
/// once the server has answered a query sent after it on the same connection (the server
/// starts operations of one connection in the order received).
async fn subscribe(app: &TestApp, token: &str, payload: Value) -> Result<Socket, String> {
    let mut request = format!("ws://{}/graphql", app.addr)
        .into_client_request()
        .map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().map_err(|_| "header")?,
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| e.to_string())?;
    let send = |v: Value| Message::text(v.to_string());
    socket
        .send(send(json!({ "type": "connection_init",
            "payload": { "Authorization": format!("Bearer {token}") } })))
        .await
        .map_err(|e| e.to_string())?;
    match next_message(&mut socket).await {
        Some(v) if v["type"] == "connection_ack" => {}
        other => return Err(format!("no connection_ack: {other:?}")),
    }
    socket
        .send(send(
            json!({ "id": "1", "type": "subscribe", "payload": payload }),
        ))
        .await
        .map_err(|e| e.to_string())?;
    socket
        .send(send(json!({ "id": "ready", "type": "subscribe",
            "payload": { "query": "{ metrics(first: 1) { totalCount } }" } })))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let v = next_message(&mut socket)
            .await
            .ok_or("no answer on the subscription socket")?;
        if v["id"] == "1" && v["type"] == "error" {
            return Err(format!("refused: {}", v["payload"]));
        }
        if v["id"] == "ready" && v["type"] == "complete" {
            return Ok(socket);
        }
    }
}

/// The next text message within 10 seconds.
async fn next_message(socket: &mut Socket) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .ok()??
            .ok()?;
        match message {
            Message::Text(text) => return serde_json::from_str(text.as_str()).ok(),
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

/// What went wrong with a response, if anything.
fn failure(status: reqwest::StatusCode, body: &Value) -> Option<String> {
    if !status.is_success() {
        return Some(format!("HTTP {status}: {body}"));
    }
    if let Some(errors) = body.get("errors") {
        return Some(format!("errors: {errors}"));
    }
    (!body["data"].is_object()).then(|| format!("no data: {body}"))
}

async fn run_readme(app: TestApp) {
    let token = app.token(&["admin"]);
    let mut results = BTreeMap::new();
    let mut subscriptions: Vec<(String, Socket)> = Vec::new();
    let mut failures = Vec::new();
    let mut ran = 0;
    for block in readme_blocks() {
        if block.skipped {
            continue;
        }
        let at = format!("README.md:{}", block.line);
        if block.lang == "graphql" {
            let document = match parse_query(&block.text) {
                Ok(document) => document,
                Err(e) => {
                    failures.push(format!("{at}: does not parse: {e}"));
                    continue;
                }
            };
            let mut operations: Vec<_> = document
                .operations
                .iter()
                .map(|(name, op)| (op.pos.line, name.map(|n| n.to_string()), op))
                .collect();
            operations.sort_by_key(|(line, _, _)| *line);
            for (line, name, op) in operations {
                ran += 1;
                let at = format!("README.md:{}", block.line + line);
                let mut variables = serde_json::Map::new();
                for definition in &op.node.variable_definitions {
                    let var = definition.node.name.node.to_string();
                    match variable(&var, &results) {
                        Some(value) => {
                            variables.insert(var, value);
                        }
                        None => failures
                            .push(format!("{at}: ${var} has no earlier result named `{var}`")),
                    }
                }
                if op.node.ty == OperationType::Subscription {
                    let payload = json!({ "query": block.text, "operationName": name,
                        "variables": variables });
                    match subscribe(&app, &token, payload).await {
                        Ok(socket) => subscriptions.push((at, socket)),
                        Err(e) => failures.push(format!("{at}: {e}")),
                    }
                    continue;
                }
                let response = app
                    .client()
                    .post(app.url("/graphql"))
                    .bearer_auth(&token)
                    .json(&json!({ "query": block.text, "operationName": name,
                        "variables": variables }))
                    .send()
                    .await
                    .expect("request");
                let status = response.status();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                match failure(status, &body) {
                    Some(f) => failures.push(format!("{at}: {f}")),
                    None => remember(&body["data"], &mut results),
                }
            }
        } else if block.lang == "sh" {
            let calls = match curl_calls(&block.text, &token) {
                Ok(calls) => calls,
                Err(e) => {
                    failures.push(format!("{at}: {e} (mark the block with {SKIP} ...)"));
                    continue;
                }
            };
            for call in calls {
                ran += 1;
                let mut request = if call.get {
                    app.client().get(app.url("/graphql")).query(&call.params)
                } else {
                    app.client()
                        .post(app.url("/graphql"))
                        .body(call.body.clone().unwrap_or_default())
                };
                for (name, value) in &call.headers {
                    request = request.header(name, value);
                }
                let response = request.send().await.expect("request");
                let status = response.status();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                match failure(status, &body) {
                    Some(f) => failures.push(format!("{at} (curl): {f}")),
                    None => remember(&body["data"], &mut results),
                }
            }
        }
    }
    // Every subscription must have seen an event from the examples after it.
    for (at, mut socket) in subscriptions {
        match next_message(&mut socket).await {
            Some(v) if v["type"] == "next" => {
                if let Some(f) = failure(reqwest::StatusCode::OK, &v["payload"]) {
                    failures.push(format!("{at} (subscription): {f}"));
                }
            }
            other => failures.push(format!(
                "{at} (subscription): no event from the examples after it: {other:?}"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "README examples failed:\n{}",
        failures.join("\n")
    );
    assert!(ran >= 20, "only {ran} README examples found");
}

fn limits() -> Limits {
    Limits {
        sync_settle: Duration::ZERO,
        ..Limits::default()
    }
}

on_both_backends_with!(
    every_readme_example_runs_in_order_on_a_fresh_server,
    limits(),
    8 * 1024 * 1024,
    run_readme
);

#[test]
fn the_readme_test_reads_curl_calls_as_a_shell_would() {
    let calls = curl_calls(
        "curl -s -G http://h/graphql -H \"Authorization: Bearer $TOKEN\" \\\n  --data-urlencode 'query={ a }'\nQ=1\ncurl http://h/export/x.csv\n",
        "t0k",
    )
    .expect("runnable");
    assert_eq!(calls.len(), 1);
    assert!(calls[0].get);
    assert_eq!(
        calls[0].headers,
        [("Authorization".to_owned(), "Bearer t0k".to_owned())]
    );
    assert_eq!(calls[0].params, [("query".to_owned(), "{ a }".to_owned())]);
    assert!(curl_calls("curl -d \"{\\\"q\\\":$EXT}\" http://h/graphql", "t").is_err());
    let calls = curl_calls(
        "curl -s http://h/graphql -d '{\"query\":\"{ x(k: \\\"v\\\") }\"}'",
        "t",
    )
    .expect("runnable");
    assert_eq!(
        calls[0].body.as_deref(),
        Some("{\"query\":\"{ x(k: \\\"v\\\") }\"}")
    );
}
