// ballot: runs votes. On `propose {question, voters, quorum, deadlineMs}` it
// opens a ballot (its id: the proposal's id) and collects `agree` / `refuse`
// answering the proposal from the named voters — anyone else, and a voter's
// second answer, are ignored. It announces the result once, as `inform
// {result, question, quorum, votes}` answering the proposal: `accepted` when
// `quorum` voters agreed, `rejected` as soon as that can no longer happen, or
// `expired` when the deadline (a timer) passes first. `votes` lists every vote
// counted with its message id, so the decision points at each of them. A
// `cancel` from the proposer closes it without an announcement.
import { open } from "agora:agent/channels";
import { get, set } from "agora:agent/state";
import { after, cancel } from "agora:agent/timers";
import type { Envelope } from "agora:agent/types";

interface Vote {
  voter: string;
  act: "agree" | "refuse";
  id: string;
}

interface Ballot {
  /** Who proposed it: the one (with an operator, whom the host enforces) who may cancel it. */
  proposer: string;
  question: unknown;
  voters: string[];
  quorum: number;
  channel: string;
  votes: Vote[];
  /** Set once announced: later answers are ignored. */
  result?: string;
}

const key = (id: string) => `ballot:${id}`;

function load(id: string): Ballot | undefined {
  const saved = get(key(id));
  return saved === null ? undefined : (JSON.parse(saved) as Ballot);
}

function save(id: string, b: Ballot): void {
  set(key(id), JSON.stringify(b));
}

function announce(id: string, b: Ballot, result: string): void {
  b.result = result;
  save(id, b);
  cancel(id);
  open(b.channel).send(
    "inform",
    JSON.stringify({ result, question: b.question, quorum: b.quorum, votes: b.votes }),
    id,
  );
}

/** The outcome once it is certain, or undefined while the ballot stays open. */
function outcome(b: Ballot): string | undefined {
  const agreed = b.votes.filter((v) => v.act === "agree").length;
  const refused = b.votes.length - agreed;
  if (agreed >= b.quorum) return "accepted";
  if (b.voters.length - refused < b.quorum) return "rejected";
  return undefined;
}

function opening(
  body: Record<string, unknown>,
): Omit<Ballot, "proposer" | "channel" | "votes"> & { deadlineMs: number } {
  const { question, voters, quorum, deadlineMs } = body;
  if (!Array.isArray(voters) || voters.length === 0 || !voters.every((v) => typeof v === "string"))
    throw "AGORA_ERR_BAD_BODY: voters must be a list of names";
  if (typeof quorum !== "number" || !Number.isInteger(quorum) || quorum < 1 || quorum > voters.length)
    throw "AGORA_ERR_BAD_BODY: quorum must be a whole number between 1 and the number of voters";
  if (typeof deadlineMs !== "number" || !Number.isInteger(deadlineMs) || deadlineMs < 0)
    throw "AGORA_ERR_BAD_BODY: deadlineMs must be a whole number of ms";
  return { question, voters: [...new Set(voters as string[])], quorum, deadlineMs };
}

export function handle(msg: Envelope): void {
  const body = JSON.parse(msg.body) as Record<string, unknown> | null;
  if (!body || typeof body !== "object") return;
  if (msg.act === "propose" && "voters" in body) {
    if (load(msg.id)) return; // already open
    const { deadlineMs, ...b } = opening(body);
    save(msg.id, { ...b, proposer: msg.sender, channel: msg.channel, votes: [] });
    after(deadlineMs, msg.id);
    return;
  }
  if (msg.act === "cancel" && msg.conv) {
    // Its proposer withdrew it: closed without an announcement (the conversation's later acts are dropped).
    const b = load(msg.conv);
    if (!b || b.result || msg.sender !== b.proposer) return;
    b.result = "cancelled";
    save(msg.conv, b);
    cancel(msg.conv);
    return;
  }
  if (msg.act === "inform" && typeof body.timeout === "string") {
    const b = load(body.timeout);
    if (b && !b.result) announce(body.timeout, b, outcome(b) ?? "expired");
    return;
  }
  if ((msg.act === "agree" || msg.act === "refuse") && msg.re) {
    const b = load(msg.re);
    if (!b || b.result || !b.voters.includes(msg.sender) || b.votes.some((v) => v.voter === msg.sender)) return;
    b.votes.push({ voter: msg.sender, act: msg.act, id: msg.id });
    const result = outcome(b);
    if (result) announce(msg.re, b, result);
    else save(msg.re, b);
  }
}
