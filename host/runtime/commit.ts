// The commit protocol: exactly-once effect per (agent, id).
//
// 1. claim   — the processed marker `<agent>.<id>` is created atomically with
//              the input's stream sequence (alongside the call). A marker of
//              another sequence means a duplicate (the same id stored again: a
//              replay); one of this sequence, or "inflight", an interrupted
//              attempt at this very message, ours to finish. The claim is the
//              marker's only write on the way: no second write marks it done.
// 2. prepare — the host signs what the call emitted (stamped by admit.stamp).
// 3. WAL     — only when the call wrote state: the whole commit goes to the
//              one-entry write-ahead log `wal.<agent>`. Sends alone need none:
//              their ids derive from (agent, input id, index), so a re-run
//              republishes the same ids and JetStream's dedup window drops them.
// 4. apply   — publish (Nats-Msg-Id = envelope id), write state (last write of
//              each key wins), then delete the WAL entry.
// 5. ack     — by the runtime, after apply.
// A crash anywhere is repaired at the next start (recover): a WAL entry still
// there is applied again, which is idempotent. Every write is fenced by the
// placement lease. A failed attempt sets its marker back to "inflight" while
// the message is retried (delivery status reads it).
import type { PubAck } from "@nats-io/jetstream";
import { AgoraError } from "../../protocol/errors.js";
import type { KV } from "@nats-io/kv";
import type { KeyObject } from "node:crypto";
import type { Envelope, UnsignedEnvelope } from "../../protocol/envelope.js";
import type { CommitRecord, StateOp, TimerCommit, TimerRecord } from "../../protocol/records.js";
import { parseJson, parseTimer, timerRecord } from "../../protocol/records.js";
import {
  channelSubject,
  decodeStateKey,
  kvSubject,
  markerKey,
  PROCESSED_BUCKET,
  REFUSED_MARKER,
  stateKey,
  stateKeys,
  timerKey,
  timerKeys,
  walKey,
} from "../../protocol/subjects.js";
import { isWrongRevision } from "../../transport/jetstream-errors.js";
import { publishWithRetry, type StreamPublish } from "../../transport/publisher.js";
import { signEnvelope } from "../../trust/signing.js";
import { keysOf } from "../../transport/kv-list.js";

/** Value of a processed marker while its message is being handled. */
export const INFLIGHT = "inflight";
/** Prefix of a marker whose state commit is applied (`done:<seq>`): a redelivery of it is a duplicate. */
export const DONE_MARKER = "done:";
/** Compare-and-set rounds of a claim before it gives up (NATS trouble, the message comes back). */
const CLAIM_ATTEMPTS = 5;
/** Own envelopes remembered to recognise their echo without verifying them again. */
const MAX_REMEMBERED = 10_000;

/** Where commits go. */
export interface CommitStore {
  publisher: StreamPublish;
  state: KV;
  processed: KV;
  timers: KV;
}

/** A timer write of a commit as applied: a set with the KV revision it was written at. */
export type AppliedTimer = { op: "set"; timer: TimerRecord; revision: number } | { op: "cancel"; tag: string };

/** An agent's committed state, read from KV. */
export async function loadAgentState(kv: KV, agent: string): Promise<[string, string][]> {
  const state: [string, string][] = [];
  for (const k of await keysOf(kv, stateKeys(agent))) {
    const entry = await kv.get(k);
    const key = decodeStateKey(agent, k);
    if (entry && entry.operation === "PUT" && key !== undefined) state.push([key, entry.string()]);
  }
  return state;
}

/** An agent's timers waiting to fire, read from KV; `refused` hears of an entry that is not a timer record. */
export async function loadAgentTimers(
  kv: KV,
  agent: string,
  refused: (key: string, reason: string) => void = () => {},
): Promise<{ timer: TimerRecord; revision: number }[]> {
  const timers: { timer: TimerRecord; revision: number }[] = [];
  for (const k of await keysOf(kv, timerKeys(agent))) {
    const entry = await kv.get(k);
    if (!entry || entry.operation !== "PUT") continue;
    const t = parseTimer(entry.value);
    if (t && t.agent === agent && timerKey(agent, t.tag) === k) timers.push({ timer: t, revision: entry.revision });
    else refused(k, `${k} is not a timer record of ${agent}; ignored`);
  }
  return timers;
}

function timerCommit(t: unknown): boolean {
  const op = t as Partial<TimerCommit> | undefined;
  if (op?.op === "cancel") return typeof op.tag === "string";
  return op?.op === "set" && timerRecord(op.timer) !== undefined;
}

/** Whether a commit goes through the WAL: it writes state or timers (sends alone are re-derivable). */
function writesAhead(c: CommitRecord): boolean {
  return c.state.length > 0 || (c.timers?.length ?? 0) > 0;
}

/** A WAL entry read back: a commit record, or undefined when it is not one (never trusted blindly). */
export function parseCommit(data: Uint8Array | string): CommitRecord | undefined {
  const c = parseJson(data) as Partial<CommitRecord> | undefined;
  if (
    !c ||
    (c.wal !== undefined && c.wal !== 2) ||
    typeof c.id !== "string" ||
    typeof c.seq !== "number" ||
    !Array.isArray(c.envelopes) ||
    !Array.isArray(c.state) ||
    (c.timers !== undefined && (!Array.isArray(c.timers) || !c.timers.every(timerCommit)))
  )
    return undefined;
  return c as CommitRecord;
}

/** One agent's commits. `fence` throws once this host may no longer act for the agent. */
export class Commits {
  /** The exact text of envelopes published recently, to recognise their echo. */
  private readonly published = new Set<string>();

  constructor(
    readonly agent: string,
    private readonly key: KeyObject,
    private readonly store: CommitStore,
    private readonly fence: () => void,
  ) {}

  /**
   * Claim (agent, id) for the message at stream sequence `seq`: an atomic create
   * of the processed marker with `seq`. True when the id was already processed
   * from another sequence (or refused, or dead-lettered); a marker of this
   * sequence, or "inflight", is an interrupted attempt at this message: ours to
   * finish (an "inflight" one is taken over with `seq`).
   */
  async claim(id: string, seq: number): Promise<boolean> {
    const key = markerKey(this.agent, id);
    const mine = String(seq);
    // Every write here is compare-and-set: two copies of one id claimed at once (a batch claims
    // together) see each other, and exactly one wins.
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      try {
        // kv.create as one publish expecting the key to have no entry (a lighter request than kv's).
        await this.store.publisher.publish(kvSubject(PROCESSED_BUCKET, key), mine, {
          expect: { lastSubjectSequence: 0 },
        });
        return false;
      } catch (err) {
        if (!isWrongRevision(err)) throw err; // NATS trouble: the message is handed back and retried
      }
      const e = await this.store.processed.get(key);
      if (!e) continue; // expired meanwhile: create again
      const value = e.operation === "PUT" ? e.string() : undefined;
      if (value === mine) return false; // an interrupted attempt at this message: ours to finish
      // Anything but "inflight" (a failed attempt's) or a deleted entry: another sequence, done, a dead letter, a refusal.
      if (value !== undefined && value !== INFLIGHT) return true;
      try {
        await this.store.processed.update(key, mine, e.revision);
        return false;
      } catch (err) {
        if (!isWrongRevision(err)) throw err;
      }
    }
    throw new AgoraError(
      "AGORA_ERR_PUBLISH",
      `claim of ${key}: the marker kept changing under ${CLAIM_ATTEMPTS} attempts`,
    );
  }

  /**
   * Set back the marker of a message this host claimed (`seq`) and did not handle: to "inflight"
   * (it comes back: not run, or a failed attempt retried), or to `value` (refused for good). Only
   * while the marker still holds `seq` — never over another copy's marker.
   */
  async unclaim(id: string, seq: number, value: string = INFLIGHT): Promise<void> {
    const key = markerKey(this.agent, id);
    const e = await this.store.processed.get(key);
    if (e?.operation !== "PUT" || e.string() !== String(seq)) return;
    await this.store.processed.update(key, value, e.revision).catch((err: unknown) => {
      if (!isWrongRevision(err)) throw err;
    });
  }

  /** Mark (agent, id) refused with `code` (a verified message it will not handle), unless already marked. */
  async refuse(id: string, code: string): Promise<void> {
    await this.store.processed.create(markerKey(this.agent, id), `${REFUSED_MARKER}${code}`).catch(() => {});
  }

  /** Sign the stamped envelopes: the commit of input `id` at stream sequence `seq`. */
  prepare(
    id: string,
    seq: number,
    stamped: readonly UnsignedEnvelope[],
    state: StateOp[],
    timers: TimerCommit[] = [],
  ): CommitRecord {
    return {
      wal: 2,
      id,
      seq,
      envelopes: stamped.map((e) => signEnvelope(this.key, e)),
      state,
      ...(timers.length > 0 ? { timers } : {}),
    };
  }

  /** Write the commit ahead when it has state or timer writes (sends alone are re-derivable). */
  async writeAhead(c: CommitRecord): Promise<void> {
    if (!writesAhead(c)) return;
    this.fence(); // a stale owner must not leave a WAL for the next one to replay
    await this.store.processed.put(walKey(this.agent), JSON.stringify(c));
  }

  /**
   * Apply a commit: publish (deduplicated by id), write state and timers, then
   * delete its WAL entry (an entry of before `wal: 2`: write the final marker).
   * Idempotent. `published` is told of each envelope JetStream stored (not a replay).
   */
  async apply(
    c: CommitRecord,
    published: (env: Envelope) => Promise<void>,
    timersApplied: (applied: AppliedTimer[]) => void = () => {},
  ): Promise<void> {
    this.fence();
    const acks: PubAck[] = await Promise.all(
      c.envelopes.map((env) => {
        const text = JSON.stringify(env); // encoded once: published, and remembered to spot its echo
        this.published.add(text);
        if (this.published.size > MAX_REMEMBERED) this.published.delete(this.published.values().next().value!);
        return publishWithRetry(this.store.publisher, channelSubject(env.channel), text, env.id);
      }),
    );
    for (const [i, ack] of acks.entries()) if (!ack.duplicate) await published(c.envelopes[i]!);
    // The last write of each key wins; distinct keys are written concurrently.
    const last = new Map<string, StateOp>();
    for (const op of c.state) last.set(op.key, op);
    this.fence();
    await Promise.all(
      [...last.values()].map((op) =>
        op.op === "set"
          ? this.store.state.put(stateKey(this.agent, op.key), op.value)
          : this.store.state.delete(stateKey(this.agent, op.key)),
      ),
    );
    if (c.timers?.length) {
      // The last write of each tag wins, as for state.
      const timers = new Map<string, TimerCommit>();
      for (const t of c.timers) timers.set(t.op === "set" ? t.timer.tag : t.tag, t);
      this.fence();
      timersApplied(
        await Promise.all(
          [...timers.values()].map(async (t): Promise<AppliedTimer> => {
            if (t.op === "cancel") {
              await this.store.timers.delete(timerKey(this.agent, t.tag));
              return t;
            }
            const revision = await this.store.timers.put(timerKey(this.agent, t.timer.tag), JSON.stringify(t.timer));
            return { ...t, revision };
          }),
        ),
      );
    }
    if (c.wal !== 2) await this.store.processed.put(markerKey(this.agent, c.id), String(c.seq));
    else if (writesAhead(c)) {
      // Its state is written: a redelivery of this very message must now be a duplicate, not "ours to
      // finish" (a re-run would see its own state and write again). Then the WAL entry goes.
      await this.store.processed.put(markerKey(this.agent, c.id), `${DONE_MARKER}${c.seq}`);
      await this.store.processed.delete(walKey(this.agent));
    }
  }

  /** Mark `id` as handled by dead-lettering (a redelivery is then a duplicate). */
  async deadLettered(id: string, seq: number): Promise<void> {
    await this.store.processed.put(markerKey(this.agent, id), `dlq:${seq}`);
  }

  /**
   * The commit a crash interrupted, if any: still in the WAL (an entry of before `wal: 2`: and not
   * marked processed). `refused` hears of a WAL that is not one.
   */
  async interrupted(refused: (key: string, reason: string) => void): Promise<CommitRecord | undefined> {
    const key = walKey(this.agent);
    const entry = await this.store.processed.get(key);
    if (!entry || entry.operation !== "PUT") return undefined;
    const commit = parseCommit(entry.value);
    if (!commit) {
      refused(key, `${key} is not a commit record; ignored`);
      return undefined;
    }
    if (commit.wal === 2) return commit;
    const done = await this.store.processed.get(markerKey(this.agent, commit.id));
    return done?.operation === "PUT" && done.string() !== INFLIGHT ? undefined : commit;
  }

  /** The envelope if `data` is exactly one this agent published (its own echo): no need to verify it again. */
  echoOf(data: Uint8Array): Envelope | undefined {
    if (this.published.size === 0) return undefined;
    const text = Buffer.from(data).toString("utf8");
    if (!this.published.delete(text)) return undefined; // a set lookup: other messages are not parsed twice
    return JSON.parse(text) as Envelope;
  }
}
