// Generates TypeScript types from ../schema.graphql and every operation in operations/.
// `generated/` is not committed: `bash check.sh` (or `npm run codegen`) writes it.
//
// - generated/schema.ts: every schema type, enum, input and scalar (the `typescript` plugin);
// - generated/graphql.ts: the result and variables type of each named operation, standalone
//   (the `typescript-operations` plugin).
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
    "generated/schema.ts": {
      plugins: ["typescript"],
      config: { scalars, strictScalars: true, enumsAsTypes: true },
    },
    "generated/graphql.ts": {
      plugins: ["typescript-operations"],
      config: { scalars, strictScalars: true },
    },
  },
};

export default config;
