//! Live updates over WebSocket (graphql-transport-ws): observations, check-ins and scorecard
//! status changes reach subscribers of the writing organization with a role that may read
//! them, and nobody else; bad tokens are refused; and on PostgreSQL a write on one server
//! process reaches a subscriber on another.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tandem_tests::{TestApp, on_both_backends};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::goals::{CHECK_IN, CREATE_GOAL, KEY_RESULT, OBJECTIVE};
use crate::support::{create_segment, define_metric, obs, obs_dim, record, record_as};

/// How long a test waits for an event that should come.
const WAIT: Duration = Duration::from_secs(10);
/// How long a test listens for an event that should not come.
const QUIET: Duration = Duration::from_millis(700);

const OBSERVATIONS: &str = r#"subscription($m: String, $s: String) {
  observationRecorded(metricKey: $m, segmentKey: $s) {
    observations { value periodStart granularity metric { key } segment { key } }
  }
}"#;

const CHECK_INS: &str = r#"subscription($kr: ID, $o: ID) {
  checkInAdded(keyResultId: $kr, objectiveId: $o) {
    checkIn { value confidence note author }
    keyResult { id title current }
  }
}"#;

const STATUSES: &str = r#"subscription($id: ID) {
  scorecardStatusChanged(scorecardId: $id) {
    scorecard { id name } periodStart periodEnd granularity status previousStatus score
  }
}"#;

const DEFINE_SCORECARD: &str = r#"mutation($input: DefineScorecardInput!) {
  defineScorecard(input: $input) { scorecard { id } }
}"#;

const UPDATE_SCORECARD: &str = r#"mutation($input: UpdateScorecardInput!) {
  updateScorecard(input: $input) { scorecard { id } }
}"#;

/// A graphql-transport-ws client.
struct Ws {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How a connection attempt ended when the server refused it.
#[derive(Debug)]
struct Refused {
    code: Option<u16>,
    reason: String,
}

async fn open(addr: std::net::SocketAddr) -> WebSocketStream<MaybeTlsStream<TcpStream>> {
    let mut request = format!("ws://{addr}/graphql")
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket upgrade");
    assert_eq!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("graphql-transport-ws")
    );
    socket
}

impl Ws {
    /// Connects and initialises with `payload`; the server's refusal otherwise.
    async fn try_connect(addr: std::net::SocketAddr, payload: Value) -> Result<Ws, Refused> {
        let mut socket = open(addr).await;
        socket
            .send(Message::text(
                json!({ "type": "connection_init", "payload": payload }).to_string(),
            ))
            .await
            .expect("send init");
        loop {
            let message = tokio::time::timeout(WAIT, socket.next())
                .await
                .expect("an answer to connection_init");
            match message {
                Some(Ok(Message::Text(text))) => {
                    let v: Value = serde_json::from_str(text.as_str()).expect("json");
                    assert_eq!(v["type"], "connection_ack", "{v}");
                    return Ok(Ws { socket });
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(Refused {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    });
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    return Err(Refused {
                        code: None,
                        reason: e.to_string(),
                    });
                }
                None => {
                    return Err(Refused {
                        code: None,
                        reason: "closed".into(),
                    });
                }
            }
        }
    }

    /// Connects with a bearer token.
    async fn connect(app_addr: std::net::SocketAddr, token: &str) -> Ws {
        Ws::try_connect(
            app_addr,
            json!({ "Authorization": format!("Bearer {token}") }),
        )
        .await
        .expect("connection accepted")
    }

    /// Starts a subscription and waits until the server has it running.
    async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.socket
            .send(Message::text(
                json!({ "id": id, "type": "subscribe",
                        "payload": { "query": query, "variables": variables } })
                .to_string(),
            ))
            .await
            .expect("send subscribe");
        // A ping answered means the subscribe before it was read; the short pause lets the
        // server start the subscription's stream.
        self.socket
            .send(Message::text(json!({ "type": "ping" }).to_string()))
            .await
            .expect("send ping");
        let v = self.read(WAIT).await.expect("pong");
        assert_eq!(v["type"], "pong", "unexpected message before pong: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    async fn read(&mut self, within: Duration) -> Option<Value> {
        loop {
            let message = tokio::time::timeout(within, self.socket.next())
                .await
                .ok()??;
            match message.expect("websocket message") {
                Message::Text(text) => {
                    return Some(serde_json::from_str(text.as_str()).expect("json"));
                }
                Message::Close(frame) => panic!("closed: {frame:?}"),
                _ => {}
            }
        }
    }

    /// The next `next` payload of subscription `id`.
    async fn next(&mut self, id: &str) -> Value {
        loop {
            let v = self
                .read(WAIT)
                .await
                .unwrap_or_else(|| panic!("no event for {id} within {WAIT:?}"));
            if v["id"] == id && v["type"] == "next" {
                return v["payload"].clone();
            }
            assert_ne!(v["id"], id, "unexpected message for {id}: {v}");
        }
    }

    /// Asserts no message arrives for a while.
    async fn nothing(&mut self) {
        if let Some(v) = self.read(QUIET).await {
            panic!("expected nothing, got {v}");
        }
    }
}

/// The errors of the first response to a subscription that the server refuses.
async fn refused_subscription(ws: &mut Ws, id: &str, query: &str, variables: Value) -> Value {
    ws.socket
        .send(Message::text(
            json!({ "id": id, "type": "subscribe",
                    "payload": { "query": query, "variables": variables } })
            .to_string(),
        ))
        .await
        .expect("send");
    let payload = ws.next(id).await;
    assert!(payload["data"].is_null(), "{payload}");
    payload["errors"].clone()
}

on_both_backends!(
    recorded_observations_reach_readers_of_the_same_organization_only,
    |app: TestApp| async move {
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        define_metric(&app, "nps", "CUSTOMER", "AVERAGE").await;
        create_segment(&app, "smb").await;
        let other = app.create_org("Other").await;

        let mut all = Ws::connect(app.addr, &app.token(&["bi"])).await;
        all.subscribe("all", OBSERVATIONS, json!({})).await;
        let mut arr = Ws::connect(app.addr, &app.token(&["member"])).await;
        arr.subscribe("arr", OBSERVATIONS, json!({ "m": "arr" }))
            .await;
        let mut smb = Ws::connect(app.addr, &app.token(&["member"])).await;
        smb.subscribe("smb", OBSERVATIONS, json!({ "s": "smb" }))
            .await;
        let foreign_token = app.token_for(other, "admin-user", &["admin"]);
        let mut foreign = Ws::connect(app.addr, &foreign_token).await;
        foreign.subscribe("f", OBSERVATIONS, json!({})).await;

        record(
            &app,
            vec![
                obs("arr", "2026-01-01", "MONTH", "12345678901234.123456789"),
                obs_dim("nps", "2026-01-01", "MONTH", Some("smb"), None, "41"),
            ],
        )
        .await;

        let got = all.next("all").await;
        let rows = got["data"]["observationRecorded"]["observations"]
            .as_array()
            .expect("observations")
            .clone();
        assert_eq!(rows.len(), 2, "{got}");
        let values: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| {
                (
                    r["metric"]["key"].as_str().expect("key"),
                    r["value"].as_str().expect("value"),
                )
            })
            .collect();
        assert!(
            values.contains(&("arr", "12345678901234.123456789")),
            "{got}"
        );
        assert!(values.contains(&("nps", "41")), "{got}");

        let got = arr.next("arr").await;
        let rows = &got["data"]["observationRecorded"]["observations"];
        assert_eq!(rows.as_array().map(Vec::len), Some(1), "{got}");
        assert_eq!(rows[0]["metric"]["key"], "arr");
        assert_eq!(rows[0]["granularity"], "MONTH");
        assert_eq!(rows[0]["periodStart"], "2026-01-01");

        let got = smb.next("smb").await;
        let rows = &got["data"]["observationRecorded"]["observations"];
        assert_eq!(rows.as_array().map(Vec::len), Some(1), "{got}");
        assert_eq!(rows[0]["segment"]["key"], "smb");

        // Re-sending the same values changes nothing, so nothing is announced; a dry run
        // writes nothing either.
        record(
            &app,
            vec![obs(
                "arr",
                "2026-01-01",
                "MONTH",
                "12345678901234.123456789",
            )],
        )
        .await;
        app.ok(
            "revops",
            crate::support::RECORD,
            json!({ "o": [obs("arr", "2026-02-01", "MONTH", "5")], "dry": true }),
        )
        .await;
        all.nothing().await;
        // The other organization heard nothing of it.
        foreign.nothing().await;
    }
);

on_both_backends!(
    a_big_batch_reaches_subscribers_whole_in_parts,
    |app: TestApp| async move {
        define_metric(&app, "visits", "CUSTOMER", "SUM").await;
        let mut ws = Ws::connect(app.addr, &app.token(&["bi"])).await;
        ws.subscribe("v", OBSERVATIONS, json!({ "m": "visits" }))
            .await;
        let start = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).expect("date");
        let rows: Vec<Value> = (0..400)
            .map(|d| {
                let day = start + chrono::Days::new(d);
                obs("visits", &day.to_string(), "DAY", &d.to_string())
            })
            .collect();
        record(&app, rows).await;
        let mut seen = 0;
        while seen < 400 {
            let got = ws.next("v").await;
            let n = got["data"]["observationRecorded"]["observations"]
                .as_array()
                .map(Vec::len)
                .unwrap_or(0);
            assert!(n > 0 && n <= 150, "{n} rows in one event");
            seen += n;
        }
        assert_eq!(seen, 400);
        ws.nothing().await;
    }
);

on_both_backends!(
    connections_without_a_valid_token_are_refused,
    |app: TestApp| async move {
        let refused = Ws::try_connect(app.addr, json!({}))
            .await
            .err()
            .expect("refused");
        assert_eq!(refused.code, Some(4403), "{refused:?}");
        let refused = Ws::try_connect(app.addr, json!({ "Authorization": "Bearer nonsense" }))
            .await
            .err()
            .expect("refused");
        assert_eq!(refused.code, Some(4403), "{refused:?}");
        assert!(refused.reason.contains("Forbidden"), "{refused:?}");

        // A token signed with another secret.
        let forged =
            tandem_api::auth::Minter::new(b"another-secret-0123456789abcdefghij", None, None)
                .mint(
                    "admin-user",
                    app.org_id,
                    &[tandem_domain::access::AccessRole::Admin],
                    3600,
                )
                .expect("mint");
        let refused = Ws::try_connect(app.addr, json!({ "token": forged }))
            .await
            .err()
            .expect("refused");
        assert_eq!(refused.code, Some(4403), "{refused:?}");

        // A token for an organization that does not exist.
        let ghost = app.token_for(uuid::Uuid::new_v4(), "admin-user", &["admin"]);
        let refused = Ws::try_connect(app.addr, json!({ "token": ghost }))
            .await
            .err()
            .expect("refused");
        assert_eq!(refused.code, Some(4403), "{refused:?}");

        // The `token` form works as well as the header form.
        let ok = Ws::try_connect(app.addr, json!({ "token": app.token(&["member"]) })).await;
        assert!(ok.is_ok());

        // Subscriptions over plain HTTP are refused.
        let body = app.gql("admin", OBSERVATIONS, json!({})).await;
        assert!(body["errors"].is_array(), "{body}");
    }
);

on_both_backends!(
    roles_that_may_not_read_get_no_subscription,
    |app: TestApp| async move {
        let mut ws = Ws::connect(app.addr, &app.token(&["hr_sync"])).await;
        for (id, query) in [("o", OBSERVATIONS), ("c", CHECK_INS), ("s", STATUSES)] {
            let errors = refused_subscription(&mut ws, id, query, json!({})).await;
            assert_eq!(errors[0]["extensions"]["code"], "FORBIDDEN", "{errors}");
        }
        // Unknown filters are input errors.
        let mut ws = Ws::connect(app.addr, &app.token(&["member"])).await;
        let errors = refused_subscription(&mut ws, "m", OBSERVATIONS, json!({ "m": "nope" })).await;
        assert_eq!(
            errors[0]["extensions"]["code"], "BAD_USER_INPUT",
            "{errors}"
        );
    }
);

on_both_backends!(
    a_subscription_ends_when_its_token_expires,
    |app: TestApp| async move {
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        let minter = tandem_api::auth::Minter::new(tandem_tests::SECRET, None, None);
        let short = minter
            .mint(
                "bi-user",
                app.org_id,
                &[tandem_domain::access::AccessRole::Bi],
                2,
            )
            .expect("mint");
        let mut ws = Ws::connect(app.addr, &short).await;
        ws.subscribe("s", OBSERVATIONS, json!({})).await;
        record(&app, vec![obs("arr", "2026-01-01", "MONTH", "1")]).await;
        ws.next("s").await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let got = ws.next("s").await;
        assert_eq!(
            got["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{got}"
        );
        let done = ws.read(WAIT).await.expect("complete");
        assert_eq!(done["type"], "complete", "{done}");
        // Nothing more arrives on the expired connection.
        record(&app, vec![obs("arr", "2026-02-01", "MONTH", "2")]).await;
        ws.nothing().await;
    }
);

on_both_backends!(
    one_get_route_serves_queries_graphiql_and_subscriptions,
    |app: TestApp| async move {
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        let bi = app.token(&["bi"]);

        // A query in the URL runs over plain GET.
        let res = app
            .client()
            .get(app.url("/graphql"))
            .bearer_auth(&bi)
            .query(&[("query", "{ metrics { totalCount } }")])
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), reqwest::StatusCode::OK);
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["data"]["metrics"]["totalCount"], 1, "{body}");
        assert!(
            body["extensions"]["cost"]["complexity"].is_number(),
            "{body}"
        );

        // A browser gets GraphiQL, pointed at the same path for subscriptions.
        let html = app
            .client()
            .get(app.url("/graphql"))
            .header(reqwest::header::ACCEPT, "text/html")
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("html");
        assert!(html.contains("GraphiQL"), "{html}");
        // Its start-up script derives the subscription URL (ws:) from this endpoint.
        assert!(html.contains("data-endpoint=\"/graphql\""), "{html}");

        // A WebSocket upgrade of the same GET runs subscriptions and queries, with the
        // persisted-query, cost and operation extensions in the schema.
        let mut ws = Ws::connect(app.addr, &bi).await;
        ws.socket
            .send(Message::text(
                json!({ "id": "q", "type": "subscribe",
                        "payload": { "query": "query Count { metrics { totalCount } }",
                                     "operationName": "Count" } })
                .to_string(),
            ))
            .await
            .expect("send");
        let got = ws.next("q").await;
        assert_eq!(got["data"]["metrics"]["totalCount"], 1, "{got}");
        assert!(got["errors"].is_null(), "{got}");
        let done = ws.read(WAIT).await.expect("complete");
        assert_eq!(done["type"], "complete", "{done}");
        ws.subscribe("s", OBSERVATIONS, json!({ "m": "arr" })).await;
        record(&app, vec![obs("arr", "2026-01-01", "MONTH", "7")]).await;
        let got = ws.next("s").await;
        assert!(got["errors"].is_null(), "{got}");
        let rows = &got["data"]["observationRecorded"]["observations"];
        assert_eq!(rows[0]["value"], "7", "{got}");

        // An operation over the depth limit is refused on the WebSocket with the same code
        // and details as over HTTP.
        let deep = format!(
            "{{ goals {{ nodes {{ {} id {} }} }} }}",
            "parent { ".repeat(10),
            "} ".repeat(10)
        );
        let over_http = app.gql("bi", &deep, json!({})).await;
        assert_eq!(
            over_http["errors"][0]["extensions"]["limit"], "queryDepth",
            "{over_http}"
        );
        let errors = refused_subscription(&mut ws, "deep", &deep, json!({})).await;
        assert_eq!(
            errors[0]["extensions"]["code"], "BAD_USER_INPUT",
            "{errors}"
        );
        assert_eq!(errors[0]["extensions"]["limit"], "queryDepth", "{errors}");
        // A subscription naming an unknown field is refused the same way.
        let errors =
            refused_subscription(&mut ws, "bad", "subscription { nothingHere }", json!({})).await;
        assert_eq!(
            errors[0]["extensions"]["code"], "BAD_USER_INPUT",
            "{errors}"
        );

        // The HTTP metrics still render, with the named HTTP operation counted.
        app.ok("bi", "query Named { metrics { totalCount } }", json!({}))
            .await;
        let text = app
            .client()
            .get(app.url("/metrics"))
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("text");
        assert!(
            text.contains("tandem_graphql_requests_total{operation=\"Named\""),
            "{text}"
        );
    }
);

/// A key result taking manual check-ins, owned by the person signed in as `member-user`;
/// returns (objective id, key result id).
async fn key_result(app: &TestApp) -> (String, String) {
    app.ok(
        "hr",
        r#"mutation { upsertPerson(input: { externalId: "m1", name: "Mia", subject: "member-user" }) { person { id } } }"#,
        json!({}),
    )
    .await;
    let goal = app
        .ok(
            "admin",
            CREATE_GOAL,
            json!({ "input": { "title": "Retention", "perspective": "CUSTOMER",
                "periodStart": "2026-01-01", "periodEnd": "2026-12-31" } }),
        )
        .await["createGoal"]["goal"]["id"]
        .as_str()
        .expect("goal")
        .to_owned();
    let objective = app
        .ok(
            "admin",
            OBJECTIVE,
            json!({ "input": { "goalId": goal, "title": "Keep customers",
                "periodStart": "2026-01-01", "periodEnd": "2026-12-31" } }),
        )
        .await["createObjective"]["objective"]["id"]
        .as_str()
        .expect("objective")
        .to_owned();
    let kr = app
        .ok(
            "admin",
            KEY_RESULT,
            json!({ "input": { "objectiveId": objective, "title": "Renewals", "baseline": "0",
                "target": "10", "ownerPersonExternalId": "m1" } }),
        )
        .await["createKeyResult"]["keyResult"]["id"]
        .as_str()
        .expect("key result")
        .to_owned();
    (objective, kr)
}

on_both_backends!(check_ins_reach_subscribers, |app: TestApp| async move {
    let (objective, kr) = key_result(&app).await;
    let (_, other_kr) = {
        let data = app
            .ok(
                "admin",
                KEY_RESULT,
                json!({ "input": { "objectiveId": objective, "title": "Expansions",
                    "baseline": "0", "target": "5" } }),
            )
            .await;
        (
            (),
            data["createKeyResult"]["keyResult"]["id"]
                .as_str()
                .expect("kr")
                .to_owned(),
        )
    };
    let other = app.create_org("Other").await;

    let mut mine = Ws::connect(app.addr, &app.token(&["bi"])).await;
    mine.subscribe("kr", CHECK_INS, json!({ "kr": kr })).await;
    let mut by_objective = Ws::connect(app.addr, &app.token(&["executive"])).await;
    by_objective
        .subscribe("o", CHECK_INS, json!({ "o": objective }))
        .await;
    let mut foreign = Ws::connect(app.addr, &app.token_for(other, "x", &["admin"])).await;
    foreign.subscribe("f", CHECK_INS, json!({})).await;

    app.ok(
        "member",
        CHECK_IN,
        json!({ "input": { "keyResultId": kr, "value": "4.25", "confidence": 7, "note": "on track" } }),
    )
    .await;
    let got = mine.next("kr").await;
    let event = &got["data"]["checkInAdded"];
    assert_eq!(event["checkIn"]["value"], "4.25", "{got}");
    assert_eq!(event["checkIn"]["confidence"], 7);
    assert_eq!(event["checkIn"]["author"], "member-user");
    assert_eq!(event["keyResult"]["id"], kr.as_str());
    // The key result is re-read after the check-in, so its current value includes it.
    assert_eq!(event["keyResult"]["current"], "4.25");
    let got = by_objective.next("o").await;
    assert_eq!(got["data"]["checkInAdded"]["checkIn"]["value"], "4.25");

    // A check-in on another key result reaches the objective's subscriber only.
    app.ok(
        "admin",
        CHECK_IN,
        json!({ "input": { "keyResultId": other_kr, "value": "1", "confidence": 5 } }),
    )
    .await;
    let got = by_objective.next("o").await;
    assert_eq!(got["data"]["checkInAdded"]["checkIn"]["value"], "1");
    mine.nothing().await;
    foreign.nothing().await;

    // A refused check-in announces nothing.
    let body = app
        .gql(
            "bi",
            CHECK_IN,
            json!({ "input": { "keyResultId": kr, "value": "9", "confidence": 9 } }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    by_objective.nothing().await;
});

on_both_backends!(
    scorecard_statuses_are_announced_when_they_change,
    |app: TestApp| async move {
        define_metric(&app, "revenue", "FINANCIAL", "SUM").await;
        define_metric(&app, "csat", "CUSTOMER", "AVERAGE").await;
        define_metric(&app, "unrelated", "CUSTOMER", "SUM").await;
        // Weighted 1:1; revenue target 100 (green >= 100, amber >= 80), csat target 10.
        let card = app
            .ok(
                "executive",
                DEFINE_SCORECARD,
                json!({ "input": { "name": "Company", "ownerKind": "COMPANY", "items": [
                    { "metricKey": "revenue", "weight": "1", "target": "100", "green": "100", "amber": "80" },
                    { "metricKey": "csat", "weight": "1", "target": "10", "green": "10", "amber": "8" }
                ] } }),
            )
            .await["defineScorecard"]["scorecard"]["id"]
            .as_str()
            .expect("card")
            .to_owned();
        let other = app.create_org("Other").await;

        let mut ws = Ws::connect(app.addr, &app.token(&["member"])).await;
        ws.subscribe("s", STATUSES, json!({ "id": card })).await;
        let mut bi = Ws::connect(app.addr, &app.token(&["bi"])).await;
        bi.subscribe("all", STATUSES, json!({})).await;
        let mut foreign = Ws::connect(app.addr, &app.token_for(other, "x", &["admin"])).await;
        foreign.subscribe("f", STATUSES, json!({})).await;

        // Both on target: score 1, GREEN, nothing announced before.
        record(
            &app,
            vec![
                obs("revenue", "2026-03-01", "MONTH", "100"),
                obs("csat", "2026-03-01", "MONTH", "10"),
            ],
        )
        .await;
        let got = ws.next("s").await;
        let e = &got["data"]["scorecardStatusChanged"];
        assert_eq!(e["status"], "GREEN", "{got}");
        assert!(e["previousStatus"].is_null(), "{got}");
        assert_eq!(e["scorecard"]["id"], card.as_str());
        assert_eq!(e["periodStart"], "2026-03-01");
        assert_eq!(e["periodEnd"], "2026-03-31");
        assert_eq!(e["granularity"], "MONTH");
        assert_eq!(e["score"], "1");
        assert_eq!(
            bi.next("all").await["data"]["scorecardStatusChanged"]["status"],
            "GREEN"
        );

        // Revenue at 50: (0.5 + 1) / 2 = 0.75, below the amber score 0.8: RED.
        record_as(
            &app,
            "finance",
            vec![obs("revenue", "2026-03-01", "MONTH", "50")],
        )
        .await;
        let got = ws.next("s").await;
        let e = &got["data"]["scorecardStatusChanged"];
        assert_eq!(e["status"], "RED", "{got}");
        assert_eq!(e["previousStatus"], "GREEN");
        assert_eq!(e["score"], "0.75");

        // Revenue at 60: score 0.8, AMBER.
        record_as(
            &app,
            "finance",
            vec![obs("revenue", "2026-03-01", "MONTH", "60")],
        )
        .await;
        let got = ws.next("s").await;
        assert_eq!(
            got["data"]["scorecardStatusChanged"]["status"], "AMBER",
            "{got}"
        );
        assert_eq!(
            got["data"]["scorecardStatusChanged"]["previousStatus"],
            "RED"
        );
        bi.next("all").await;
        bi.next("all").await;

        // A change that keeps the status (score 0.85, still AMBER) is not announced, nor
        // is a metric no scorecard uses.
        record_as(
            &app,
            "finance",
            vec![obs("revenue", "2026-03-01", "MONTH", "70")],
        )
        .await;
        record(&app, vec![obs("unrelated", "2026-03-01", "MONTH", "1")]).await;
        ws.nothing().await;

        // Lowering the thresholds re-evaluates the periods already announced: 0.85 >= 0.8
        // green score now.
        app.ok(
            "admin",
            UPDATE_SCORECARD,
            json!({ "input": { "id": card, "greenScore": "0.8", "amberScore": "0.5" } }),
        )
        .await;
        let got = ws.next("s").await;
        assert_eq!(
            got["data"]["scorecardStatusChanged"]["status"], "GREEN",
            "{got}"
        );
        assert_eq!(
            got["data"]["scorecardStatusChanged"]["previousStatus"],
            "AMBER"
        );

        foreign.nothing().await;
    }
);

/// The `tandem` binary, built if needed.
fn tandem_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    // target/<profile>/deps/e2e-<hash> -> target/<profile>/tandem
    let profile_dir = exe
        .parent()
        .and_then(|p| p.parent())
        .expect("profile directory")
        .to_path_buf();
    let target_dir = profile_dir
        .parent()
        .expect("target directory")
        .to_path_buf();
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = std::process::Command::new(cargo)
        .args(["build", "-q", "-p", "tandem-api", "--bin", "tandem"])
        .current_dir(workspace)
        .env("CARGO_TARGET_DIR", &target_dir)
        .status()
        .expect("run cargo build");
    assert!(status.success(), "building the tandem binary failed");
    profile_dir.join("tandem")
}

/// A `tandem` server process, stopped when dropped.
struct Process {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `tandem serve` on a free port over `database_url`; returns once it listens.
fn start_process(binary: &std::path::Path, database_url: &str) -> Process {
    use std::io::BufRead;
    let mut child = std::process::Command::new(binary)
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env(
            "TANDEM_JWT_SECRET",
            std::str::from_utf8(tandem_tests::SECRET).expect("utf-8 secret"),
        )
        .env("TANDEM_BIND", "127.0.0.1:0")
        .env("TANDEM_LOG_FORMAT", "json")
        .env("TANDEM_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start tandem");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if sent {
                continue;
            }
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["fields"]["message"] == "tandem listening"
                && let Some(addr) = v["fields"]["addr"].as_str()
            {
                let _ = tx.send(addr.parse::<std::net::SocketAddr>().expect("addr"));
                sent = true;
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("tandem started listening");
    Process { child, addr }
}

/// Two server processes on one PostgreSQL database: a write on one reaches a subscriber on
/// the other through LISTEN/NOTIFY.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    tandem_no_postgres,
    ignore = "set TEST_DATABASE_URL to run on PostgreSQL"
)]
async fn a_write_on_one_process_reaches_a_subscriber_on_another() {
    let admin_url = tandem_tests::require_postgres_url();
    let binary = tokio::task::spawn_blocking(tandem_binary)
        .await
        .expect("build");
    let name = format!("tandem_live_{}", uuid::Uuid::new_v4().simple());
    let admin = tandem_persistence::Store::connect(&admin_url, 1)
        .await
        .expect("connect");
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create database");
    let (base, _) = admin_url.rsplit_once('/').expect("database URL has a path");
    let url = format!("{base}/{name}");

    let outcome = async move {
        // A migrates the database first; B starts on it afterwards.
        let a = {
            let (binary, url) = (binary.clone(), url.clone());
            tokio::task::spawn_blocking(move || start_process(&binary, &url))
                .await
                .expect("start A")
        };
        let b = {
            let (binary, url) = (binary.clone(), url.clone());
            tokio::task::spawn_blocking(move || start_process(&binary, &url))
                .await
                .expect("start B")
        };
        assert_ne!(a.addr, b.addr);
        let store = tandem_persistence::Store::connect(&url, 2)
            .await
            .expect("connect");
        let org = store
            .create_organization(&tandem_persistence::Actor("test".into()), "Acme")
            .await
            .expect("org")
            .id;
        let minter = tandem_api::auth::Minter::new(tandem_tests::SECRET, None, None);
        let token = |role| {
            minter
                .mint(
                    "user",
                    org,
                    &[tandem_domain::access::AccessRole::from_claim(role).expect("role")],
                    3600,
                )
                .expect("mint")
        };
        let client = reqwest::Client::new();
        let post = |addr: std::net::SocketAddr, token: String, query: &'static str, vars: Value| {
            let client = client.clone();
            async move {
                let body: Value = client
                    .post(format!("http://{addr}/graphql"))
                    .bearer_auth(token)
                    .json(&json!({ "query": query, "variables": vars }))
                    .send()
                    .await
                    .expect("request")
                    .json()
                    .await
                    .expect("json");
                assert!(body.get("errors").is_none(), "{body}");
                body
            }
        };
        post(
            b.addr,
            token("revops"),
            crate::support::DEFINE_METRIC,
            json!({ "input": crate::support::metric_input("arr", "FINANCIAL", "SUM") }),
        )
        .await;

        let mut on_a = Ws::connect(a.addr, &token("bi")).await;
        on_a.subscribe("a", OBSERVATIONS, json!({ "m": "arr" }))
            .await;
        post(
            b.addr,
            token("revops"),
            crate::support::RECORD,
            json!({ "o": [obs("arr", "2026-01-01", "MONTH", "0.000000000000000001")] }),
        )
        .await;
        let got = on_a.next("a").await;
        let rows = &got["data"]["observationRecorded"]["observations"];
        assert_eq!(rows[0]["value"], "0.000000000000000001", "{got}");
        assert_eq!(rows[0]["metric"]["key"], "arr");
        drop((a, b));
    };
    // Clean up the database whether or not the test passed.
    let result = tokio::spawn(outcome).await;
    let _ = admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}
