//! Authentication and authorization: bad tokens are refused, tenants are isolated, and each
//! access role gets only what it is allowed.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tandem_tests::{SECRET, TestApp, error_code, on_both_backends};
use uuid::Uuid;

use crate::support::{
    CREATE_SEGMENT, RECORD, create_segment, define_metric, obs, observation_count, record,
    record_as,
};

const READ_METRICS: &str = "{ metrics { totalCount nodes { key } } }";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(org: Uuid, exp: i64) -> Value {
    json!({ "sub": "admin-user", "org": org.to_string(), "roles": ["admin"], "exp": exp })
}

/// An HS256 token signed with `secret`.
fn hs256(secret: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("encode token")
}

/// Sends `query` with a raw `Authorization` header value (or none).
async fn with_header(app: &TestApp, authorization: Option<&str>, query: &str) -> Value {
    let mut req = app
        .client()
        .post(app.url("/graphql"))
        .json(&json!({ "query": query }));
    if let Some(value) = authorization {
        req = req.header("Authorization", value);
    }
    let res = req.send().await.expect("request");
    assert_eq!(res.status(), 200);
    res.json().await.expect("json body")
}

fn assert_unauthenticated(body: &Value, what: &str) {
    assert_eq!(
        error_code(body).as_deref(),
        Some("UNAUTHENTICATED"),
        "{what}: {body:#}"
    );
    assert!(body["data"].is_null(), "{what} leaked data: {body:#}");
}

fn assert_forbidden(body: &Value, what: &str) {
    assert_eq!(
        error_code(body).as_deref(),
        Some("FORBIDDEN"),
        "{what}: {body:#}"
    );
}

on_both_backends!(
    requests_without_a_token_are_unauthenticated,
    |app: TestApp| async move {
        let body = app.gql_with(None, READ_METRICS, json!({})).await;
        assert_unauthenticated(&body, "no token");
        let body = app
            .gql_with(None, "{ viewer { subject } }", json!({}))
            .await;
        assert_unauthenticated(&body, "no token, viewer");
        let body = with_header(&app, Some("Bearer "), READ_METRICS).await;
        assert_unauthenticated(&body, "empty bearer token");
        let body = with_header(&app, Some("Bearer not.a.jwt"), READ_METRICS).await;
        assert_unauthenticated(&body, "garbage bearer token");
    }
);

on_both_backends!(
    expired_token_is_unauthenticated,
    |app: TestApp| async move {
        // Control: the same hand-made token with a future expiry is accepted.
        let fresh = hs256(SECRET, &claims(app.org_id, now() + 600));
        let ok = app.gql_with(Some(&fresh), READ_METRICS, json!({})).await;
        assert!(ok.get("errors").is_none(), "fresh token refused: {ok:#}");

        let expired = hs256(SECRET, &claims(app.org_id, now() - 120));
        let body = app.gql_with(Some(&expired), READ_METRICS, json!({})).await;
        assert_unauthenticated(&body, "expired token");
    }
);

on_both_backends!(
    token_signed_with_another_secret_is_unauthenticated,
    |app: TestApp| async move {
        let forged = hs256(
            b"some-other-secret-0123456789abcdef",
            &claims(app.org_id, now() + 600),
        );
        let body = app.gql_with(Some(&forged), READ_METRICS, json!({})).await;
        assert_unauthenticated(&body, "wrong signature");

        // A valid token whose payload was swapped keeps a signature that no longer matches.
        let valid = app.token(&["member"]);
        let parts: Vec<&str> = valid.split('.').collect();
        let payload = URL_SAFE_NO_PAD.encode(claims(app.org_id, now() + 600).to_string());
        let tampered = format!("{}.{}.{}", parts[0], payload, parts[2]);
        let body = app.gql_with(Some(&tampered), READ_METRICS, json!({})).await;
        assert_unauthenticated(&body, "tampered payload");
    }
);

on_both_backends!(
    unsigned_alg_none_token_is_unauthenticated,
    |app: TestApp| async move {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims(app.org_id, now() + 600).to_string());
        let token = format!("{header}.{payload}.");
        let body = app.gql_with(Some(&token), READ_METRICS, json!({})).await;
        assert_unauthenticated(&body, "alg none");
        let body = app
            .gql_with(
                Some(&format!("{header}.{payload}")),
                READ_METRICS,
                json!({}),
            )
            .await;
        assert_unauthenticated(&body, "alg none without signature part");
    }
);

on_both_backends!(
    token_for_an_unknown_organization_is_unauthenticated,
    |app: TestApp| async move {
        let token = app.token_for(Uuid::now_v7(), "ghost", &["admin"]);
        let body = app.gql_with(Some(&token), READ_METRICS, json!({})).await;
        assert_unauthenticated(&body, "unknown org");
        let body = app
            .gql_with(Some(&token), "{ viewer { subject } }", json!({}))
            .await;
        assert_unauthenticated(&body, "unknown org, viewer");

        let not_a_uuid = hs256(
            SECRET,
            &json!({ "sub": "x", "org": "acme", "roles": ["admin"], "exp": now() + 600 }),
        );
        let body = app
            .gql_with(Some(&not_a_uuid), READ_METRICS, json!({}))
            .await;
        assert_unauthenticated(&body, "org claim not a uuid");
    }
);

on_both_backends!(
    basic_authorization_is_unauthenticated,
    |app: TestApp| async move {
        let basic = format!("Basic {}", STANDARD.encode("admin:password"));
        let body = with_header(&app, Some(&basic), READ_METRICS).await;
        assert_unauthenticated(&body, "basic credentials");
        // Even a valid token is refused under another scheme.
        let token = app.token(&["admin"]);
        let body = with_header(&app, Some(&format!("Basic {token}")), READ_METRICS).await;
        assert_unauthenticated(&body, "valid token under Basic");
        // Control: the same token as a bearer token works.
        let body = with_header(&app, Some(&format!("Bearer {token}")), READ_METRICS).await;
        assert!(body.get("errors").is_none(), "{body:#}");
    }
);

on_both_backends!(
    another_organization_sees_none_of_this_organizations_data,
    |app: TestApp| async move {
        let metric_id = define_metric(&app, "arr", "FINANCIAL", "LAST").await;
        let segment_id = create_segment(&app, "enterprise").await;
        record(&app, vec![obs("arr", "2026-01-01", "MONTH", "100")]).await;
        let own = app
            .ok(
                "admin",
                "{ organization { id } observations { nodes { id } } }",
                json!({}),
            )
            .await;
        let org_gid = own["organization"]["id"].as_str().unwrap().to_owned();
        let observation_id = own["observations"]["nodes"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();

        let other = app.create_org("Other").await;
        let intruder = app.token_for(other, "intruder", &["admin"]);
        let ask = |query: &'static str, variables: Value| {
            let token = intruder.clone();
            let app = &app;
            async move { app.gql_with(Some(&token), query, variables).await }
        };

        let lists = ask(
            r#"{ metrics { totalCount } metric(key: "arr") { id } segments { totalCount }
             observations { totalCount } auditEvents { totalCount nodes { operation entityId } }
             organization { name } }"#,
            json!({}),
        )
        .await;
        assert!(lists.get("errors").is_none(), "{lists:#}");
        let d = &lists["data"];
        assert_eq!(d["metrics"]["totalCount"], 0, "{d:#}");
        assert!(d["metric"].is_null(), "{d:#}");
        assert_eq!(d["segments"]["totalCount"], 0, "{d:#}");
        assert_eq!(d["observations"]["totalCount"], 0, "{d:#}");
        assert_eq!(d["organization"]["name"], "Other");
        // Only the other organization's own creation is in its audit trail.
        assert_eq!(d["auditEvents"]["totalCount"], 1, "{d:#}");
        assert_eq!(
            d["auditEvents"]["nodes"][0]["operation"],
            "createOrganization"
        );

        let filtered = ask(
            "query($id: ID!) { auditEvents(filter: { entityId: $id }) { totalCount } }",
            json!({ "id": metric_id }),
        )
        .await;
        assert_eq!(
            filtered["data"]["auditEvents"]["totalCount"], 0,
            "{filtered:#}"
        );

        for id in [&metric_id, &segment_id, &observation_id, &org_gid] {
            let body = ask(
                "query($id: ID!) { node(id: $id) { id __typename } }",
                json!({ "id": id }),
            )
            .await;
            assert!(body.get("errors").is_none(), "{body:#}");
            assert!(
                body["data"]["node"].is_null(),
                "node({id}) leaked: {body:#}"
            );
        }
        let body = ask(
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({ "ids": [metric_id, segment_id, observation_id] }),
        )
        .await;
        assert_eq!(body["data"]["nodes"], json!([null, null, null]), "{body:#}");

        let update = ask(
        r#"mutation($id: ID!) { updateMetric(input: { id: $id, name: "Hijacked" }) { metric { name } } }"#,
        json!({ "id": metric_id }),
    )
    .await;
        assert_eq!(
            error_code(&update).as_deref(),
            Some("NOT_FOUND"),
            "{update:#}"
        );
        for mutation in [
            "mutation($id: ID!) { approveMetric(input: { id: $id }) { metric { status } } }",
            "mutation($id: ID!) { retireMetric(input: { id: $id }) { metric { status } } }",
        ] {
            let body = ask(mutation, json!({ "id": metric_id })).await;
            assert_eq!(error_code(&body).as_deref(), Some("NOT_FOUND"), "{body:#}");
        }
        let body = ask(
        r#"mutation($id: ID!) { updateSegment(input: { id: $id, name: "Hijacked" }) { segment { name } } }"#,
        json!({ "id": segment_id }),
    )
    .await;
        assert_eq!(error_code(&body).as_deref(), Some("NOT_FOUND"), "{body:#}");

        // The other organization cannot write into this one's metric by key either.
        let body = ask(
            RECORD,
            json!({ "o": [obs("arr", "2026-01-01", "MONTH", "999")] }),
        )
        .await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("BAD_USER_INPUT"),
            "{body:#}"
        );
        let body = ask(
        r#"{ metricSeries(input: { metricKey: "arr", from: "2026-01-01", to: "2026-12-31", granularity: MONTH }) { points { value } } }"#,
        json!({}),
    )
    .await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("BAD_USER_INPUT"),
            "{body:#}"
        );

        // This organization's data is untouched.
        let mine = app
        .ok(
            "admin",
            r#"{ metric(key: "arr") { name status } segments { nodes { name } } observations { nodes { value } } }"#,
            json!({}),
        )
        .await;
        assert_eq!(mine["metric"]["name"], "arr");
        assert_eq!(mine["metric"]["status"], "DRAFT");
        assert_eq!(mine["segments"]["nodes"][0]["name"], "ENTERPRISE");
        assert_eq!(mine["observations"]["nodes"], json!([{ "value": "100" }]));
    }
);

on_both_backends!(
    roles_lacking_permission_are_forbidden,
    |app: TestApp| async move {
        define_metric(&app, "revenue", "FINANCIAL", "SUM").await;
        define_metric(&app, "nps", "CUSTOMER", "AVERAGE").await;

        // member and bi may not record observations at all.
        for role in ["member", "bi", "executive", "hr", "manager", "hr_sync"] {
            let body = app
                .gql(
                    role,
                    RECORD,
                    json!({ "o": [obs("revenue", "2026-01-01", "MONTH", "1")] }),
                )
                .await;
            assert_forbidden(&body, role);
        }
        assert_eq!(observation_count(&app).await, 0);

        // bi may not create segments.
        let body = app
            .gql(
                "bi",
                CREATE_SEGMENT,
                json!({ "input": { "key": "smb", "name": "SMB" } }),
            )
            .await;
        assert_forbidden(&body, "bi createSegment");

        // finance records financial observations, not customer ones, and a mixed batch is
        // refused as a whole.
        let body = app
            .gql(
                "finance",
                RECORD,
                json!({ "o": [obs("nps", "2026-01-01", "MONTH", "42")] }),
            )
            .await;
        assert_forbidden(&body, "finance customer observation");
        let body = app
        .gql(
            "finance",
            RECORD,
            json!({ "o": [obs("revenue", "2026-01-01", "MONTH", "10"), obs("nps", "2026-01-01", "MONTH", "42")] }),
        )
        .await;
        assert_forbidden(&body, "finance mixed batch");
        assert_eq!(observation_count(&app).await, 0);
        let done = record_as(
            &app,
            "finance",
            vec![obs("revenue", "2026-01-01", "MONTH", "10")],
        )
        .await;
        assert_eq!(done["created"], 1);
        assert_eq!(observation_count(&app).await, 1);

        // hr_sync reads nothing; a token without roles reads nothing.
        let body = app.gql("hr_sync", READ_METRICS, json!({})).await;
        assert_forbidden(&body, "hr_sync metrics");
        let body = app
            .gql("hr_sync", "{ observations { totalCount } }", json!({}))
            .await;
        assert_forbidden(&body, "hr_sync observations");
        let no_roles = app.token_for(app.org_id, "nobody", &[]);
        let body = app.gql_with(Some(&no_roles), READ_METRICS, json!({})).await;
        assert_forbidden(&body, "no roles");

        // Only admin reads the audit trail.
        for role in [
            "executive",
            "finance",
            "revops",
            "hr",
            "manager",
            "member",
            "bi",
            "hr_sync",
        ] {
            let body = app
                .gql(role, "{ auditEvents { totalCount } }", json!({}))
                .await;
            assert_forbidden(&body, role);
        }
        let data = app
            .ok("admin", "{ auditEvents { totalCount } }", json!({}))
            .await;
        assert!(data["auditEvents"]["totalCount"].as_i64().unwrap() >= 4);

        // Readers still read.
        for role in ["member", "bi", "executive", "finance"] {
            let data = app.ok(role, READ_METRICS, json!({})).await;
            assert_eq!(data["metrics"]["totalCount"], 2, "{role}");
        }
    }
);
