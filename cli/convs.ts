// agora convs: where each conversation stands, from the facts.
import { loadConfig } from "../config/config.js";
import { conversationFacts, type ConvActFact } from "../facts/conversations.js";
import { assertId } from "../protocol/names.js";
import { AgoraError } from "../protocol/errors.js";
import { CONFIG_HELP, CONFIG_OPTION, usageError, type Command } from "./command.js";

export const convs: Command = {
  name: "convs",
  usage: "convs [<conv-id>] [--config FILE] [--all] [--limit N] [--json]",
  summary:
    "Conversations and where each stands (requested, agreed, refused, cfp, proposals, awarded, done, failed, cancelled), from the facts; with an id, its acts as a tree of answers.",
  help: `Reads the facts directory (data/facts). A conversation is every act carrying the
same conv (the id of the message that opened it) and that opening. Lone messages
nothing answered are left out unless --all. Acts after a cancel are counted as
dropped: every reader dropped them.

options:
${CONFIG_HELP}
      --all           include conversations of a single act
      --limit N       the N most recently active (default 50)
      --json          print JSON`,
  options: { ...CONFIG_OPTION, json: { type: "boolean" }, all: { type: "boolean" }, limit: { type: "string" } },
  async run({ values, positionals }) {
    if (positionals.length > 1) throw usageError(convs, "convs takes at most one <conv-id>");
    const conv = positionals[0];
    if (conv !== undefined) assertId(conv, "conversation id");
    const limit = values.limit === undefined ? 50 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1) throw usageError(convs, "--limit must be a whole number ≥ 1");
    const config = loadConfig(values.config as string | undefined);
    const list = conversationFacts(config.factsDir, { conv, all: values.all === true, limit });
    if (conv !== undefined && list.length === 0)
      throw new AgoraError("AGORA_ERR_USAGE", `no act of conversation ${conv} in ${config.factsDir}`);
    if (values.json) {
      console.log(JSON.stringify(conv === undefined ? list : list[0], null, 2));
      return 0;
    }
    if (list.length === 0) {
      console.log(`no conversations in ${config.factsDir}${values.all ? "" : " (--all shows lone messages too)"}`);
      return 0;
    }
    if (conv === undefined) {
      const w = Math.max(4, ...list.map((c) => c.conv.length));
      console.log(`${"conv".padEnd(w)}  ${"state".padEnd(9)}  acts  initiator → participants`);
      for (const c of list) {
        const dropped = c.dropped > 0 ? ` (+${c.dropped} dropped)` : "";
        const others = c.participants.filter((p) => p !== c.initiator).join(", ");
        console.log(
          `${c.conv.padEnd(w)}  ${c.state.padEnd(9)}  ${String(c.acts).padStart(4)}  ${c.initiator}${others ? ` → ${others}` : ""}  on ${c.channels.join(", ")}  last ${c.last}${dropped}`,
        );
      }
      return 0;
    }
    const c = list[0]!;
    console.log(
      `${c.conv}: ${c.state}; opened by ${c.initiator} at ${c.opened}, last act ${c.last}; ${c.acts} act(s)${c.dropped ? `, ${c.dropped} dropped after the cancel` : ""}`,
    );
    for (const line of tree(c.actList ?? [])) console.log(line);
    return 0;
  },
};

/** The acts as a tree of answers (`re`), in stream order under each parent. */
function tree(acts: readonly ConvActFact[]): string[] {
  const ids = new Set(acts.map((a) => a.id));
  const children = new Map<string | undefined, ConvActFact[]>();
  for (const a of acts) {
    const parent = a.re !== undefined && ids.has(a.re) ? a.re : undefined;
    children.set(parent, [...(children.get(parent) ?? []), a]);
  }
  const out: string[] = [];
  const walk = (parent: string | undefined, depth: number) => {
    for (const a of children.get(parent) ?? []) {
      const status = a.status === "accepted" ? "" : `  [${a.status}]`;
      out.push(
        `${"  ".repeat(depth + 1)}${a.fact}  ${a.sender} → ${a.channel}: ${a.act} ${a.body.slice(0, 80)}  (hop ${a.hop}, ${a.id})${status}`,
      );
      walk(a.id, depth + 1);
    }
  };
  walk(undefined, 0);
  return out;
}
