//! Audit completeness: the schema's mutation list is walked, every mutation is called once
//! with valid input as `admin`, and each call must leave at least one audit event whose
//! `operation` is the mutation's own name. A mutation the schema serves but this file has no
//! call for fails the test, so a new mutation cannot ship without an audited test call.
//! Failed calls (bad input, conflicts) must leave no event at all.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use tandem_tests::{TestApp, error_code, error_field, on_both_backends};

use crate::support::{audit_count, metric_input};

const MUTATIONS: &str = "{ __schema { mutationType { fields { name } } } }";

/// The newest `n` audit events.
const NEWEST: &str =
    "query($n: Int!) { auditEvents(first: $n) { nodes { operation actor entityType } } }";

/// Every mutation this file calls, in the order it calls them. The test checks that the
/// schema serves nothing beyond this list and that each name on it was really called.
const COVERED: &[&str] = &[
    "defineMetric",
    "updateMetric",
    "approveMetric",
    "retireMetric",
    "createSegment",
    "updateSegment",
    "createJourneyStage",
    "updateJourneyStage",
    "recordObservations",
    "syncHr",
    "upsertTeam",
    "upsertPerson",
    "upsertJobRole",
    "assignRoleKpis",
    "defineScorecard",
    "updateScorecard",
    "updateOrganizationSettings",
    "createGoal",
    "updateGoal",
    "linkGoals",
    "unlinkGoals",
    "setGoalStatus",
    "createObjective",
    "createKeyResult",
    "updateKeyResult",
    "checkIn",
    "defineIncentivePlan",
    "computePayouts",
    "createForum",
    "recordReviewSession",
    "defineTradeOffRule",
    "updateTradeOffRule",
    "logDecision",
    "updateDecision",
    "assessCapability",
    "upsertAccounts",
    "recordRevenueMovements",
    "linkMetrics",
    "unlinkMetrics",
    "saveDashboard",
    "deleteDashboard",
];

/// The admin token's subject, the actor every checked event must carry.
const ADMIN: &str = "admin-user";

/// The mutation names the served schema lists.
async fn served_mutations(app: &TestApp) -> BTreeSet<String> {
    let data = app.ok("admin", MUTATIONS, json!({})).await;
    data["__schema"]["mutationType"]["fields"]
        .as_array()
        .expect("mutation fields")
        .iter()
        .map(|f| f["name"].as_str().expect("name").to_owned())
        .collect()
}

/// Runs checked calls and remembers which mutations were called and which left no event
/// under their own name.
struct Audited<'a> {
    app: &'a TestApp,
    called: Vec<String>,
    silent: Vec<String>,
}

impl<'a> Audited<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            called: Vec::new(),
            silent: Vec::new(),
        }
    }

    /// Calls `mutation` as admin with `query` (which must call exactly that mutation, not
    /// aliased), fails on any error, and checks that the events the call wrote include one
    /// with `operation == mutation` by the admin. Returns the mutation's payload.
    async fn call(&mut self, mutation: &str, query: &str, variables: Value) -> Value {
        let before = audit_count(self.app).await;
        let data = self.app.ok("admin", query, variables).await;
        let keys: Vec<&String> = data.as_object().expect("data object").keys().collect();
        assert_eq!(keys, [mutation], "the call for {mutation} calls {keys:?}");
        let written = audit_count(self.app).await - before;
        let events: Vec<Value> = if written > 0 {
            self.app
                .ok("admin", NEWEST, json!({ "n": written.min(500) }))
                .await["auditEvents"]["nodes"]
                .as_array()
                .expect("nodes")
                .clone()
        } else {
            Vec::new()
        };
        let named = events
            .iter()
            .any(|e| e["operation"] == mutation && e["actor"] == ADMIN);
        if !named {
            let ops: Vec<String> = events
                .iter()
                .map(|e| {
                    format!(
                        "{}/{}",
                        e["operation"].as_str().unwrap_or("?"),
                        e["entityType"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            self.silent.push(format!(
                "{mutation}: {written} new event(s), operations/entity types {ops:?}"
            ));
        }
        self.called.push(mutation.to_owned());
        data[mutation].clone()
    }
}

fn id(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not an id: {v}"))
        .to_owned()
}

on_both_backends!(
    every_mutation_in_the_schema_writes_an_audit_event_named_after_it,
    |app: TestApp| async move {
        // 1. Coverage: the schema serves no mutation this test has no call for.
        let served = served_mutations(&app).await;
        let covered: BTreeSet<String> = COVERED.iter().map(|s| (*s).to_owned()).collect();
        let missing: Vec<&String> = served.difference(&covered).collect();
        assert!(
            missing.is_empty(),
            "mutations in the schema without an audited call in tests/e2e/audit_completeness.rs: {missing:?}"
        );
        let gone: Vec<&String> = covered.difference(&served).collect();
        assert!(
            gone.is_empty(),
            "COVERED lists mutations the schema no longer serves: {gone:?}"
        );

        let mut a = Audited::new(&app);

        // 2. Glossary.
        let metric = a
            .call(
                "defineMetric",
                "mutation($input: DefineMetricInput!) { defineMetric(input: $input) { metric { id } } }",
                json!({ "input": metric_input("revenue", "FINANCIAL", "SUM") }),
            )
            .await;
        let revenue = id(&metric["metric"]["id"]);
        a.call(
            "updateMetric",
            "mutation($input: UpdateMetricInput!) { updateMetric(input: $input) { metric { id } } }",
            json!({ "input": { "id": revenue, "name": "Booked revenue" } }),
        )
        .await;
        a.call(
            "approveMetric",
            "mutation($id: ID!) { approveMetric(input: { id: $id }) { metric { status } } }",
            json!({ "id": revenue }),
        )
        .await;
        let legacy = app
            .ok(
                "admin",
                "mutation($input: DefineMetricInput!) { defineMetric(input: $input) { metric { id } } }",
                json!({ "input": metric_input("legacy", "INTERNAL_PROCESS", "SUM") }),
            )
            .await;
        a.call(
            "retireMetric",
            "mutation($id: ID!) { retireMetric(input: { id: $id }) { metric { status } } }",
            json!({ "id": id(&legacy["defineMetric"]["metric"]["id"]) }),
        )
        .await;
        app.ok(
            "admin",
            "mutation($input: DefineMetricInput!) { defineMetric(input: $input) { metric { id } } }",
            json!({ "input": metric_input("csat", "CUSTOMER", "AVERAGE") }),
        )
        .await;

        // 3. Dimensions.
        let segment = a
            .call(
                "createSegment",
                "mutation($input: CreateSegmentInput!) { createSegment(input: $input) { segment { id } } }",
                json!({ "input": { "key": "enterprise", "name": "Enterprise" } }),
            )
            .await;
        a.call(
            "updateSegment",
            "mutation($input: UpdateSegmentInput!) { updateSegment(input: $input) { segment { name } } }",
            json!({ "input": { "id": id(&segment["segment"]["id"]), "name": "Enterprise accounts" } }),
        )
        .await;
        let stage = a
            .call(
                "createJourneyStage",
                "mutation($input: CreateJourneyStageInput!) { createJourneyStage(input: $input) { journeyStage { id } } }",
                json!({ "input": { "key": "renewal", "name": "Renewal" } }),
            )
            .await;
        a.call(
            "updateJourneyStage",
            "mutation($input: UpdateJourneyStageInput!) { updateJourneyStage(input: $input) { journeyStage { name } } }",
            json!({ "input": { "id": id(&stage["journeyStage"]["id"]), "name": "Renewals" } }),
        )
        .await;

        // 4. Observations.
        a.call(
            "recordObservations",
            "mutation($o: [ObservationInput!]!) { recordObservations(input: { observations: $o }) { created } }",
            json!({ "o": [
                { "metricKey": "revenue", "periodStart": "2026-01-01", "granularity": "QUARTER", "value": "90000" },
                { "metricKey": "csat", "periodStart": "2026-01-01", "granularity": "QUARTER", "value": "85" }
            ] }),
        )
        .await;

        // 5. People, teams, roles and role KPIs.
        a.call(
            "syncHr",
            "mutation($input: HrSyncInput!) { syncHr(input: $input) { changed } }",
            json!({ "input": {
                "teams": [{ "externalId": "T-CS", "name": "Customer success" }],
                "roles": [{ "key": "account_executive", "name": "Account Executive" }],
                "people": [{ "externalId": "E1", "name": "Ana", "subject": "ana", "teamExternalId": "T-CS",
                             "roleKeys": ["account_executive"] }]
            } }),
        )
        .await;
        a.call(
            "upsertTeam",
            "mutation($input: TeamInput!) { upsertTeam(input: $input) { team { id } } }",
            json!({ "input": { "externalId": "T-FIN", "name": "Finance" } }),
        )
        .await;
        a.call(
            "upsertPerson",
            "mutation($input: PersonInput!) { upsertPerson(input: $input) { person { id } } }",
            json!({ "input": { "externalId": "E2", "name": "Bo", "teamExternalId": "T-FIN" } }),
        )
        .await;
        a.call(
            "upsertJobRole",
            "mutation($input: JobRoleInput!) { upsertJobRole(input: $input) { jobRole { id } } }",
            json!({ "input": { "key": "csm", "name": "Customer Success Manager" } }),
        )
        .await;
        let items = json!([
            { "metricKey": "revenue", "weight": "0.5", "target": "100000", "green": "100000", "amber": "80000" },
            { "metricKey": "csat", "weight": "0.5", "target": "90", "green": "90", "amber": "80" }
        ]);
        a.call(
            "assignRoleKpis",
            "mutation($input: RoleKpiAssignmentInput!) { assignRoleKpis(input: $input) { changed } }",
            json!({ "input": { "roleKey": "csm", "items": items } }),
        )
        .await;

        // 6. Scorecards and settings.
        let card = a
            .call(
                "defineScorecard",
                "mutation($input: DefineScorecardInput!) { defineScorecard(input: $input) { scorecard { id } } }",
                json!({ "input": { "name": "Company", "ownerKind": "COMPANY", "items": items } }),
            )
            .await;
        let card = id(&card["scorecard"]["id"]);
        a.call(
            "updateScorecard",
            "mutation($input: UpdateScorecardInput!) { updateScorecard(input: $input) { scorecard { name } } }",
            json!({ "input": { "id": card, "name": "Company FY26" } }),
        )
        .await;
        a.call(
            "updateOrganizationSettings",
            "mutation { updateOrganizationSettings(input: { maxPerspectiveShare: \"0.8\" }) { settings { maxPerspectiveShare } } }",
            json!({}),
        )
        .await;

        // 7. Goals and OKRs.
        let goal_q =
            "mutation($input: CreateGoalInput!) { createGoal(input: $input) { goal { id } } }";
        let customer = a
            .call(
                "createGoal",
                goal_q,
                json!({ "input": { "title": "Retention", "perspective": "CUSTOMER",
                    "periodStart": "2026-01-01", "periodEnd": "2026-12-31" } }),
            )
            .await;
        let customer = id(&customer["goal"]["id"]);
        let financial = app
            .ok(
                "admin",
                goal_q,
                json!({ "input": { "title": "Grow revenue", "perspective": "FINANCIAL",
                    "periodStart": "2026-01-01", "periodEnd": "2026-12-31" } }),
            )
            .await;
        let financial = id(&financial["createGoal"]["goal"]["id"]);
        a.call(
            "updateGoal",
            "mutation($input: UpdateGoalInput!) { updateGoal(input: $input) { goal { title } } }",
            json!({ "input": { "id": customer, "title": "Keep customers" } }),
        )
        .await;
        a.call(
            "linkGoals",
            "mutation($a: ID!, $b: ID!) { linkGoals(input: { goalId: $a, otherGoalId: $b, rationale: \"retained customers expand\" }) { goal { id } } }",
            json!({ "a": financial, "b": customer }),
        )
        .await;
        a.call(
            "unlinkGoals",
            "mutation($a: ID!, $b: ID!) { unlinkGoals(input: { goalId: $a, otherGoalId: $b }) { goal { id } } }",
            json!({ "a": financial, "b": customer }),
        )
        .await;
        a.call(
            "setGoalStatus",
            "mutation($id: ID!) { setGoalStatus(input: { id: $id, status: ACTIVE }) { goal { status } } }",
            json!({ "id": customer }),
        )
        .await;
        let objective = a
            .call(
                "createObjective",
                "mutation($input: CreateObjectiveInput!) { createObjective(input: $input) { objective { id } } }",
                json!({ "input": { "goalId": customer, "title": "Onboard faster",
                    "periodStart": "2026-04-01", "periodEnd": "2026-06-30" } }),
            )
            .await;
        let kr = a
            .call(
                "createKeyResult",
                "mutation($input: CreateKeyResultInput!) { createKeyResult(input: $input) { keyResult { id } } }",
                json!({ "input": { "objectiveId": id(&objective["objective"]["id"]),
                    "title": "Onboarding calls", "baseline": "0", "target": "10" } }),
            )
            .await;
        let kr = id(&kr["keyResult"]["id"]);
        a.call(
            "updateKeyResult",
            "mutation($input: UpdateKeyResultInput!) { updateKeyResult(input: $input) { keyResult { id } } }",
            json!({ "input": { "id": kr, "title": "Onboarding calls held" } }),
        )
        .await;
        a.call(
            "checkIn",
            "mutation($input: CheckInInput!) { checkIn(input: $input) { checkIn { value } } }",
            json!({ "input": { "keyResultId": kr, "value": "4", "confidence": 7 } }),
        )
        .await;

        // 8. Incentives (Ana holds the account executive role, so one statement is locked).
        let plan = a
            .call(
                "defineIncentivePlan",
                "mutation($input: DefineIncentivePlanInput!) { defineIncentivePlan(input: $input) { plan { id } } }",
                json!({ "input": {
                    "name": "AE Q1", "periodStart": "2026-01-01", "granularity": "QUARTER",
                    "target": { "amount": "1000.00", "currency": "EUR" },
                    "roleKeys": ["account_executive"],
                    "components": [{ "name": "Revenue", "metricKey": "revenue", "target": "100000", "weight": "1",
                        "curve": { "points": [
                            { "attainment": "0", "payout": "0" }, { "attainment": "2", "payout": "2" }
                        ], "threshold": "0", "cap": "2" } }]
                } }),
            )
            .await;
        a.call(
            "computePayouts",
            "mutation($id: ID!) { computePayouts(input: { planId: $id }) { statements { id } } }",
            json!({ "id": id(&plan["plan"]["id"]) }),
        )
        .await;

        // 9. Governance.
        let forum = a
            .call(
                "createForum",
                "mutation($input: CreateForumInput!) { createForum(input: $input) { forum { id } } }",
                json!({ "input": { "name": "Monthly business review", "cadence": "MONTHLY",
                    "memberExternalIds": ["E1", "E2"] } }),
            )
            .await;
        let session = a
            .call(
                "recordReviewSession",
                "mutation($input: RecordReviewSessionInput!) { recordReviewSession(input: $input) { session { id } } }",
                json!({ "input": { "forumId": id(&forum["forum"]["id"]), "heldOn": "2026-02-01",
                    "attendeeExternalIds": ["E1"], "goalIds": [customer], "scorecardIds": [card],
                    "dashboardsUsed": ["Revenue x retention"], "notes": "Q1 kick-off" } }),
            )
            .await;
        let rule = a
            .call(
                "defineTradeOffRule",
                "mutation($input: DefineTradeOffRuleInput!) { defineTradeOffRule(input: $input) { rule { id } } }",
                json!({ "input": { "kind": "UNACCEPTABLE", "statement": "No revenue push that drops CSAT below 80",
                    "ownerExternalId": "E1",
                    "guard": { "metricKey": "csat", "comparator": "AT_LEAST", "threshold": "80", "goalId": customer } } }),
            )
            .await;
        a.call(
            "updateTradeOffRule",
            "mutation($input: UpdateTradeOffRuleInput!) { updateTradeOffRule(input: $input) { rule { id } } }",
            json!({ "input": { "id": id(&rule["rule"]["id"]), "statement": "No revenue push that drops CSAT below 82" } }),
        )
        .await;
        let decision = a
            .call(
                "logDecision",
                "mutation($input: LogDecisionInput!) { logDecision(input: $input) { decision { id } } }",
                json!({ "input": { "title": "Discount", "context": "Renewal at risk", "options": ["5%", "10%"],
                    "outcome": "5%", "ruleIds": [id(&rule["rule"]["id"])], "escalated": true, "resolvedByRule": true,
                    "sessionId": id(&session["session"]["id"]), "decidedOn": "2026-02-01" } }),
            )
            .await;
        a.call(
            "updateDecision",
            "mutation($input: UpdateDecisionInput!) { updateDecision(input: $input) { decision { id } } }",
            json!({ "input": { "id": id(&decision["decision"]["id"]), "outcome": "7%" } }),
        )
        .await;
        a.call(
            "assessCapability",
            "mutation { assessCapability(input: { capability: GOVERNANCE_CADENCE, level: 2, ownerExternalId: \"E1\", evidence: \"monthly reviews\" }) { level } }",
            json!({}),
        )
        .await;

        // 10. Revenue, the metric tree and dashboards.
        a.call(
            "upsertAccounts",
            "mutation($a: [AccountInput!]!) { upsertAccounts(input: { accounts: $a }) { created } }",
            json!({ "a": [{ "externalId": "ACME-1", "name": "Acme Corp", "segmentKey": "enterprise",
                "renewsOn": "2026-12-31", "arr": "120000", "healthScore": "40", "risk": "RED" }] }),
        )
        .await;
        a.call(
            "recordRevenueMovements",
            "mutation($m: [RevenueMovementInput!]!) { recordRevenueMovements(input: { movements: $m }) { created } }",
            json!({ "m": [{ "externalId": "EV-1", "accountExternalId": "ACME-1", "effectiveOn": "2026-01-01",
                "kind": "NEW", "amount": "10000" }] }),
        )
        .await;
        let link = json!({ "input": { "inputMetricKey": "csat", "outputMetricKey": "revenue" } });
        a.call(
            "linkMetrics",
            "mutation($input: LinkMetricsInput!) { linkMetrics(input: $input) { edge { rationale } } }",
            json!({ "input": { "inputMetricKey": "csat", "outputMetricKey": "revenue",
                "rationale": "happy customers renew" } }),
        )
        .await;
        a.call(
            "unlinkMetrics",
            "mutation($input: UnlinkMetricsInput!) { unlinkMetrics(input: $input) { removed } }",
            link,
        )
        .await;
        let dashboard = a
            .call(
                "saveDashboard",
                "mutation($input: SaveDashboardInput!) { saveDashboard(input: $input) { dashboard { id } } }",
                json!({ "input": { "name": "Revenue x CSAT", "visibility": "ORGANIZATION", "panels": [
                    { "title": "Revenue", "metricKey": "revenue", "lastPeriods": 4, "granularity": "QUARTER" },
                    { "title": "Revenue per CSAT point", "formula": "revenue / csat",
                      "from": "2026-01-01", "to": "2026-12-31", "granularity": "QUARTER" }
                ] } }),
            )
            .await;
        a.call(
            "deleteDashboard",
            "mutation($id: ID!) { deleteDashboard(input: { id: $id }) { deletedId } }",
            json!({ "id": id(&dashboard["dashboard"]["id"]) }),
        )
        .await;

        // 11. Every listed mutation was really called, and each left its own event.
        let called: Vec<&str> = a.called.iter().map(String::as_str).collect();
        assert_eq!(called, COVERED, "COVERED and the calls made differ");
        assert!(
            a.silent.is_empty(),
            "mutations whose valid call wrote no audit event under their own name (by {ADMIN}):\n{}",
            a.silent.join("\n")
        );
    }
);

/// A dry run: it must succeed, report a diff, and leave no audit event.
async fn dry_run(app: &TestApp, what: &str, query: &str, variables: Value) -> Value {
    let before = audit_count(app).await;
    let data = app.ok("admin", query, variables).await;
    assert_eq!(
        audit_count(app).await,
        before,
        "{what}: a dry run wrote audit events"
    );
    data
}

/// A call that must fail with `code` (at `field`, when given) and leave no audit event.
async fn refused(
    app: &TestApp,
    what: &str,
    query: &str,
    variables: Value,
    code: &str,
    field: Option<&str>,
) {
    let before = audit_count(app).await;
    let body = app.gql("admin", query, variables).await;
    assert_eq!(error_code(&body).as_deref(), Some(code), "{what}: {body:#}");
    if let Some(field) = field {
        assert_eq!(
            error_field(&body).as_deref(),
            Some(field),
            "{what}: {body:#}"
        );
    }
    assert_eq!(
        audit_count(app).await,
        before,
        "{what}: a failed call wrote audit events"
    );
}

on_both_backends!(
    failed_calls_write_no_audit_event,
    |app: TestApp| async move {
        app.ok(
        "admin",
        "mutation($input: DefineMetricInput!) { defineMetric(input: $input) { metric { id } } }",
        json!({ "input": metric_input("csat", "CUSTOMER", "AVERAGE") }),
    )
    .await;
        let fin = app
        .ok(
            "admin",
            "mutation { createGoal(input: { title: \"Grow\", perspective: FINANCIAL, periodStart: \"2026-01-01\", periodEnd: \"2026-12-31\" }) { goal { id } } }",
            json!({}),
        )
        .await;
        let fin = id(&fin["createGoal"]["goal"]["id"]);

        // Dry runs report what would change and write nothing, audit events included.
        let dry = dry_run(
        &app,
        "recordObservations dry run",
        "mutation($o: [ObservationInput!]!) { recordObservations(input: { observations: $o, dryRun: true }) { created dryRun } }",
        json!({ "o": [{ "metricKey": "csat", "periodStart": "2026-01-01", "granularity": "MONTH", "value": "80" }] }),
    )
    .await;
        assert_eq!(dry["recordObservations"]["created"], 1);
        let dry = dry_run(
        &app,
        "syncHr dry run",
        "mutation($input: HrSyncInput!) { syncHr(input: $input) { changed dryRun } }",
        json!({ "input": { "dryRun": true, "people": [{ "externalId": "E1", "name": "Ana" }] } }),
    )
    .await;
        assert_eq!(dry["syncHr"]["changed"], true);

        refused(
        &app,
        "defineMetric with a bad key",
        "mutation($input: DefineMetricInput!) { defineMetric(input: $input) { metric { id } } }",
        json!({ "input": metric_input("Not A Key", "CUSTOMER", "SUM") }),
        "BAD_USER_INPUT",
        Some("input.key"),
    )
    .await;
        refused(
        &app,
        "recordObservations with one good row and one unknown metric",
        "mutation($o: [ObservationInput!]!) { recordObservations(input: { observations: $o }) { created } }",
        json!({ "o": [
            { "metricKey": "csat", "periodStart": "2026-01-01", "granularity": "MONTH", "value": "80" },
            { "metricKey": "nope", "periodStart": "2026-01-01", "granularity": "MONTH", "value": "1" }
        ] }),
        "BAD_USER_INPUT",
        None,
    )
    .await;
        refused(
        &app,
        "syncHr with an unknown manager",
        "mutation($input: HrSyncInput!) { syncHr(input: $input) { changed } }",
        json!({ "input": { "people": [{ "externalId": "E1", "name": "Ana", "managerExternalId": "GHOST" }] } }),
        "BAD_USER_INPUT",
        None,
    )
    .await;
        refused(
        &app,
        "createGoal with an inverted period",
        "mutation { createGoal(input: { title: \"x\", perspective: CUSTOMER, periodStart: \"2026-12-31\", periodEnd: \"2026-01-01\" }) { goal { id } } }",
        json!({}),
        "BAD_USER_INPUT",
        Some("input.periodEnd"),
    )
    .await;
        refused(
        &app,
        "setGoalStatus ACTIVE on a financial goal without a customer link",
        "mutation($id: ID!) { setGoalStatus(input: { id: $id, status: ACTIVE }) { goal { status } } }",
        json!({ "id": fin }),
        "CONFLICT",
        None,
    )
    .await;
        refused(
        &app,
        "createForum with an unknown member",
        "mutation { createForum(input: { name: \"QBR\", cadence: QUARTERLY, memberExternalIds: [\"GHOST\"] }) { forum { id } } }",
        json!({}),
        "BAD_USER_INPUT",
        Some("input.memberExternalIds[0]"),
    )
    .await;
        refused(
        &app,
        "defineTradeOffRule with an unknown guard metric",
        "mutation($g: ID!) { defineTradeOffRule(input: { kind: ACCEPTABLE, statement: \"x\", guard: { metricKey: \"nope\", comparator: AT_MOST, threshold: \"1\", goalId: $g } }) { rule { id } } }",
        json!({ "g": fin }),
        "BAD_USER_INPUT",
        Some("input.guard.metricKey"),
    )
    .await;
        refused(
        &app,
        "logDecision resolved by rule without rules",
        "mutation { logDecision(input: { title: \"t\", context: \"c\", outcome: \"o\", resolvedByRule: true }) { decision { id } } }",
        json!({}),
        "BAD_USER_INPUT",
        Some("input.ruleIds"),
    )
    .await;
        let dry = dry_run(
            &app,
            "upsertAccounts dry run",
            "mutation($a: [AccountInput!]!) { upsertAccounts(input: { accounts: $a, dryRun: true }) { created dryRun } }",
            json!({ "a": [{ "externalId": "A-1", "name": "Acme", "arr": "1", "risk": "GREEN" }] }),
        )
        .await;
        assert_eq!(dry["upsertAccounts"]["created"], 1);
        refused(
            &app,
            "upsertAccounts with a negative ARR",
            "mutation($a: [AccountInput!]!) { upsertAccounts(input: { accounts: $a }) { created } }",
            json!({ "a": [{ "externalId": "A-1", "name": "Acme", "arr": "-1", "risk": "GREEN" }] }),
            "BAD_USER_INPUT",
            Some("input.accounts[0].arr"),
        )
        .await;
        refused(
            &app,
            "recordRevenueMovements for an unknown account",
            "mutation($m: [RevenueMovementInput!]!) { recordRevenueMovements(input: { movements: $m }) { created } }",
            json!({ "m": [{ "externalId": "EV-1", "accountExternalId": "GHOST", "effectiveOn": "2026-01-01",
                "kind": "NEW", "amount": "1" }] }),
            "BAD_USER_INPUT",
            Some("input.movements[0].accountExternalId"),
        )
        .await;
        refused(
            &app,
            "linkMetrics of a metric into itself",
            "mutation { linkMetrics(input: { inputMetricKey: \"csat\", outputMetricKey: \"csat\" }) { edge { rationale } } }",
            json!({}),
            "CONFLICT",
            None,
        )
        .await;
        refused(
            &app,
            "saveDashboard with a broken formula",
            "mutation { saveDashboard(input: { name: \"x\", panels: [{ title: \"t\", formula: \"csat +\", lastPeriods: 1, granularity: MONTH }] }) { dashboard { id } } }",
            json!({}),
            "BAD_USER_INPUT",
            Some("input.panels.0.formula"),
        )
        .await;
        refused(
        &app,
        "assessCapability at level 0",
        "mutation { assessCapability(input: { capability: CULTURE_BEHAVIOURS, level: 0 }) { level } }",
        json!({}),
        "BAD_USER_INPUT",
        Some("input.level"),
    )
    .await;
    }
);
