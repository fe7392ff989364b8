// A typed client for the Tandem GraphQL API over plain `fetch`, built on the typed document
// nodes generated from schema.graphql and the operations in ../operations (one operation per
// file). `tsc --noEmit` checks that every field read below exists with the type the server
// sends, so a schema change that breaks a screen breaks this build first. The same documents
// work with graphql-request as is: see ../examples/graphql-request.ts.
import { type DocumentNode, Kind, print } from "graphql";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import {
  CheckInDocument,
  DecisionsDocument,
  GlossaryDocument,
  GoalsDocument,
  GoalTreeDocument,
  MeDocument,
  MetricSeriesDocument,
  OrgScorecardsDocument,
  PayoutPreviewDocument,
  PeopleDirectoryDocument,
  type GoalFilterInput,
  type GoalStatus,
  type Perspective,
  type RagStatus,
  type Scalars,
} from "../generated/graphql";

/** An exact decimal as the API sends it: a string, never a float. */
export type Decimal = Scalars["Decimal"]["output"];

/** The name of a document's operation: Tandem's error messages and logs name it. */
function operationName(document: DocumentNode): string {
  for (const definition of document.definitions) {
    if (definition.kind === Kind.OPERATION_DEFINITION && definition.name !== undefined) {
      return definition.name.value;
    }
  }
  return "(anonymous)";
}

/** One GraphQL error as Tandem sends it; `extensions.code` says what went wrong. */
export interface TandemError {
  message: string;
  path?: ReadonlyArray<string | number>;
  extensions?: {
    code?:
      | "UNAUTHENTICATED"
      | "FORBIDDEN"
      | "BAD_USER_INPUT"
      | "NOT_FOUND"
      | "CONFLICT"
      | "INTERNAL";
    field?: string;
    problems?: ReadonlyArray<{ field: string; message: string }>;
  };
}

/** Raised when the response carries errors (Tandem answers them with HTTP 200). */
export class TandemRequestError extends Error {
  constructor(
    readonly operation: string,
    readonly errors: ReadonlyArray<TandemError>,
  ) {
    super(`${operation}: ${errors.map((e) => e.message).join("; ")}`);
  }
}

export interface ClientOptions {
  /** For example `https://tandem.example.com/graphql`. */
  endpoint: string;
  /** A bearer token signed for the caller's organization. */
  token: string;
}

/**
 * Sends one operation with variables of its exact type and returns its typed data. The
 * document carries the fragments it spreads, so it is sent as one self-contained request.
 */
export async function request<TData, TVariables>(
  options: ClientOptions,
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
): Promise<TData> {
  const name = operationName(document);
  const response = await fetch(options.endpoint, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Authorization: `Bearer ${options.token}`,
    },
    body: JSON.stringify({
      query: print(document),
      operationName: name,
      variables,
    }),
  });
  const body = (await response.json()) as {
    data?: TData | null;
    errors?: TandemError[];
  };
  // Errors travel with HTTP 200: look at the body, not only the status.
  if (body.errors !== undefined && body.errors.length > 0) {
    throw new TandemRequestError(name, body.errors);
  }
  if (body.data === undefined || body.data === null) {
    throw new TandemRequestError(name, [
      { message: `HTTP ${response.status} with no data` },
    ]);
  }
  return body.data;
}

/** One row of a scorecard screen. */
export interface ScorecardRow {
  metric: string;
  perspective: string;
  actual: string;
  target: string;
  status: RagStatus | "NO_DATA";
}

/** The company scorecard for a month, flattened for a table; decimals stay strings. */
export async function companyScorecard(
  options: ClientOptions,
  periodStart: string,
): Promise<{ name: string; score: string | null; balanced: boolean; rows: ScorecardRow[] }[]> {
  const data = await request(options, OrgScorecardsDocument, {
    ownerKind: "COMPANY",
    periodStart,
    granularity: "MONTH",
  });
  return data.scorecards.nodes.map((card) => ({
    name: card.name,
    score: card.evaluation.score,
    balanced: card.balance.balanced,
    rows: card.evaluation.items.map((row) => ({
      metric: row.item.metric.name,
      perspective: row.item.metric.perspective,
      actual: row.actual ?? "",
      target: row.item.target,
      status: row.status ?? "NO_DATA",
    })),
  }));
}

/** The filter a goal list screen builds from its perspective and status pickers. */
export function goalFilter(
  year: number,
  perspective: Perspective | null,
  status: GoalStatus | null,
): GoalFilterInput {
  return {
    from: `${year}-01-01`,
    to: `${year}-12-31`,
    perspective,
    status,
    topLevelOnly: true,
  };
}

/** The year's top-level goals of one perspective that still lack a customer link. */
export async function goalsWithoutCustomerLink(
  options: ClientOptions,
  year: number,
  perspective: Perspective,
): Promise<string[]> {
  const data = await request(options, GoalsDocument, {
    filter: goalFilter(year, perspective, "ACTIVE"),
    first: 100,
  });
  return data.goals.nodes.filter((g) => !g.hasCustomerLink).map((g) => g.id);
}

/** A goal's tree as indented lines, with the customer goals it is linked to. */
export async function goalTreeOutline(options: ClientOptions, goalId: string): Promise<string[]> {
  const data = await request(options, GoalTreeDocument, { id: goalId, first: 100 });
  const goal = data.node;
  if (goal === null || goal.__typename !== "Goal") {
    return [];
  }
  const lines = [`${goal.title} [${goal.status}]`];
  for (const node of goal.descendants.nodes) {
    lines.push(`${"  ".repeat(node.depth)}${node.goal.title} [${node.goal.status}]`);
  }
  for (const link of goal.links) {
    lines.push(`linked: ${link.goal.title} (${link.goal.perspective}): ${link.rationale}`);
  }
  return lines;
}

/** Posts a check-in and returns the key result's new progress (0..1 as a decimal string). */
export async function checkIn(
  options: ClientOptions,
  keyResultId: string,
  value: Decimal,
  confidence: number,
  note?: string,
): Promise<Decimal | null> {
  const data = await request(options, CheckInDocument, {
    input: { keyResultId, value, confidence, note: note ?? null },
  });
  return data.checkIn.keyResult.progress;
}

/** A metric's monthly series by segment, as chart points. */
export async function seriesBySegment(
  options: ClientOptions,
  metricKey: string,
  from: string,
  to: string,
): Promise<{ x: string; series: string; y: string }[]> {
  const data = await request(options, MetricSeriesDocument, {
    input: { metricKey, from, to, granularity: "MONTH", bySegment: true },
  });
  return data.metricSeries.points.map((p) => ({
    x: p.periodStart,
    series: p.segment?.name ?? "All segments",
    y: p.value,
  }));
}

/** Everyone's previewed payout for a plan, as "name: amount currency". */
export async function payoutPreviewLines(options: ClientOptions, planId: string): Promise<string[]> {
  const data = await request(options, PayoutPreviewDocument, { planId });
  return data.payoutPreview.map(
    (s) => `${s.person?.name ?? "(unknown)"}: ${s.total.amount} ${s.total.currency}`,
  );
}

/** Who am I, and who is in my team. */
export async function myTeam(options: ClientOptions): Promise<string[]> {
  const me = await request(options, MeDocument, {});
  const team = me.me?.team?.externalId;
  if (team === undefined) {
    return [];
  }
  const people = await request(options, PeopleDirectoryDocument, {
    filter: { teamExternalId: team, active: true },
    first: 100,
  });
  return people.people.nodes.map((p) => `${p.name}${p.email === null ? "" : ` <${p.email}>`}`);
}

/** Approved financial metrics, by key. */
export async function financialGlossary(options: ClientOptions): Promise<string[]> {
  const data = await request(options, GlossaryDocument, {
    filter: { status: "APPROVED", perspective: "FINANCIAL" },
    first: 100,
  });
  return data.metrics.nodes.map((m) => `${m.key}: ${m.name} (${m.unit})`);
}

/** Escalated decisions and whether an agreed rule settled them. */
export async function escalations(options: ClientOptions): Promise<string[]> {
  const data = await request(options, DecisionsDocument, { escalated: true, first: 50 });
  return data.decisions.nodes.map(
    (d) => `${d.decidedOn} ${d.title}: ${d.outcome}${d.resolvedByRule ? " (by rule)" : ""}`,
  );
}
