// Emit facts as YAML. Every string is a JSON-encoded, ASCII-only double-quoted
// scalar, so no payload can break out of its value and inject YAML.
import type { Fact } from "./fact.js";

/** A YAML double-quoted scalar that parses back to exactly `s`. */
export function yamlString(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function scalar(v: string | number): string {
  return typeof v === "number" ? String(v) : yamlString(v);
}

/** One list item of the `artifacts:` sequence, ending in a newline. */
export function factToYaml(f: Fact): string {
  const lines = [
    `  - id: ${yamlString(f.id)}`,
    `    type: ${yamlString(f.type)}`,
    `    title: ${yamlString(f.title)}`,
    `    status: ${yamlString(f.status)}`,
    `    tags: [${f.tags.map(yamlString).join(", ")}]`,
  ];
  if (f.links && f.links.length > 0) {
    lines.push("    links:");
    for (const l of f.links) lines.push(`      - { type: ${yamlString(l.type)}, target: ${yamlString(l.target)} }`);
  }
  lines.push("    fields:");
  for (const [k, v] of Object.entries(f.fields)) lines.push(`      ${k}: ${scalar(v)}`);
  lines.push(
    `    provenance: { created-by: ${yamlString(f.provenance["created-by"])}, timestamp: ${yamlString(f.provenance.timestamp)} }`,
  );
  return `${lines.join("\n")}\n`;
}

export const FILE_HEADER =
  "# agora facts — rivet artifacts, hash-chained (fields.prev) and recorder-signed (fields.rsig)\nartifacts:\n";
