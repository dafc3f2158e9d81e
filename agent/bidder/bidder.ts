// bidder: a contract-net participant. It answers `cfp {task}` with `propose
// {cost}` — its cost, kept in its state and set with its name by `inform
// {bidderCost: n, bidder: name}` (default 100; a component does not know its
// own name) — and an `accept-proposal` naming it (`bidder`, the winner's
// verified sender) with `inform {done: task}`. Everyone on the channel sees
// every accept: one for another bidder, and a `reject-proposal`, need no answer.
import { open } from "agora:agent/channels";
import { get, set } from "agora:agent/state";
import type { Envelope } from "agora:agent/types";

export function handle(msg: Envelope): void {
  const body = JSON.parse(msg.body) as Record<string, unknown> | null;
  if (!body || typeof body !== "object") return;
  if (msg.act === "inform" && typeof body.bidderCost === "number") {
    set("cost", String(body.bidderCost));
    if (typeof body.bidder === "string") set("name", body.bidder);
    return;
  }
  if (msg.act === "cfp")
    open(msg.channel).send("propose", JSON.stringify({ task: body.task, cost: Number(get("cost") ?? "100") }), msg.id);
  else if (msg.act === "accept-proposal" && body.bidder === get("name"))
    open(msg.channel).send("inform", JSON.stringify({ done: body.task, cost: body.cost }), msg.id);
}
