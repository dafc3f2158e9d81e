// voter: answers `propose` with `agree` or `refuse` by a rule kept in its state.
// The rule is `{ "maxCost": n }` (default 100); an `inform` whose body has
// `{ "voterRule": { "maxCost": n } }` replaces it. The rule survives restarts.
import { open } from "agora:agent/channels";
import { get, set } from "agora:agent/state";
import type { Envelope } from "agora:agent/types";

interface Rule {
  maxCost: number;
}

const DEFAULT_RULE: Rule = { maxCost: 100 };

function rule(): Rule {
  const saved = get("rule");
  return saved === null ? DEFAULT_RULE : (JSON.parse(saved) as Rule);
}

export function handle(msg: Envelope): void {
  const body = JSON.parse(msg.body) as Record<string, unknown> | null;
  if (msg.act === "inform" && body && typeof body === "object" && body.voterRule) {
    const next = body.voterRule as Partial<Rule>;
    if (typeof next.maxCost !== "number") throw "AGORA_ERR_BAD_BODY: voterRule.maxCost must be a number";
    set("rule", JSON.stringify({ maxCost: next.maxCost }));
    return;
  }
  if (msg.act !== "propose") return;
  const cost = body && typeof body === "object" && typeof body.cost === "number" ? body.cost : Number.NaN;
  const r = rule();
  const votes = Number(get("votes") ?? "0") + 1;
  set("votes", String(votes));
  const channel = open(msg.channel);
  if (cost <= r.maxCost) channel.send("agree", JSON.stringify({ cost, maxCost: r.maxCost }), msg.id);
  else channel.send("refuse", JSON.stringify({ cost, maxCost: r.maxCost, reason: "cost above maxCost" }), msg.id);
}
