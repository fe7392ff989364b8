//! People, teams and job roles end to end: single-record upserts, reads and filters, `me`,
//! `node(id:)`, who may see contact data, the HR sync's modes, dry run and refusals, the batch
//! cap, access, tenancy and the audit trail.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use tandem_api::Limits;
use tandem_tests::{TestApp, error_code, error_field, on_both_backends};

use crate::hr_sync::{SYNC, define_metric, roster};
use crate::support::on_both_backends_with;

pub const UPSERT_PERSON: &str = r#"
mutation($input: PersonInput!) {
  upsertPerson(input: $input) {
    person {
      id externalId name email subject active createdAt updatedAt
      manager { externalId } team { externalId } roles { nodes { key } }
    }
  }
}"#;

pub const UPSERT_TEAM: &str = r#"
mutation($input: TeamInput!) {
  upsertTeam(input: $input) { team { id externalId name active createdAt updatedAt parent { externalId } } }
}"#;

pub const UPSERT_ROLE: &str = r#"
mutation($input: JobRoleInput!) {
  upsertJobRole(input: $input) { jobRole { id key name active createdAt updatedAt } }
}"#;

const PERSON: &str = r#"
query($ext: String!) {
  person(externalId: $ext) {
    id externalId name email subject active
    manager { externalId } team { externalId } roles { nodes { key } }
  }
}"#;

const PEOPLE: &str = r#"
query($f: PersonFilterInput) {
  people(filter: $f, first: 100) { totalCount nodes { externalId name active } }
}"#;

const CONTACTS: &str = "{ people(first: 100) { nodes { externalId email subject } } }";

/// The roster of `hr_sync::roster()` with two more people. The org chart:
/// Ana (E1) manages Bo (E2) and Eve (E5); Bo manages Cleo (E3) and Dee (E4).
/// Cleo and Dee are peers, as are Bo and Eve. Cleo has no subject.
pub fn org_chart() -> Value {
    let mut r = roster();
    let people = r["people"].as_array_mut().expect("people");
    people.push(json!({
        "externalId": "E4", "name": "Dee", "email": "dee@acme.test", "subject": "dee",
        "managerExternalId": "E2", "teamExternalId": "T-EMEA", "roleKeys": ["csm"]
    }));
    people.push(json!({
        "externalId": "E5", "name": "Eve", "email": "eve@acme.test", "subject": "eve",
        "managerExternalId": "E1", "teamExternalId": "T-SALES"
    }));
    r
}

/// Defines the roster's metrics and syncs `org_chart()` as `hr_sync`; returns the outcome.
pub async fn seed(app: &TestApp) -> Value {
    define_metric(app, "new_arr", "FINANCIAL", "HIGHER_IS_BETTER").await;
    define_metric(app, "time_to_value", "CUSTOMER", "LOWER_IS_BETTER").await;
    app.ok("hr_sync", SYNC, json!({ "input": org_chart() }))
        .await["syncHr"]
        .clone()
}

/// Posts as subject `sub` holding `role`.
pub async fn as_sub(app: &TestApp, sub: &str, role: &str, query: &str, vars: Value) -> Value {
    let token = app.token_for(app.org_id, sub, &[role]);
    app.gql_with(Some(&token), query, vars).await
}

/// The field paths of every problem of a refused input.
pub fn problem_fields(body: &Value) -> Vec<String> {
    body["errors"][0]["extensions"]["problems"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|p| p["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The `externalId`s of a connection's nodes, in order.
pub fn ext_ids(connection: &Value) -> Vec<String> {
    connection["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["externalId"].as_str().expect("externalId").to_owned())
        .collect()
}

/// `(entity, key, action)` of a sync outcome's change list, sorted.
pub fn change_set(outcome: &Value) -> Vec<(String, String, String)> {
    let mut list: Vec<(String, String, String)> = outcome["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["entity"].as_str().unwrap().to_owned(),
                c["key"].as_str().unwrap().to_owned(),
                c["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    list.sort();
    list
}

fn change(entity: &str, key: &str, action: &str) -> (String, String, String) {
    (entity.to_owned(), key.to_owned(), action.to_owned())
}

/// How many people, teams, job roles, scorecards and audit events the organization holds.
pub async fn counts(app: &TestApp) -> Value {
    app.ok(
        "admin",
        "{ people { totalCount } teams { totalCount } jobRoles { totalCount } scorecards { totalCount } auditEvents { totalCount } }",
        json!({}),
    )
    .await
}

/// Sends `input` to `syncHr` as `hr_sync`, expects it refused with `BAD_USER_INPUT`, checks
/// that nothing was written (not even an audit event), and returns the problem paths.
async fn refused(app: &TestApp, input: Value) -> Vec<String> {
    let before = counts(app).await;
    let body = app.gql("hr_sync", SYNC, json!({ "input": input })).await;
    assert_eq!(
        error_code(&body).as_deref(),
        Some("BAD_USER_INPUT"),
        "{body:#}"
    );
    assert!(body["data"].is_null(), "{body:#}");
    assert_eq!(counts(app).await, before, "a refused sync wrote something");
    problem_fields(&body)
}

fn assert_has(fields: &[String], expected: &str) {
    assert!(
        fields.iter().any(|f| f == expected),
        "expected a problem at {expected}, got {fields:?}"
    );
}

/// Emails and subjects of everyone, as seen by the holder of `token`.
async fn contacts_seen_by(app: &TestApp, token: &str) -> BTreeMap<String, (Value, Value)> {
    let body = app.gql_with(Some(token), CONTACTS, json!({})).await;
    assert!(body.get("errors").is_none(), "{body:#}");
    body["data"]["people"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["externalId"].as_str().unwrap().to_owned(),
                (n["email"].clone(), n["subject"].clone()),
            )
        })
        .collect()
}

/// Which people's email a caller sees, in `externalId` order.
fn visible_emails(seen: &BTreeMap<String, (Value, Value)>) -> Vec<&str> {
    seen.iter()
        .filter(|(_, (email, _))| !email.is_null())
        .map(|(ext, _)| ext.as_str())
        .collect()
}

fn forbidden(body: &Value, what: &str) {
    assert_eq!(
        error_code(body).as_deref(),
        Some("FORBIDDEN"),
        "{what}: {body:#}"
    );
}

// --- Upserts -----------------------------------------------------------------------------

on_both_backends!(
    upsert_team_creates_then_replaces_and_the_same_call_changes_nothing,
    |app: TestApp| async move {
        let team = |v: Value| v["upsertTeam"]["team"].clone();
        let sales = team(
            app.ok(
                "hr",
                UPSERT_TEAM,
                json!({ "input": { "externalId": "T-SALES", "name": "Sales" } }),
            )
            .await,
        );
        assert_eq!(sales["externalId"], "T-SALES");
        assert_eq!(sales["name"], "Sales");
        assert_eq!(sales["active"], true);
        assert!(sales["parent"].is_null());
        assert_eq!(sales["createdAt"], sales["updatedAt"]);

        let emea = team(
            app.ok(
                "admin",
                UPSERT_TEAM,
                json!({ "input": { "externalId": "T-EMEA", "name": "EMEA", "parentExternalId": "T-SALES" } }),
            )
            .await,
        );
        assert_eq!(emea["parent"]["externalId"], "T-SALES");

        // The same call again changes nothing, not even the update time.
        let again = team(
            app.ok(
                "hr",
                UPSERT_TEAM,
                json!({ "input": { "externalId": "T-SALES", "name": "Sales" } }),
            )
            .await,
        );
        assert_eq!(again, sales);

        tokio::time::sleep(Duration::from_millis(5)).await;
        let renamed = team(
            app.ok(
                "hr",
                UPSERT_TEAM,
                json!({ "input": { "externalId": " T-SALES ", "name": "Sales & Success" } }),
            )
            .await,
        );
        assert_eq!(renamed["id"], sales["id"], "same team, not a new one");
        assert_eq!(renamed["name"], "Sales & Success");
        assert_eq!(renamed["createdAt"], sales["createdAt"]);
        assert!(
            renamed["updatedAt"].as_str() > sales["updatedAt"].as_str(),
            "{renamed:#} vs {sales:#}"
        );

        // Every field is replaced: no parent given means no parent; inactive sticks.
        let moved = team(
            app.ok(
                "hr",
                UPSERT_TEAM,
                json!({ "input": { "externalId": "T-EMEA", "name": "EMEA", "active": false } }),
            )
            .await,
        );
        assert!(moved["parent"].is_null(), "{moved:#}");
        assert_eq!(moved["active"], false);

        let list = app
            .ok(
                "member",
                "{ teams { totalCount nodes { externalId name active parent { externalId } } } }",
                json!({}),
            )
            .await;
        assert_eq!(list["teams"]["totalCount"], 2);
        assert_eq!(ext_ids(&list["teams"]), vec!["T-EMEA", "T-SALES"]);
        assert_eq!(list["teams"]["nodes"][1]["name"], "Sales & Success");
    }
);

on_both_backends!(
    upsert_job_role_creates_then_replaces_and_the_same_call_changes_nothing,
    |app: TestApp| async move {
        let role = |v: Value| v["upsertJobRole"]["jobRole"].clone();
        let ae = role(
            app.ok(
                "hr",
                UPSERT_ROLE,
                json!({ "input": { "key": "account_executive", "name": "Account Executive" } }),
            )
            .await,
        );
        assert_eq!(ae["key"], "account_executive");
        assert_eq!(ae["name"], "Account Executive");
        assert_eq!(ae["active"], true);

        let again = role(
            app.ok(
                "admin",
                UPSERT_ROLE,
                json!({ "input": { "key": "account_executive", "name": "Account Executive" } }),
            )
            .await,
        );
        assert_eq!(again, ae, "the same call changes nothing");

        tokio::time::sleep(Duration::from_millis(5)).await;
        let renamed = role(
            app.ok(
                "hr",
                UPSERT_ROLE,
                json!({ "input": { "key": "account_executive", "name": "Account Exec", "active": false } }),
            )
            .await,
        );
        assert_eq!(renamed["id"], ae["id"]);
        assert_eq!(renamed["name"], "Account Exec");
        assert_eq!(renamed["active"], false);
        assert_eq!(renamed["createdAt"], ae["createdAt"]);
        assert!(renamed["updatedAt"].as_str() > ae["updatedAt"].as_str());

        let list = app
            .ok(
                "bi",
                "{ jobRoles { totalCount nodes { key name active } } }",
                json!({}),
            )
            .await;
        assert_eq!(list["jobRoles"]["totalCount"], 1);
        assert_eq!(list["jobRoles"]["nodes"][0]["name"], "Account Exec");
    }
);

on_both_backends!(
    upsert_person_creates_then_replaces_every_field_and_the_same_call_changes_nothing,
    |app: TestApp| async move {
        for (ext, name) in [("T-1", "One"), ("T-2", "Two")] {
            app.ok(
                "hr",
                UPSERT_TEAM,
                json!({ "input": { "externalId": ext, "name": name } }),
            )
            .await;
        }
        for key in ["account_executive", "csm", "sdr"] {
            app.ok(
                "hr",
                UPSERT_ROLE,
                json!({ "input": { "key": key, "name": key } }),
            )
            .await;
        }
        app.ok(
            "hr",
            UPSERT_PERSON,
            json!({ "input": { "externalId": "M1", "name": "Max" } }),
        )
        .await;

        let person = |v: Value| v["upsertPerson"]["person"].clone();
        let input = json!({
            "externalId": "P1", "name": "Ana", "email": "Ana@Acme.TEST", "subject": "ana",
            "managerExternalId": "M1", "teamExternalId": "T-1",
            "roleKeys": ["csm", "account_executive"]
        });
        let ana = person(app.ok("hr", UPSERT_PERSON, json!({ "input": input })).await);
        assert_eq!(ana["externalId"], "P1");
        assert_eq!(ana["name"], "Ana");
        assert_eq!(
            ana["email"], "ana@acme.test",
            "emails are stored lower-case"
        );
        assert_eq!(ana["subject"], "ana");
        assert_eq!(ana["manager"]["externalId"], "M1");
        assert_eq!(ana["team"]["externalId"], "T-1");
        assert_eq!(ana["active"], true);
        assert_eq!(
            ana["roles"]["nodes"],
            json!([{ "key": "account_executive" }, { "key": "csm" }])
        );

        let again = person(app.ok("hr", UPSERT_PERSON, json!({ "input": input })).await);
        assert_eq!(again, ana, "the same call changes nothing");

        tokio::time::sleep(Duration::from_millis(5)).await;
        // Omitted fields are cleared; the roles are replaced by `roleKeys`.
        let replaced = person(
            app.ok(
                "admin",
                UPSERT_PERSON,
                json!({ "input": {
                    "externalId": "P1", "name": "Ana Silva", "subject": "ana",
                    "teamExternalId": "T-2", "roleKeys": ["sdr"]
                } }),
            )
            .await,
        );
        assert_eq!(replaced["id"], ana["id"]);
        assert_eq!(replaced["name"], "Ana Silva");
        assert!(replaced["email"].is_null(), "{replaced:#}");
        assert!(replaced["manager"].is_null(), "{replaced:#}");
        assert_eq!(replaced["team"]["externalId"], "T-2");
        assert_eq!(replaced["roles"]["nodes"], json!([{ "key": "sdr" }]));
        assert_eq!(replaced["createdAt"], ana["createdAt"]);
        assert!(replaced["updatedAt"].as_str() > ana["updatedAt"].as_str());

        let holders = |key: &str| json!({ "f": { "roleKey": key } });
        let ae = app.ok("hr", PEOPLE, holders("account_executive")).await;
        assert_eq!(ae["people"]["totalCount"], 0, "old roles are gone: {ae:#}");
        let sdr = app.ok("hr", PEOPLE, holders("sdr")).await;
        assert_eq!(ext_ids(&sdr["people"]), vec!["P1"]);
        let reports = app
            .ok("hr", PEOPLE, json!({ "f": { "managerExternalId": "M1" } }))
            .await;
        assert_eq!(reports["people"]["totalCount"], 0);

        // Deactivating through an upsert keeps the record.
        let gone = person(
            app.ok(
                "hr",
                UPSERT_PERSON,
                json!({ "input": { "externalId": "P1", "name": "Ana Silva", "subject": "ana", "active": false } }),
            )
            .await,
        );
        assert_eq!(gone["active"], false);
        let all = app.ok("hr", PEOPLE, json!({})).await;
        assert_eq!(all["people"]["totalCount"], 2);
    }
);

on_both_backends!(
    single_record_upserts_refuse_bad_input_at_the_input_path_and_write_nothing,
    |app: TestApp| async move {
        app.ok(
            "hr",
            UPSERT_TEAM,
            json!({ "input": { "externalId": "T-A", "name": "A" } }),
        )
        .await;
        app.ok(
            "hr",
            UPSERT_TEAM,
            json!({ "input": { "externalId": "T-B", "name": "B", "parentExternalId": "T-A" } }),
        )
        .await;
        app.ok(
            "hr",
            UPSERT_ROLE,
            json!({ "input": { "key": "csm", "name": "CSM" } }),
        )
        .await;
        let before = counts(&app).await;

        let cases: Vec<(&str, Value, &str)> = vec![
            (
                UPSERT_PERSON,
                json!({ "externalId": "P1", "name": "Ana", "managerExternalId": "NOPE" }),
                "input.managerExternalId",
            ),
            (
                UPSERT_PERSON,
                json!({ "externalId": "P1", "name": "Ana", "managerExternalId": "P1" }),
                "input.managerExternalId",
            ),
            (
                UPSERT_PERSON,
                json!({ "externalId": "P1", "name": "Ana", "teamExternalId": "T-404" }),
                "input.teamExternalId",
            ),
            (
                UPSERT_PERSON,
                json!({ "externalId": "P1", "name": "Ana", "roleKeys": ["csm", "ghost"] }),
                "input.roleKeys[1]",
            ),
            (
                UPSERT_PERSON,
                json!({ "externalId": "P1", "name": "Ana", "email": "ana-at-acme" }),
                "input.email",
            ),
            (
                UPSERT_PERSON,
                json!({ "externalId": "P1", "name": "  " }),
                "input.name",
            ),
            (
                UPSERT_PERSON,
                json!({ "externalId": "", "name": "Ana" }),
                "input.externalId",
            ),
            (
                UPSERT_TEAM,
                json!({ "externalId": "T-C", "name": "C", "parentExternalId": "T-404" }),
                "input.parentExternalId",
            ),
            (
                // T-B is inside T-A: T-A inside T-B would make each contain the other.
                UPSERT_TEAM,
                json!({ "externalId": "T-A", "name": "A", "parentExternalId": "T-B" }),
                "input.parentExternalId",
            ),
            (
                UPSERT_ROLE,
                json!({ "key": "Account Executive", "name": "AE" }),
                "input.key",
            ),
        ];
        for (mutation, input, field) in cases {
            let body = app.gql("hr", mutation, json!({ "input": input })).await;
            assert_eq!(
                error_code(&body).as_deref(),
                Some("BAD_USER_INPUT"),
                "{input}: {body:#}"
            );
            assert_eq!(
                error_field(&body).as_deref(),
                Some(field),
                "{input}: {body:#}"
            );
        }
        assert_eq!(
            counts(&app).await,
            before,
            "a refused upsert wrote something"
        );
        let a = app
            .ok(
                "hr",
                "{ teams { nodes { externalId parent { externalId } } } }",
                json!({}),
            )
            .await;
        assert!(
            a["teams"]["nodes"][0]["parent"].is_null(),
            "T-A keeps no parent: {a:#}"
        );
    }
);

// --- Reads ---------------------------------------------------------------------------------

on_both_backends!(
    people_are_found_by_hr_id_and_filtered_by_activity_team_role_manager_and_text,
    |app: TestApp| async move {
        seed(&app).await;
        let cleo = app.ok("member", PERSON, json!({ "ext": "E3" })).await;
        let cleo = &cleo["person"];
        assert_eq!(cleo["name"], "Cleo");
        assert_eq!(cleo["manager"]["externalId"], "E2");
        assert_eq!(cleo["team"]["externalId"], "T-EMEA");
        assert_eq!(
            cleo["roles"]["nodes"],
            json!([{ "key": "account_executive" }])
        );
        assert_eq!(cleo["active"], true);
        let nobody = app.ok("member", PERSON, json!({ "ext": "E404" })).await;
        assert!(nobody["person"].is_null());

        let people = |f: Value| {
            let app = &app;
            async move { app.ok("bi", PEOPLE, json!({ "f": f })).await["people"].clone() }
        };
        // By name.
        assert_eq!(
            ext_ids(&people(json!(null)).await),
            vec!["E1", "E2", "E3", "E4", "E5"]
        );
        assert_eq!(
            ext_ids(&people(json!({ "teamExternalId": "T-EMEA" })).await),
            vec!["E2", "E3", "E4"]
        );
        assert_eq!(
            ext_ids(&people(json!({ "roleKey": "csm" })).await),
            vec!["E2", "E4"]
        );
        // Direct reports only.
        assert_eq!(
            ext_ids(&people(json!({ "managerExternalId": "E1" })).await),
            vec!["E2", "E5"]
        );
        assert_eq!(
            ext_ids(&people(json!({ "managerExternalId": "E2" })).await),
            vec!["E3", "E4"]
        );
        // Name or HR id, ignoring case; never email.
        assert_eq!(
            ext_ids(&people(json!({ "search": "CL" })).await),
            vec!["E3"]
        );
        assert_eq!(
            ext_ids(&people(json!({ "search": "e4" })).await),
            vec!["E4"]
        );
        assert_eq!(
            people(json!({ "search": "acme.test" })).await["totalCount"],
            0
        );
        assert_eq!(people(json!({ "active": true })).await["totalCount"], 5);
        assert_eq!(people(json!({ "active": false })).await["totalCount"], 0);
        // Filters combine.
        assert_eq!(
            ext_ids(
                &people(json!({ "teamExternalId": "T-EMEA", "roleKey": "csm", "search": "d" }))
                    .await
            ),
            vec!["E4"]
        );
        // An unknown team, role or manager matches nobody.
        for f in [
            json!({ "teamExternalId": "T-404" }),
            json!({ "roleKey": "ghost" }),
            json!({ "managerExternalId": "E404" }),
        ] {
            assert_eq!(people(f.clone()).await["totalCount"], 0, "{f}");
        }
    }
);

on_both_backends!(
    search_treats_percent_and_underscore_as_plain_text,
    |app: TestApp| async move {
        for (ext, name) in [
            ("A_1", "Ana"),
            ("AB1", "Bo"),
            ("C-1", "Cleo 100%"),
            ("D-1", "Dee 1000"),
            ("E-1", r"Eli C:\Sales"),
            ("F-1", r"Fay C:Sales"),
        ] {
            app.ok(
                "hr",
                UPSERT_PERSON,
                json!({ "input": { "externalId": ext, "name": name } }),
            )
            .await;
        }
        let found = app
            .ok("member", PEOPLE, json!({ "f": { "search": "a_1" } }))
            .await;
        assert_eq!(ext_ids(&found["people"]), vec!["A_1"], "{found:#}");
        let found = app
            .ok("member", PEOPLE, json!({ "f": { "search": "0%" } }))
            .await;
        assert_eq!(ext_ids(&found["people"]), vec!["C-1"], "{found:#}");
        let found = app
            .ok("member", PEOPLE, json!({ "f": { "search": r"c:\s" } }))
            .await;
        assert_eq!(ext_ids(&found["people"]), vec!["E-1"], "{found:#}");
    }
);

on_both_backends!(
    teams_and_job_roles_are_listed_with_an_active_filter,
    |app: TestApp| async move {
        seed(&app).await;
        app.ok(
            "hr",
            UPSERT_TEAM,
            json!({ "input": { "externalId": "T-OLD", "name": "Old", "active": false } }),
        )
        .await;
        app.ok(
            "hr",
            UPSERT_ROLE,
            json!({ "input": { "key": "legacy", "name": "Legacy", "active": false } }),
        )
        .await;
        let q = r#"query($a: Boolean) {
            teams(active: $a) { totalCount nodes { externalId name parent { externalId } } }
            jobRoles(active: $a) { totalCount nodes { key name active scorecard { name } } }
        }"#;
        let all = app.ok("member", q, json!({ "a": null })).await;
        assert_eq!(all["teams"]["totalCount"], 3);
        assert_eq!(all["jobRoles"]["totalCount"], 3);
        // Teams by name, roles by key.
        assert_eq!(ext_ids(&all["teams"]), vec!["T-OLD", "T-SALES", "T-EMEA"]);
        assert_eq!(all["teams"]["nodes"][2]["parent"]["externalId"], "T-SALES");
        let keys: Vec<&str> = all["jobRoles"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["key"].as_str().unwrap())
            .collect();
        assert_eq!(keys, vec!["account_executive", "csm", "legacy"]);
        assert_eq!(
            all["jobRoles"]["nodes"][0]["scorecard"]["name"],
            "Account Executive KPIs"
        );
        assert!(all["jobRoles"]["nodes"][1]["scorecard"].is_null());

        let active = app.ok("member", q, json!({ "a": true })).await;
        assert_eq!(ext_ids(&active["teams"]), vec!["T-SALES", "T-EMEA"]);
        assert_eq!(active["jobRoles"]["totalCount"], 2);
        let inactive = app.ok("member", q, json!({ "a": false })).await;
        assert_eq!(ext_ids(&inactive["teams"]), vec!["T-OLD"]);
        assert_eq!(inactive["jobRoles"]["nodes"][0]["key"], "legacy");
        assert_eq!(inactive["jobRoles"]["totalCount"], 1);
    }
);

on_both_backends!(
    me_is_the_person_whose_subject_signed_the_token,
    |app: TestApp| async move {
        seed(&app).await;
        let me = "{ me { externalId name email subject } }";
        let bo = as_sub(&app, "bo", "member", me, json!({})).await;
        assert_eq!(bo["data"]["me"]["externalId"], "E2", "{bo:#}");
        assert_eq!(bo["data"]["me"]["email"], "bo@acme.test");
        assert_eq!(bo["data"]["me"]["subject"], "bo");

        // Service accounts and callers not on the roster have no person record.
        for (sub, role) in [
            ("bi-user", "bi"),
            ("hr_sync-user", "hr_sync"),
            ("admin-user", "admin"),
            ("stranger", "member"),
        ] {
            let body = as_sub(&app, sub, role, me, json!({})).await;
            assert!(body.get("errors").is_none(), "{role}: {body:#}");
            assert!(body["data"]["me"].is_null(), "{role}: {body:#}");
        }

        // Moving the subject moves `me`.
        app.ok(
            "hr",
            UPSERT_PERSON,
            json!({ "input": {
                "externalId": "E2", "name": "Bo", "email": "bo@acme.test", "subject": "bo-2",
                "managerExternalId": "E1", "teamExternalId": "T-EMEA", "roleKeys": ["csm"]
            } }),
        )
        .await;
        let old = as_sub(&app, "bo", "member", me, json!({})).await;
        assert!(old["data"]["me"].is_null(), "{old:#}");
        let new = as_sub(&app, "bo-2", "member", me, json!({})).await;
        assert_eq!(new["data"]["me"]["externalId"], "E2");
    }
);

on_both_backends!(
    node_resolves_people_teams_job_roles_and_scorecards,
    |app: TestApp| async move {
        seed(&app).await;
        let ids = app
            .ok(
                "member",
                r#"{ person(externalId: "E3") { id }
                     teams { nodes { id externalId } }
                     jobRoles { nodes { id key scorecard { id } } } }"#,
                json!({}),
            )
            .await;
        let person = ids["person"]["id"].as_str().unwrap().to_owned();
        let team = ids["teams"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["externalId"] == "T-EMEA")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let role = ids["jobRoles"]["nodes"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let card = ids["jobRoles"]["nodes"][0]["scorecard"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let data = app
            .ok(
                "member",
                r#"query($p: ID!, $t: ID!, $r: ID!, $s: ID!) {
                    p: node(id: $p) { __typename id ... on Person { externalId name } }
                    t: node(id: $t) { __typename id ... on Team { externalId parent { externalId } } }
                    r: node(id: $r) { __typename id ... on JobRole { key } }
                    s: node(id: $s) { __typename id ... on Scorecard { name ownerKind role { key } } }
                    many: nodes(ids: [$s, $p]) { __typename id }
                }"#,
                json!({ "p": person, "t": team, "r": role, "s": card }),
            )
            .await;
        assert_eq!(data["p"]["__typename"], "Person");
        assert_eq!(data["p"]["id"], person.as_str());
        assert_eq!(data["p"]["externalId"], "E3");
        assert_eq!(data["t"]["__typename"], "Team");
        assert_eq!(data["t"]["externalId"], "T-EMEA");
        assert_eq!(data["t"]["parent"]["externalId"], "T-SALES");
        assert_eq!(data["r"]["__typename"], "JobRole");
        assert_eq!(data["r"]["key"], "account_executive");
        assert_eq!(data["s"]["__typename"], "Scorecard");
        assert_eq!(data["s"]["name"], "Account Executive KPIs");
        assert_eq!(data["s"]["ownerKind"], "ROLE");
        assert_eq!(data["s"]["role"]["key"], "account_executive");
        assert_eq!(data["many"][0]["id"], card.as_str());
        assert_eq!(data["many"][1]["__typename"], "Person");
    }
);

// --- Contact data --------------------------------------------------------------------------

on_both_backends!(
    contact_data_is_visible_to_admin_hr_the_person_and_their_managers_only,
    |app: TestApp| async move {
        seed(&app).await;
        let everyone = vec!["E1", "E2", "E3", "E4", "E5"];
        for role in ["admin", "hr"] {
            let seen = contacts_seen_by(&app, &app.token(&[role])).await;
            assert_eq!(visible_emails(&seen), everyone, "{role}");
            assert_eq!(seen["E2"], (json!("bo@acme.test"), json!("bo")), "{role}");
            // Cleo has an email but no subject.
            assert_eq!(seen["E3"], (json!("cleo@acme.test"), Value::Null), "{role}");
        }

        // The person themself.
        let dee = contacts_seen_by(&app, &app.token_for(app.org_id, "dee", &["member"])).await;
        assert_eq!(visible_emails(&dee), vec!["E4"]);
        assert_eq!(dee["E4"], (json!("dee@acme.test"), json!("dee")));
        // A peer (Cleo, same manager) and Dee's own manager stay hidden from her.
        assert_eq!(dee["E3"], (Value::Null, Value::Null));
        assert_eq!(dee["E2"], (Value::Null, Value::Null));

        // Bo manages Cleo and Dee: he sees them and himself, not his own manager or his peer.
        let bo = contacts_seen_by(&app, &app.token_for(app.org_id, "bo", &["manager"])).await;
        assert_eq!(visible_emails(&bo), vec!["E2", "E3", "E4"]);
        assert_eq!(bo["E4"], (json!("dee@acme.test"), json!("dee")));
        assert_eq!(bo["E1"], (Value::Null, Value::Null));
        assert_eq!(bo["E5"], (Value::Null, Value::Null));

        // Ana manages Bo and Eve, and through Bo, Cleo and Dee.
        let ana = contacts_seen_by(&app, &app.token_for(app.org_id, "ana", &["manager"])).await;
        assert_eq!(visible_emails(&ana), everyone);

        // Eve is Bo's peer: she sees only herself.
        let eve = contacts_seen_by(&app, &app.token_for(app.org_id, "eve", &["member"])).await;
        assert_eq!(visible_emails(&eve), vec!["E5"]);

        // Roles that read people but not contact data, with subjects not on the roster.
        for role in ["bi", "revops", "finance", "executive", "member", "manager"] {
            let seen = contacts_seen_by(&app, &app.token(&[role])).await;
            assert_eq!(seen.len(), 5, "{role} still reads the people");
            assert!(visible_emails(&seen).is_empty(), "{role}: {seen:?}");
            assert!(
                seen.values().all(|(_, subject)| subject.is_null()),
                "{role}: {seen:?}"
            );
        }

        // The same rule holds on every path to a person.
        let token = app.token(&["bi"]);
        let one = app
            .gql_with(
                Some(&token),
                r#"{ person(externalId: "E2") { email subject manager { email } } }"#,
                json!({}),
            )
            .await;
        assert!(one["data"]["person"]["email"].is_null(), "{one:#}");
        assert!(one["data"]["person"]["subject"].is_null(), "{one:#}");
        assert!(
            one["data"]["person"]["manager"]["email"].is_null(),
            "{one:#}"
        );
        let mine = as_sub(
            &app,
            "dee",
            "member",
            r#"{ person(externalId: "E4") { email manager { email } } }"#,
            json!({}),
        )
        .await;
        assert_eq!(mine["data"]["person"]["email"], "dee@acme.test");
        assert!(
            mine["data"]["person"]["manager"]["email"].is_null(),
            "{mine:#}"
        );
    }
);

// --- HR sync: modes and dry run ------------------------------------------------------------

on_both_backends!(
    a_full_roster_sync_deactivates_people_left_out_and_keeps_their_data,
    |app: TestApp| async move {
        seed(&app).await;
        let mut full = roster();
        full["mode"] = json!("FULL_ROSTER");
        let outcome = app.ok("hr_sync", SYNC, json!({ "input": full })).await["syncHr"].clone();
        assert_eq!(outcome["changed"], true);
        assert_eq!(outcome["people"]["unchanged"], 3);
        assert_eq!(outcome["people"]["deactivated"], 2);
        assert_eq!(outcome["people"]["created"], 0);
        assert_eq!(
            change_set(&outcome),
            vec![
                change("Person", "E4", "DEACTIVATED"),
                change("Person", "E5", "DEACTIVATED")
            ]
        );

        // Nothing is deleted: Dee is still there, inactive, with everything she had.
        let dee = app.ok("hr", PERSON, json!({ "ext": "E4" })).await["person"].clone();
        assert_eq!(dee["active"], false);
        assert_eq!(dee["name"], "Dee");
        assert_eq!(dee["email"], "dee@acme.test");
        assert_eq!(dee["subject"], "dee");
        assert_eq!(dee["manager"]["externalId"], "E2");
        assert_eq!(dee["team"]["externalId"], "T-EMEA");
        assert_eq!(dee["roles"]["nodes"], json!([{ "key": "csm" }]));
        let inactive = app
            .ok("hr", PEOPLE, json!({ "f": { "active": false } }))
            .await;
        assert_eq!(ext_ids(&inactive["people"]), vec!["E4", "E5"]);
        let active = app
            .ok("hr", PEOPLE, json!({ "f": { "active": true } }))
            .await;
        assert_eq!(ext_ids(&active["people"]), vec!["E1", "E2", "E3"]);
        assert_eq!(
            app.ok("hr", PEOPLE, json!({})).await["people"]["totalCount"],
            5
        );

        // The same full roster again: the missing are already inactive.
        let again = app.ok("hr_sync", SYNC, json!({ "input": full })).await["syncHr"].clone();
        assert_eq!(again["changed"], false, "{again:#}");
        assert_eq!(again["people"]["deactivated"], 0);

        // Sending Dee again brings her back; Eve stays out.
        let mut back = full.clone();
        back["people"]
            .as_array_mut()
            .unwrap()
            .push(org_chart()["people"][3].clone());
        let outcome = app.ok("hr_sync", SYNC, json!({ "input": back })).await["syncHr"].clone();
        assert_eq!(outcome["people"]["updated"], 1, "{outcome:#}");
        assert_eq!(outcome["people"]["deactivated"], 0);
        assert_eq!(
            change_set(&outcome),
            vec![change("Person", "E4", "UPDATED")]
        );
        let dee = app.ok("hr", PERSON, json!({ "ext": "E4" })).await;
        assert_eq!(dee["person"]["active"], true);
        let eve = app.ok("hr", PERSON, json!({ "ext": "E5" })).await;
        assert_eq!(eve["person"]["active"], false);
    }
);

on_both_backends!(
    an_incremental_sync_leaves_people_it_does_not_mention_alone,
    |app: TestApp| async move {
        seed(&app).await;
        for mode in [json!("INCREMENTAL"), Value::Null] {
            let mut input = json!({ "people": [
                { "externalId": "E1", "name": "Ana Silva", "email": "ana@acme.test", "subject": "ana", "teamExternalId": "T-SALES" }
            ] });
            if !mode.is_null() {
                input["mode"] = mode.clone();
            }
            let outcome =
                app.ok("hr_sync", SYNC, json!({ "input": input })).await["syncHr"].clone();
            assert_eq!(outcome["people"]["deactivated"], 0, "{mode}: {outcome:#}");
            let active = app
                .ok("hr", PEOPLE, json!({ "f": { "active": true } }))
                .await;
            assert_eq!(active["people"]["totalCount"], 5, "{mode}");
        }
        let ana = app.ok("hr", PERSON, json!({ "ext": "E1" })).await;
        assert_eq!(ana["person"]["name"], "Ana Silva");
        // Untouched people keep their roles and managers.
        let bo = app.ok("hr", PERSON, json!({ "ext": "E2" })).await;
        assert_eq!(bo["person"]["manager"]["externalId"], "E1");
        assert_eq!(bo["person"]["roles"]["nodes"], json!([{ "key": "csm" }]));
    }
);

on_both_backends!(
    a_dry_run_reports_the_same_diff_as_the_real_run_and_writes_nothing,
    |app: TestApp| async move {
        define_metric(&app, "new_arr", "FINANCIAL", "HIGHER_IS_BETTER").await;
        define_metric(&app, "time_to_value", "CUSTOMER", "LOWER_IS_BETTER").await;
        let before = counts(&app).await;
        let mut dry_input = org_chart();
        dry_input["dryRun"] = json!(true);
        let dry = app.ok("hr_sync", SYNC, json!({ "input": dry_input })).await["syncHr"].clone();
        assert_eq!(dry["dryRun"], true);
        assert_eq!(dry["changed"], true);
        assert_eq!(dry["teams"]["created"], 2);
        assert_eq!(dry["roles"]["created"], 2);
        assert_eq!(dry["people"]["created"], 5);
        assert_eq!(dry["assignments"]["created"], 1);
        assert_eq!(
            change_set(&dry),
            vec![
                change("JobRole", "account_executive", "CREATED"),
                change("JobRole", "csm", "CREATED"),
                change("Person", "E1", "CREATED"),
                change("Person", "E2", "CREATED"),
                change("Person", "E3", "CREATED"),
                change("Person", "E4", "CREATED"),
                change("Person", "E5", "CREATED"),
                change("RoleAssignment", "account_executive", "CREATED"),
                change("Team", "T-EMEA", "CREATED"),
                change("Team", "T-SALES", "CREATED"),
            ]
        );
        assert_eq!(counts(&app).await, before, "a dry run wrote something");

        let real = app
            .ok("hr_sync", SYNC, json!({ "input": org_chart() }))
            .await["syncHr"]
            .clone();
        assert_eq!(real["dryRun"], false);
        let strip = |mut v: Value| {
            v.as_object_mut().unwrap().remove("dryRun");
            v
        };
        assert_eq!(strip(real.clone()), strip(dry.clone()), "same diff");
        let after = counts(&app).await;
        assert_eq!(after["people"]["totalCount"], 5);
        assert_eq!(after["scorecards"]["totalCount"], 1);

        // A dry run of a change and a deactivation.
        let mut change_input = org_chart();
        change_input["people"][1]["name"] = json!("Ana Silva");
        change_input["people"].as_array_mut().unwrap().pop(); // Eve
        change_input["mode"] = json!("FULL_ROSTER");
        let mut dry_input = change_input.clone();
        dry_input["dryRun"] = json!(true);
        let dry = app.ok("hr_sync", SYNC, json!({ "input": dry_input })).await["syncHr"].clone();
        assert_eq!(dry["people"]["updated"], 1, "{dry:#}");
        assert_eq!(dry["people"]["deactivated"], 1);
        assert_eq!(dry["people"]["unchanged"], 3);
        assert_eq!(dry["teams"]["unchanged"], 2);
        assert_eq!(dry["assignments"]["unchanged"], 1);
        assert_eq!(
            change_set(&dry),
            vec![
                change("Person", "E1", "UPDATED"),
                change("Person", "E5", "DEACTIVATED")
            ]
        );
        assert_eq!(counts(&app).await, after, "a dry run wrote something");
        let ana = app.ok("hr", PERSON, json!({ "ext": "E1" })).await;
        assert_eq!(ana["person"]["name"], "Ana");
        let eve = app.ok("hr", PERSON, json!({ "ext": "E5" })).await;
        assert_eq!(eve["person"]["active"], true);

        let real = app
            .ok("hr_sync", SYNC, json!({ "input": change_input }))
            .await["syncHr"]
            .clone();
        assert_eq!(strip(real), strip(dry));
        let ana = app.ok("hr", PERSON, json!({ "ext": "E1" })).await;
        assert_eq!(ana["person"]["name"], "Ana Silva");
        let eve = app.ok("hr", PERSON, json!({ "ext": "E5" })).await;
        assert_eq!(eve["person"]["active"], false);
    }
);

on_both_backends!(
    subjects_can_move_between_people_in_one_sync,
    |app: TestApp| async move {
        seed(&app).await;
        // Ana and Bo swap subjects; Eve takes Dee's, which Dee gives up.
        let mut input = org_chart();
        input["people"][1]["subject"] = json!("bo");
        input["people"][2]["subject"] = json!("ana");
        input["people"][3]
            .as_object_mut()
            .unwrap()
            .remove("subject");
        input["people"][4]["subject"] = json!("dee");
        let body = app.gql("hr_sync", SYNC, json!({ "input": input })).await;
        assert!(body.get("errors").is_none(), "{body:#}");
        assert_eq!(body["data"]["syncHr"]["people"]["updated"], 4, "{body:#}");
        let me = "{ me { externalId } }";
        for (sub, ext) in [("ana", "E2"), ("bo", "E1"), ("dee", "E5")] {
            let body = as_sub(&app, sub, "member", me, json!({})).await;
            assert_eq!(body["data"]["me"]["externalId"], ext, "{sub}: {body:#}");
        }
    }
);

// --- HR sync: refusals ---------------------------------------------------------------------

on_both_backends!(
    duplicate_external_ids_and_keys_are_refused_at_the_repeat,
    |app: TestApp| async move {
        seed(&app).await;
        let mut input = org_chart();
        // A valid change in the same payload must not be applied either.
        input["people"][1]["name"] = json!("Ana Silva");
        input["people"][2]["externalId"] = json!("E1");
        input["teams"][1]["externalId"] = json!("T-SALES");
        input["teams"][1]
            .as_object_mut()
            .unwrap()
            .remove("parentExternalId");
        input["roles"][1]["key"] = json!("account_executive");
        let fields = refused(&app, input).await;
        assert_has(&fields, "input.people[2].externalId");
        assert_has(&fields, "input.teams[1].externalId");
        assert_has(&fields, "input.roles[1].key");
        let ana = app.ok("hr", PERSON, json!({ "ext": "E1" })).await;
        assert_eq!(ana["person"]["name"], "Ana");
    }
);

on_both_backends!(
    a_manager_cycle_is_refused_at_every_link,
    |app: TestApp| async move {
        let fields = refused(
            &app,
            json!({ "people": [
                { "externalId": "A", "name": "A", "managerExternalId": "B" },
                { "externalId": "B", "name": "B", "managerExternalId": "A" },
                { "externalId": "C", "name": "C", "managerExternalId": "C" },
                { "externalId": "D", "name": "D", "managerExternalId": "A" }
            ] }),
        )
        .await;
        assert_has(&fields, "input.people[0].managerExternalId");
        assert_has(&fields, "input.people[1].managerExternalId");
        assert_has(&fields, "input.people[2].managerExternalId");
        // D reports into the loop but is not part of it.
        assert!(
            !fields.contains(&"input.people[3].managerExternalId".to_owned()),
            "{fields:?}"
        );
        let body = app
            .gql(
                "hr_sync",
                SYNC,
                json!({ "input": { "people": [
                    { "externalId": "A", "name": "A", "managerExternalId": "B" },
                    { "externalId": "B", "name": "B", "managerExternalId": "A" }
                ] } }),
            )
            .await;
        let message = body["errors"][0]["extensions"]["problems"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(message.contains("loop"), "{message}");
    }
);

on_both_backends!(
    a_manager_cycle_through_people_already_stored_is_refused,
    |app: TestApp| async move {
        seed(&app).await;
        // Stored: Cleo -> Bo -> Ana. Ana reporting to Cleo would close the loop.
        let fields = refused(
            &app,
            json!({ "people": [
                { "externalId": "E1", "name": "Ana", "email": "ana@acme.test", "subject": "ana", "managerExternalId": "E3" }
            ] }),
        )
        .await;
        assert_eq!(fields, vec!["input.people[0].managerExternalId"]);
        let ana = app.ok("hr", PERSON, json!({ "ext": "E1" })).await;
        assert!(ana["person"]["manager"].is_null());
    }
);

on_both_backends!(
    a_team_parent_cycle_and_an_unknown_parent_are_refused,
    |app: TestApp| async move {
        let fields = refused(
            &app,
            json!({ "teams": [
                { "externalId": "T-A", "name": "A", "parentExternalId": "T-B" },
                { "externalId": "T-B", "name": "B", "parentExternalId": "T-A" },
                { "externalId": "T-C", "name": "C", "parentExternalId": "T-404" },
                { "externalId": "T-D", "name": "D", "parentExternalId": "T-D" }
            ] }),
        )
        .await;
        assert_has(&fields, "input.teams[0].parentExternalId");
        assert_has(&fields, "input.teams[1].parentExternalId");
        assert_has(&fields, "input.teams[2].parentExternalId");
        assert_has(&fields, "input.teams[3].parentExternalId");
    }
);

on_both_backends!(
    unknown_managers_teams_and_role_keys_are_refused_by_path,
    |app: TestApp| async move {
        seed(&app).await;
        let fields = refused(
            &app,
            json!({
                "people": [
                    { "externalId": "N1", "name": "N1", "managerExternalId": "E404" },
                    { "externalId": "N2", "name": "N2", "teamExternalId": "T-404" },
                    { "externalId": "N3", "name": "N3", "roleKeys": ["csm", "ghost"] },
                    { "externalId": "N4", "name": "N4", "managerExternalId": "E1", "teamExternalId": "T-EMEA" }
                ],
                "assignments": [
                    { "roleKey": "ghost", "items": [] }
                ]
            }),
        )
        .await;
        let mut sorted = fields.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            vec![
                "input.assignments[0].roleKey",
                "input.people[0].managerExternalId",
                "input.people[1].teamExternalId",
                "input.people[2].roleKeys[1]",
            ]
        );
    }
);

on_both_backends!(
    bad_kpi_items_in_an_assignment_are_refused_by_path,
    |app: TestApp| async move {
        seed(&app).await;
        let item = |metric: &str, weight: &str, green: &str, amber: &str| json!({ "metricKey": metric, "weight": weight, "target": "10", "green": green, "amber": amber });
        // Reference problems: an unknown metric, thresholds in the wrong order for the
        // metric's direction (green below amber when higher is better, above it when lower).
        let fields = refused(
            &app,
            json!({ "assignments": [{ "roleKey": "csm", "items": [
                item("no_such_metric", "1", "10", "5"),
                item("new_arr", "1", "5", "10"),
                item("time_to_value", "1", "21", "14"),
            ] }] }),
        )
        .await;
        let mut sorted = fields.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            vec![
                "input.assignments[0].items[0].metricKey",
                "input.assignments[0].items[1].green",
                "input.assignments[0].items[2].green",
            ]
        );
        // A weight below zero.
        let fields = refused(
            &app,
            json!({ "assignments": [{ "roleKey": "csm", "items": [
                item("new_arr", "0.5", "10", "5"),
                item("time_to_value", "-0.5", "14", "21"),
            ] }] }),
        )
        .await;
        assert_eq!(fields, vec!["input.assignments[0].items[1].weight"]);
        // The same thresholds the right way round are accepted.
        let ok = app
            .ok(
                "hr_sync",
                SYNC,
                json!({ "input": { "assignments": [{ "roleKey": "csm", "items": [
                    item("new_arr", "1", "10", "5"),
                    item("time_to_value", "0", "14", "21"),
                ] }] } }),
            )
            .await;
        assert_eq!(ok["syncHr"]["assignments"]["created"], 1);
    }
);

on_both_backends!(
    malformed_fields_are_refused_by_path,
    |app: TestApp| async move {
        let fields = refused(
            &app,
            json!({
                "teams": [{ "externalId": "T-1", "name": "" }],
                "roles": [{ "key": "Sales Rep", "name": "Sales rep" }],
                "people": [
                    { "externalId": "P1", "name": "Ana", "email": "ana-at-acme" },
                    { "externalId": " ", "name": "Nobody" },
                    { "externalId": "P3", "name": "Cleo", "email": "cleo@acme.test" }
                ]
            }),
        )
        .await;
        let mut sorted = fields.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            vec![
                "input.people[0].email",
                "input.people[1].externalId",
                "input.roles[0].key",
                "input.teams[0].name",
            ]
        );
    }
);

on_both_backends!(
    a_payload_with_problems_of_every_kind_lists_all_of_them,
    |app: TestApp| async move {
        seed(&app).await;
        // A malformed email and a negative weight next to an unknown manager and a duplicate
        // id: the issue asks for every problem listed by path.
        let mut input = org_chart();
        input["people"][0]["email"] = json!("not-an-email");
        input["people"][1]["managerExternalId"] = json!("E404");
        input["people"][4]["externalId"] = json!("E4");
        input["assignments"][0]["items"][0]["weight"] = json!("-1");
        let fields = refused(&app, input).await;
        assert_has(&fields, "input.people[0].email");
        assert_has(&fields, "input.assignments[0].items[0].weight");
        assert_has(&fields, "input.people[1].managerExternalId");
        assert_has(&fields, "input.people[4].externalId");
    }
);

on_both_backends!(
    a_subject_used_by_two_people_is_refused,
    |app: TestApp| async move {
        let fields = refused(
            &app,
            json!({ "people": [
                { "externalId": "P1", "name": "Ana", "subject": "ana" },
                { "externalId": "P2", "name": "Bo", "subject": "ana" }
            ] }),
        )
        .await;
        assert_eq!(fields, vec!["input.people[1].subject"]);

        seed(&app).await;
        // Ana (E1) signs in as `ana`; a newcomer cannot take it while she keeps it.
        let body = app
            .gql(
                "hr_sync",
                SYNC,
                json!({ "input": { "people": [
                    { "externalId": "E9", "name": "Nia", "subject": "ana" }
                ] } }),
            )
            .await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("BAD_USER_INPUT"),
            "{body:#}"
        );
        assert_eq!(
            error_field(&body).as_deref(),
            Some("input.people[0].subject")
        );
        let message = body["errors"][0]["extensions"]["problems"][0]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(message.contains("E1"), "{message}");
        let upsert = app
            .gql(
                "hr",
                UPSERT_PERSON,
                json!({ "input": { "externalId": "E9", "name": "Nia", "subject": "ana" } }),
            )
            .await;
        assert_eq!(
            error_code(&upsert).as_deref(),
            Some("BAD_USER_INPUT"),
            "{upsert:#}"
        );
        assert_eq!(error_field(&upsert).as_deref(), Some("input.subject"));
        assert!(app.ok("hr", PERSON, json!({ "ext": "E9" })).await["person"].is_null());
    }
);

on_both_backends_with!(
    a_sync_above_the_batch_cap_is_refused,
    Limits {
        max_batch_size: 2,
        ..Limits::default()
    },
    8 * 1024 * 1024,
    |app: TestApp| async move {
        let person = |ext: &str| json!({ "externalId": ext, "name": ext });
        let body = app
            .gql(
                "hr_sync",
                SYNC,
                json!({ "input": { "people": [person("P1"), person("P2"), person("P3")] } }),
            )
            .await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("BAD_USER_INPUT"),
            "{body:#}"
        );
        assert_eq!(error_field(&body).as_deref(), Some("input.people"));
        assert_eq!(counts(&app).await["people"]["totalCount"], 0);
        // At the cap it goes through.
        let ok = app
            .ok(
                "hr_sync",
                SYNC,
                json!({ "input": { "people": [person("P1"), person("P2")] } }),
            )
            .await;
        assert_eq!(ok["syncHr"]["people"]["created"], 2);
    }
);

// --- Access --------------------------------------------------------------------------------

on_both_backends!(
    hr_sync_may_run_the_sync_and_nothing_else,
    |app: TestApp| async move {
        let outcome = seed(&app).await;
        assert_eq!(outcome["people"]["created"], 5);
        let person_id = app.ok("hr", PERSON, json!({ "ext": "E1" })).await["person"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let reads = [
            "{ people { totalCount } }",
            r#"{ person(externalId: "E1") { name } }"#,
            "{ teams { totalCount } }",
            "{ jobRoles { totalCount } }",
            "{ metrics { totalCount } }",
            "{ scorecards { totalCount } }",
            "{ roleBalance { roleCount } }",
            "{ organizationSettings { maxPerspectiveShare } }",
            "{ auditEvents { totalCount } }",
            "{ observations { totalCount } }",
        ];
        for q in reads {
            forbidden(&app.gql("hr_sync", q, json!({})).await, q);
        }
        let node = app
            .gql(
                "hr_sync",
                "query($id: ID!) { node(id: $id) { id } }",
                json!({ "id": person_id }),
            )
            .await;
        forbidden(&node, "node");
        let writes: Vec<(&str, Value)> = vec![
            (
                UPSERT_PERSON,
                json!({ "input": { "externalId": "E9", "name": "Nia" } }),
            ),
            (
                UPSERT_TEAM,
                json!({ "input": { "externalId": "T-9", "name": "Nine" } }),
            ),
            (
                UPSERT_ROLE,
                json!({ "input": { "key": "nine", "name": "Nine" } }),
            ),
            (
                "mutation($input: RoleKpiAssignmentInput!) { assignRoleKpis(input: $input) { changed } }",
                json!({ "input": { "roleKey": "csm", "items": [] } }),
            ),
            (
                "mutation($input: DefineScorecardInput!) { defineScorecard(input: $input) { scorecard { id } } }",
                json!({ "input": { "name": "Co", "ownerKind": "COMPANY", "items": [] } }),
            ),
            (
                "mutation { updateOrganizationSettings(input: { maxPerspectiveShare: \"0.9\" }) { settings { maxPerspectiveShare } } }",
                json!({}),
            ),
            (
                "mutation { recordObservations(input: { observations: [{ metricKey: \"new_arr\", periodStart: \"2026-01-01\", granularity: MONTH, value: \"1\" }] }) { created } }",
                json!({}),
            ),
        ];
        let before = counts(&app).await;
        for (q, vars) in writes {
            forbidden(&app.gql("hr_sync", q, vars).await, q);
        }
        assert_eq!(counts(&app).await, before);
        // `me` is not an error for a service account: it is simply nobody.
        let me = app.gql("hr_sync", "{ me { externalId } }", json!({})).await;
        assert!(me.get("errors").is_none(), "{me:#}");
        assert!(me["data"]["me"].is_null());
    }
);

on_both_backends!(
    only_admin_and_hr_may_upsert_people_teams_and_job_roles,
    |app: TestApp| async move {
        let before = counts(&app).await;
        let calls = [
            (
                UPSERT_TEAM,
                json!({ "input": { "externalId": "T-1", "name": "One" } }),
            ),
            (
                UPSERT_ROLE,
                json!({ "input": { "key": "csm", "name": "CSM" } }),
            ),
            (
                UPSERT_PERSON,
                json!({ "input": { "externalId": "P1", "name": "Ana", "teamExternalId": "T-1", "roleKeys": ["csm"] } }),
            ),
        ];
        for role in [
            "executive",
            "revops",
            "finance",
            "manager",
            "member",
            "bi",
            "hr_sync",
        ] {
            for (q, vars) in &calls {
                forbidden(&app.gql(role, q, vars.clone()).await, role);
            }
        }
        let empty = counts(&app).await;
        assert_eq!(empty["people"]["totalCount"], 0);
        assert_eq!(empty["teams"]["totalCount"], 0);
        assert_eq!(empty["jobRoles"]["totalCount"], 0);
        assert_eq!(empty, before, "a refused upsert wrote something");
        for role in ["hr", "admin"] {
            for (q, vars) in &calls {
                app.ok(role, q, vars.clone()).await;
            }
        }
        let after = counts(&app).await;
        assert_eq!(after["people"]["totalCount"], 1);
        assert_eq!(after["teams"]["totalCount"], 1);
        assert_eq!(after["jobRoles"]["totalCount"], 1);
        let roles = app.ok("hr", PERSON, json!({ "ext": "P1" })).await;
        assert_eq!(roles["person"]["roles"]["nodes"], json!([{ "key": "csm" }]));
    }
);

on_both_backends!(
    every_role_but_hr_sync_reads_people_teams_and_roles,
    |app: TestApp| async move {
        seed(&app).await;
        let q = r#"{ people { totalCount } teams { totalCount } jobRoles { totalCount }
                     person(externalId: "E2") { name manager { name } team { name } } }"#;
        for role in [
            "member",
            "bi",
            "manager",
            "revops",
            "finance",
            "executive",
            "hr",
            "admin",
        ] {
            let data = app.ok(role, q, json!({})).await;
            assert_eq!(data["people"]["totalCount"], 5, "{role}");
            assert_eq!(data["teams"]["totalCount"], 2, "{role}");
            assert_eq!(data["jobRoles"]["totalCount"], 2, "{role}");
            assert_eq!(data["person"]["name"], "Bo", "{role}");
            assert_eq!(data["person"]["manager"]["name"], "Ana", "{role}");
            assert_eq!(data["person"]["team"]["name"], "Sales EMEA", "{role}");
        }
        let anonymous = app.gql_with(None, q, json!({})).await;
        assert_eq!(
            error_code(&anonymous).as_deref(),
            Some("UNAUTHENTICATED"),
            "{anonymous:#}"
        );
        assert!(anonymous["data"].is_null(), "{anonymous:#}");
    }
);

on_both_backends!(
    a_sync_by_a_role_without_hr_rights_writes_nothing,
    |app: TestApp| async move {
        define_metric(&app, "new_arr", "FINANCIAL", "HIGHER_IS_BETTER").await;
        define_metric(&app, "time_to_value", "CUSTOMER", "LOWER_IS_BETTER").await;
        let before = counts(&app).await;
        for role in ["executive", "revops", "finance", "manager", "member", "bi"] {
            let body = app.gql(role, SYNC, json!({ "input": org_chart() })).await;
            forbidden(&body, role);
            assert!(body["data"].is_null(), "{role}: {body:#}");
        }
        assert_eq!(counts(&app).await, before);
        for role in ["hr", "admin"] {
            let outcome = app.ok(role, SYNC, json!({ "input": org_chart() })).await;
            assert!(outcome["syncHr"]["dryRun"].is_boolean(), "{role}");
        }
        assert_eq!(counts(&app).await["people"]["totalCount"], 5);
    }
);

// --- Tenancy -------------------------------------------------------------------------------

on_both_backends!(
    another_organization_sees_none_of_these_people_teams_roles_or_scorecards,
    |app: TestApp| async move {
        seed(&app).await;
        let ids = app
            .ok(
                "admin",
                r#"{ person(externalId: "E1") { id }
                     teams { nodes { id } }
                     jobRoles { nodes { id scorecard { id } } } }"#,
                json!({}),
            )
            .await;
        let person = ids["person"]["id"].as_str().unwrap().to_owned();
        let team = ids["teams"]["nodes"][0]["id"].as_str().unwrap().to_owned();
        let role = ids["jobRoles"]["nodes"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let card = ids["jobRoles"]["nodes"][0]["scorecard"]["id"]
            .as_str()
            .unwrap()
            .to_owned();

        let other = app.create_org("Globex").await;
        let admin = app.token_for(other, "admin-user", &["admin"]);
        let body = app
            .gql_with(
                Some(&admin),
                r#"query($p: ID!, $t: ID!, $r: ID!, $s: ID!) {
                    people { totalCount } teams { totalCount } jobRoles { totalCount }
                    scorecards { totalCount }
                    roleBalance { roleCount balancedShare }
                    person(externalId: "E1") { id }
                    p: node(id: $p) { id } t: node(id: $t) { id }
                    r: node(id: $r) { id } s: node(id: $s) { id }
                    audit: auditEvents(filter: { entityId: $p }) { totalCount }
                }"#,
                json!({ "p": person, "t": team, "r": role, "s": card }),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body:#}");
        let d = &body["data"];
        for list in ["people", "teams", "jobRoles", "scorecards"] {
            assert_eq!(d[list]["totalCount"], 0, "{list}");
        }
        assert_eq!(d["roleBalance"]["roleCount"], 0);
        assert!(d["roleBalance"]["balancedShare"].is_null());
        assert!(d["person"].is_null());
        for n in ["p", "t", "r", "s"] {
            assert!(d[n].is_null(), "{n} leaked: {d:#}");
        }
        assert_eq!(d["audit"]["totalCount"], 0);

        // Ana's subject means nothing in another organization.
        let ana_there = app.token_for(other, "ana", &["member"]);
        let me = app
            .gql_with(Some(&ana_there), "{ me { externalId } }", json!({}))
            .await;
        assert!(me["data"]["me"].is_null(), "{me:#}");

        // Another tenant cannot change these records through their ids.
        let update = app
            .gql_with(
                Some(&admin),
                "mutation($id: ID!) { updateScorecard(input: { id: $id, name: \"Mine\" }) { scorecard { name } } }",
                json!({ "id": card }),
            )
            .await;
        assert_eq!(
            error_code(&update).as_deref(),
            Some("NOT_FOUND"),
            "{update:#}"
        );

        // The same HR ids and subjects are new records there, and ours are untouched.
        define_metric_in(&app, other, "new_arr", "FINANCIAL", "HIGHER_IS_BETTER").await;
        define_metric_in(&app, other, "time_to_value", "CUSTOMER", "LOWER_IS_BETTER").await;
        let sync = app.token_for(other, "hr_sync-user", &["hr_sync"]);
        let mut renamed = org_chart();
        renamed["people"][1]["name"] = json!("Ana of Globex");
        let outcome = app
            .gql_with(Some(&sync), SYNC, json!({ "input": renamed }))
            .await;
        assert!(outcome.get("errors").is_none(), "{outcome:#}");
        assert_eq!(outcome["data"]["syncHr"]["people"]["created"], 5);
        assert_eq!(outcome["data"]["syncHr"]["teams"]["created"], 2);
        let ours = app.ok("hr", PERSON, json!({ "ext": "E1" })).await;
        assert_eq!(ours["person"]["name"], "Ana");
        assert_eq!(ours["person"]["id"], person.as_str());
        let scorecard = app
            .ok(
                "hr",
                "query($id: ID!) { node(id: $id) { ... on Scorecard { name } } }",
                json!({ "id": card }),
            )
            .await;
        assert_eq!(scorecard["node"]["name"], "Account Executive KPIs");
        let theirs = app
            .gql_with(Some(&ana_there), "{ me { externalId name } }", json!({}))
            .await;
        assert_eq!(theirs["data"]["me"]["name"], "Ana of Globex", "{theirs:#}");
    }
);

/// Defines a metric in organization `org`.
async fn define_metric_in(
    app: &TestApp,
    org: uuid::Uuid,
    key: &str,
    perspective: &str,
    direction: &str,
) {
    let token = app.token_for(org, "admin-user", &["admin"]);
    let body = app
        .gql_with(
            Some(&token),
            r#"mutation($input: DefineMetricInput!) { defineMetric(input: $input) { metric { id } } }"#,
            json!({ "input": {
                "key": key, "name": key, "definition": "d", "unit": "COUNT", "direction": direction,
                "perspective": perspective, "kind": "OUTPUT", "aggregation": "SUM"
            } }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body:#}");
}

// --- Audit ---------------------------------------------------------------------------------

const EVENTS: &str = r#"
query($id: ID!) {
  auditEvents(filter: { entityId: $id }, first: 100) {
    totalCount nodes { actor operation entityType entityId before after }
  }
}"#;

async fn events_of(app: &TestApp, id: &str) -> Value {
    app.ok("admin", EVENTS, json!({ "id": id })).await["auditEvents"].clone()
}

on_both_backends!(
    hr_changes_are_audited_and_dry_runs_and_refused_syncs_are_not,
    |app: TestApp| async move {
        define_metric(&app, "new_arr", "FINANCIAL", "HIGHER_IS_BETTER").await;
        define_metric(&app, "time_to_value", "CUSTOMER", "LOWER_IS_BETTER").await;
        let start = counts(&app).await["auditEvents"]["totalCount"]
            .as_i64()
            .unwrap();
        let body = as_sub(
            &app,
            "workday",
            "hr_sync",
            SYNC,
            json!({ "input": org_chart() }),
        )
        .await;
        assert!(body.get("errors").is_none(), "{body:#}");
        // 2 teams + 2 roles + 5 people + 1 role scorecard.
        let after_sync = counts(&app).await["auditEvents"]["totalCount"]
            .as_i64()
            .unwrap();
        assert_eq!(after_sync, start + 10);

        let ids = app
            .ok(
                "admin",
                r#"{ person(externalId: "E1") { id }
                     teams { nodes { id externalId } }
                     jobRoles { nodes { id key scorecard { id } } } }"#,
                json!({}),
            )
            .await;
        let ana = ids["person"]["id"].as_str().unwrap().to_owned();
        let e = events_of(&app, &ana).await;
        assert_eq!(e["totalCount"], 1);
        let created = &e["nodes"][0];
        assert_eq!(created["operation"], "syncHr");
        assert_eq!(created["actor"], "workday");
        assert_eq!(created["entityType"], "Person");
        assert_eq!(created["entityId"], ana.as_str());
        assert!(created["before"].is_null());
        assert_eq!(created["after"]["externalId"], "E1");
        assert_eq!(created["after"]["email"], "ana@acme.test");
        let team = ids["teams"]["nodes"][0]["id"].as_str().unwrap();
        let role = ids["jobRoles"]["nodes"][0]["id"].as_str().unwrap();
        let card = ids["jobRoles"]["nodes"][0]["scorecard"]["id"]
            .as_str()
            .unwrap();
        for (id, kind) in [(team, "Team"), (role, "JobRole"), (card, "Scorecard")] {
            let e = events_of(&app, id).await;
            assert_eq!(e["totalCount"], 1, "{kind}");
            assert_eq!(e["nodes"][0]["operation"], "syncHr", "{kind}");
            assert_eq!(e["nodes"][0]["entityType"], kind);
        }

        // The same payload again, a dry run and a refused sync write no events.
        app.ok("hr_sync", SYNC, json!({ "input": org_chart() }))
            .await;
        let mut dry = org_chart();
        dry["people"][1]["name"] = json!("Ana Silva");
        dry["dryRun"] = json!(true);
        app.ok("hr_sync", SYNC, json!({ "input": dry })).await;
        let mut bad = org_chart();
        bad["people"][1]["name"] = json!("Ana Silva");
        bad["people"][0]["managerExternalId"] = json!("E404");
        let refused = app.gql("hr_sync", SYNC, json!({ "input": bad })).await;
        assert_eq!(error_code(&refused).as_deref(), Some("BAD_USER_INPUT"));
        let now = counts(&app).await["auditEvents"]["totalCount"]
            .as_i64()
            .unwrap();
        assert_eq!(
            now, after_sync,
            "no events for no-ops, dry runs or refusals"
        );

        // A real change records before and after.
        let mut change = org_chart();
        change["people"][1]["name"] = json!("Ana Silva");
        change["people"].as_array_mut().unwrap().pop();
        change["mode"] = json!("FULL_ROSTER");
        as_sub(&app, "workday", "hr_sync", SYNC, json!({ "input": change })).await;
        let e = events_of(&app, &ana).await;
        assert_eq!(e["totalCount"], 2);
        assert_eq!(e["nodes"][0]["before"]["name"], "Ana");
        assert_eq!(e["nodes"][0]["after"]["name"], "Ana Silva");
        let eve = app.ok("admin", PERSON, json!({ "ext": "E5" })).await["person"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let e = events_of(&app, &eve).await;
        assert_eq!(e["totalCount"], 2);
        assert_eq!(e["nodes"][0]["operation"], "syncHr");
        assert_eq!(e["nodes"][0]["before"]["active"], true);
        assert_eq!(e["nodes"][0]["after"]["active"], false);
    }
);

on_both_backends!(
    single_record_upserts_are_audited_under_their_own_operation,
    |app: TestApp| async move {
        let team = as_sub(
            &app,
            "hr-lead",
            "hr",
            UPSERT_TEAM,
            json!({ "input": { "externalId": "T-1", "name": "One" } }),
        )
        .await["data"]["upsertTeam"]["team"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let role = as_sub(
            &app,
            "hr-lead",
            "hr",
            UPSERT_ROLE,
            json!({ "input": { "key": "csm", "name": "CSM" } }),
        )
        .await["data"]["upsertJobRole"]["jobRole"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let person = as_sub(
            &app,
            "hr-lead",
            "hr",
            UPSERT_PERSON,
            json!({ "input": { "externalId": "P1", "name": "Ana", "teamExternalId": "T-1", "roleKeys": ["csm"] } }),
        )
        .await["data"]["upsertPerson"]["person"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        for (id, operation, kind) in [
            (&team, "upsertTeam", "Team"),
            (&role, "upsertJobRole", "JobRole"),
            (&person, "upsertPerson", "Person"),
        ] {
            let e = events_of(&app, id).await;
            assert_eq!(e["totalCount"], 1, "{kind}: {e:#}");
            assert_eq!(e["nodes"][0]["actor"], "hr-lead", "{kind}");
            assert_eq!(e["nodes"][0]["entityType"], kind);
            assert_eq!(e["nodes"][0]["operation"], operation, "{kind}: {e:#}");
        }
        // The same upsert again changes nothing and writes no event.
        app.ok(
            "hr",
            UPSERT_PERSON,
            json!({ "input": { "externalId": "P1", "name": "Ana", "teamExternalId": "T-1", "roleKeys": ["csm"] } }),
        )
        .await;
        assert_eq!(events_of(&app, &person).await["totalCount"], 1);
    }
);
