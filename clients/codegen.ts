// Generates TypeScript from ../schema.graphql and the operations in operations/.
// `generated/` is not committed: `bash check.sh` (or `npm run codegen`) writes it.
//
// operations/<area>/<Name>.graphql holds exactly one operation, named like its file;
// operations/fragments/<Name>.graphql holds one shared fragment. An operation uses a fragment
// by spreading it (`...GoalSummary`): codegen finds it among the documents and puts it into
// the operation's document, so no import line is needed.
//
// - generated/graphql.ts (graphql-codegen's client preset): for each operation a typed
//   document node (`GoalTreeDocument`) that graphql-request, urql or Apollo accept as is,
//   with its result and variables types (`GoalTreeQuery`, `GoalTreeQueryVariables`), and every
//   schema type, enum and input; `request(GoalTreeDocument, vars)` is typed end to end.
// - generated/gql.ts: the `graphql()` function of the preset, for documents written inline.
//
// An operation that does not match the schema fails generation.
import type { CodegenConfig } from "@graphql-codegen/cli";

// Decimals, dates and timestamps travel as strings: money is never parsed into a float.
const scalars = {
  Decimal: "string",
  Date: "string",
  DateTime: "string",
  JSON: "unknown",
};

const config: CodegenConfig = {
  schema: "../schema.graphql",
  documents: ["operations/**/*.graphql"],
  generates: {
    "generated/": {
      preset: "client",
      // Fragments are plain types, read where they are spread (no `useFragment` unmasking).
      presetConfig: { fragmentMasking: false },
      config: {
        scalars,
        strictScalars: true,
        enumsAsTypes: true,
        useTypeImports: true,
        // A nullable field in a result is `T | null`, never left out.
        avoidOptionals: { field: true },
      },
    },
  },
};

export default config;
