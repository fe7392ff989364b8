// The generated typed documents with graphql-request: the document fixes both the variables
// the call accepts and the type of what it returns, with no hand-written types. Each
// document holds one operation and the fragments it spreads, so graphql-request needs no
// operation name. `tsc --noEmit` (clients/check.sh) checks this file.
import { ClientError, GraphQLClient } from "graphql-request";
import {
  CheckInDocument,
  GoalTreeDocument,
  type GoalTreeQuery,
  OrgScorecardsDocument,
} from "../generated/graphql";

/** A client for one organization's API, for example at `http://127.0.0.1:8080/graphql`. */
export function tandemClient(endpoint: string, token: string): GraphQLClient {
  return new GraphQLClient(endpoint, { headers: { authorization: `Bearer ${token}` } });
}

/** A goal with its sub-goals, or null when the id names no goal the caller may read. */
export async function goalTree(
  client: GraphQLClient,
  id: string,
): Promise<Extract<GoalTreeQuery["node"], { __typename: "Goal" }> | null> {
  const data = await client.request(GoalTreeDocument, { id, first: 50 });
  return data.node?.__typename === "Goal" ? data.node : null;
}

/** The titles of a goal's sub-goals, indented by depth. */
export async function goalOutline(client: GraphQLClient, id: string): Promise<string[]> {
  const goal = await goalTree(client, id);
  if (goal === null) {
    return [];
  }
  return goal.descendants.nodes.map((d) => `${"  ".repeat(d.depth)}${d.goal.title}`);
}

/** Posts a check-in; returns the key result's progress, or the error codes the API sent. */
export async function postCheckIn(
  client: GraphQLClient,
  keyResultId: string,
  value: string,
  confidence: number,
): Promise<{ progress: string | null } | { codes: string[] }> {
  try {
    const data = await client.request(CheckInDocument, {
      input: { keyResultId, value, confidence, note: null },
    });
    return { progress: data.checkIn.keyResult.progress };
  } catch (error) {
    if (error instanceof ClientError) {
      // Tandem answers errors with HTTP 200 and `extensions.code`; graphql-request throws.
      const codes = (error.response.errors ?? []).map((e) =>
        String(e.extensions?.["code"] ?? "UNKNOWN"),
      );
      return { codes };
    }
    throw error;
  }
}

/** The company scorecards' RAG status for a month, by scorecard name. */
export async function companyStatus(
  client: GraphQLClient,
  periodStart: string,
): Promise<Map<string, string>> {
  const data = await client.request(OrgScorecardsDocument, {
    ownerKind: "COMPANY",
    periodStart,
    granularity: "MONTH",
  });
  return new Map(
    data.scorecards.nodes.map((card) => [card.name, card.evaluation.status ?? "NO_DATA"]),
  );
}
