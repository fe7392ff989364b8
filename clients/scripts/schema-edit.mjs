// Writes an edited copy of a GraphQL schema, for the compatibility check's proof cases.
//
//   node scripts/schema-edit.mjs <in.graphql> <out.graphql> <action> <Type.member>
//
// Actions: remove-field, deprecate-field (object, interface or input fields),
// remove-enum-value, deprecate-enum-value. Fails when the member does not exist, so a proof
// case can never pass by editing nothing.
import { readFileSync, writeFileSync } from "node:fs";
import { Kind, parse, print, visit } from "graphql";

const [input, output, action, target] = process.argv.slice(2);
if (!input || !output || !action || !target || !target.includes(".")) {
  console.error("usage: schema-edit.mjs <in> <out> <action> <Type.member>");
  process.exit(2);
}
const [typeName, memberName] = target.split(".");

const deprecated = {
  kind: Kind.DIRECTIVE,
  name: { kind: Kind.NAME, value: "deprecated" },
  arguments: [
    {
      kind: Kind.ARGUMENT,
      name: { kind: Kind.NAME, value: "reason" },
      value: { kind: Kind.STRING, value: "Scheduled for removal." },
    },
  ],
};

let touched = 0;
// The member after the edit: itself when it is not the target, null when removed.
const edit = (node) => {
  if (node.name.value !== memberName) return node;
  touched += 1;
  if (action.startsWith("remove-")) return null;
  return { ...node, directives: [...(node.directives ?? []), deprecated] };
};
const members = action.endsWith("-field") ? "fields" : "values";
const memberKinds = action.endsWith("-field")
  ? [Kind.FIELD_DEFINITION, Kind.INPUT_VALUE_DEFINITION]
  : [Kind.ENUM_VALUE_DEFINITION];
if (!["remove-field", "deprecate-field", "remove-enum-value", "deprecate-enum-value"].includes(action)) {
  console.error(`unknown action ${action}`);
  process.exit(2);
}

const onType = (node) => {
  if (node.name.value !== typeName || !node[members]) return undefined;
  const list = node[members]
    .filter((m) => memberKinds.includes(m.kind))
    .map(edit)
    .filter((m) => m !== null);
  return { ...node, [members]: list };
};

const edited = visit(parse(readFileSync(input, "utf8")), {
  ObjectTypeDefinition: onType,
  InterfaceTypeDefinition: onType,
  InputObjectTypeDefinition: onType,
  EnumTypeDefinition: onType,
});
if (touched !== 1) {
  console.error(`${target}: expected one member to ${action}, found ${touched}`);
  process.exit(1);
}
writeFileSync(output, print(edited) + "\n");
