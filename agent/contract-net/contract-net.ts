// contract-net: the manager of the contract net protocol. On `request {task,
// deadlineMs, resultDeadlineMs?}` it calls for proposals (`cfp {task}`),
// collects `propose {cost}` answering it until the deadline (one per bidder),
// awards the task to the cheapest (`accept-proposal` naming it as `bidder`,
// the earliest on a tie)
// and turns the others down (`reject-proposal`), then waits — with its own
// deadline — for the winner's `inform` or `failure`. It answers the request
// once: `inform {result: "done", …}` or `failure {reason, …}` (no proposals,
// the winner failed, or the winner did not report in time). A conversation is
// keyed by its `conv`: every act of it carries the request's. A `cancel` from the
// requester ends it quietly, timers and all.
import { open } from "agora:agent/channels";
import { get, set } from "agora:agent/state";
import { after, cancel } from "agora:agent/timers";
import type { Envelope } from "agora:agent/types";

interface Bid {
  bidder: string;
  cost: number;
  id: string;
}

interface Net {
  task: unknown;
  channel: string;
  /** The request's id: the answer's `re`. */
  request: string;
  /** Who asked: the one (with an operator, whom the host enforces) who may cancel it. */
  requester: string;
  phase: "bidding" | "awarded" | "done" | "failed" | "cancelled";
  bids: Bid[];
  winner?: Bid;
  resultDeadlineMs: number;
}

const key = (conv: string) => `net:${conv}`;

function load(conv: string | null): Net | undefined {
  if (conv === null) return undefined;
  const saved = get(key(conv));
  return saved === null ? undefined : (JSON.parse(saved) as Net);
}

function save(conv: string, n: Net): void {
  set(key(conv), JSON.stringify(n));
}

function whole(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0)
    throw `AGORA_ERR_BAD_BODY: ${what} must be a whole number of ms`;
  return v;
}

/** Answer the request once and end the conversation. */
function end(conv: string, n: Net, act: "inform" | "failure", body: Record<string, unknown>): void {
  n.phase = act === "inform" ? "done" : "failed";
  save(conv, n);
  open(n.channel).send(act, JSON.stringify({ task: n.task, ...body }), n.request);
}

function award(conv: string, n: Net): void {
  if (n.bids.length === 0) {
    end(conv, n, "failure", { reason: "no proposals before the deadline" });
    return;
  }
  const winner = n.bids.reduce((best, b) => (b.cost < best.cost ? b : best));
  const channel = open(n.channel);
  channel.send(
    "accept-proposal",
    JSON.stringify({ task: n.task, cost: winner.cost, bidder: winner.bidder }),
    winner.id,
  );
  for (const b of n.bids)
    if (b !== winner) channel.send("reject-proposal", JSON.stringify({ task: n.task, awarded: winner.cost }), b.id);
  n.phase = "awarded";
  n.winner = winner;
  save(conv, n);
  after(n.resultDeadlineMs, `result:${conv}`);
}

export function handle(msg: Envelope): void {
  const body = JSON.parse(msg.body) as Record<string, unknown> | null;
  if (!body || typeof body !== "object") return;
  const conv = msg.conv ?? msg.id;
  if (msg.act === "request" && "task" in body) {
    if (load(conv)) return; // a repeat
    const deadlineMs = whole(body.deadlineMs, "deadlineMs");
    const resultDeadlineMs =
      body.resultDeadlineMs === undefined ? deadlineMs : whole(body.resultDeadlineMs, "resultDeadlineMs");
    save(conv, {
      task: body.task,
      channel: msg.channel,
      request: msg.id,
      requester: msg.sender,
      phase: "bidding",
      bids: [],
      resultDeadlineMs,
    });
    open(msg.channel).send("cfp", JSON.stringify({ task: body.task, deadlineMs }), msg.id);
    after(deadlineMs, `bids:${conv}`);
    return;
  }
  if (msg.act === "inform" && typeof body.timeout === "string") {
    const [stage, ...rest] = body.timeout.split(":");
    const c = rest.join(":");
    const n = load(c);
    if (n && stage === "bids" && n.phase === "bidding") award(c, n);
    else if (n && stage === "result" && n.phase === "awarded")
      end(c, n, "failure", { reason: "the winner did not report before the deadline", winner: n.winner!.bidder });
    return;
  }
  const n = load(msg.conv);
  if (!n) return;
  if (msg.act === "cancel") {
    // Its requester ended it: no award, no answer (the conversation's later acts are dropped anyway).
    if (msg.sender !== n.requester || (n.phase !== "bidding" && n.phase !== "awarded")) return;
    n.phase = "cancelled";
    save(msg.conv!, n);
    cancel(`bids:${msg.conv}`);
    cancel(`result:${msg.conv}`);
  } else if (msg.act === "propose" && n.phase === "bidding") {
    const cost = body.cost;
    if (typeof cost !== "number" || !Number.isFinite(cost) || n.bids.some((b) => b.bidder === msg.sender)) return;
    n.bids.push({ bidder: msg.sender, cost, id: msg.id });
    save(msg.conv!, n);
  } else if (
    (msg.act === "inform" || msg.act === "failure") &&
    n.phase === "awarded" &&
    msg.sender === n.winner!.bidder
  ) {
    cancel(`result:${msg.conv}`);
    if (msg.act === "inform")
      end(msg.conv!, n, "inform", { result: "done", winner: n.winner!.bidder, cost: n.winner!.cost, report: body });
    else end(msg.conv!, n, "failure", { reason: "the winner failed", winner: n.winner!.bidder, report: body });
  }
}
