// agora facts verify: check a facts directory end to end.
import { verifyFacts } from "../facts/verify.js";
import { usageError, type Command } from "./command.js";

export const factsVerify: Command = {
  name: "facts verify",
  usage: "facts verify <dir> [--keys FILE] [--json]",
  summary:
    "Verify a facts directory: YAML, rivet artifact format against facts/schemas/agora.yaml, hash chain, recorder signatures, sender and host signatures.",
  help: `Exits 0 when everything verifies, 1 otherwise, listing each problem with its
AGORA_ERR_ code and the fact it concerns.

options:
      --keys FILE     trusted public keys (YAML \`keys: {name: key}\`); default: <dir>/keys.yaml
      --json          print the report as JSON`,
  options: { keys: { type: "string" }, json: { type: "boolean" } },
  async run({ values, positionals }) {
    if (positionals.length !== 1) throw usageError(factsVerify, "facts verify needs exactly one <dir>");
    const report = verifyFacts(positionals[0]!, { keys: values.keys as string | undefined });
    if (values.json) {
      console.log(JSON.stringify(report, null, 2));
      return report.ok ? 0 : 1;
    }
    const range = report.firstSeq === undefined ? "" : ` (seq ${report.firstSeq}–${report.lastSeq})`;
    console.log(
      `${report.dir}: ${report.facts} facts in ${report.files} file(s)${range}; keys from ${report.keySource}`,
    );
    for (const [a, b] of report.missing) console.log(`  missing: seq ${a === b ? a : `${a}–${b}`}`);
    for (const p of report.problems) console.log(`  ${p.code}  ${p.file}${p.fact ? ` ${p.fact}` : ""}: ${p.message}`);
    if (report.selfKeyed) {
      console.log(
        "  note: keys came from the facts directory itself; this proves the log is consistent and untampered",
      );
      console.log("        only if keys.yaml is; pass --keys with a key set you trust to verify against it");
    }
    console.log(report.ok ? "OK: facts verify" : `FAILED: ${report.problems.length} problem(s)`);
    return report.ok ? 0 : 1;
  },
};
