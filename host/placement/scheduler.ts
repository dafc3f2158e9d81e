// Placement: which host runs which hosted agent, decided in JetStream KV with
// no coordinator of our own. Each agent has a lease `agent.<name>` in bucket
// `agora-leases`: taken with an atomic create, renewed with update-with-revision
// every quarter of the bucket's TTL, and gone when its host stops renewing it.
// So an agent runs on one host at a time, moves to a survivor when its host
// dies, and is handed over (stopped, then its lease deleted) on drain,
// rebalance and shutdown. Hosts announce themselves under `host.<name>`.
//
// Every host computes the same target assignment from what it sees in the
// bucket (live hosts, what each may run, current owners) and only acts on its
// own part of it: take free leases targeted at it, hand over those targeted
// elsewhere. The create/update revisions make every step atomic; the target
// only decides who tries.
import type { KV, KvEntry } from "@nats-io/kv";
import { DEFAULT_LEASE_TTL_MS } from "../../config/defaults.js";
import { AgoraError } from "../../protocol/errors.js";
import { randomId } from "../../protocol/ids.js";
import { parseHostRecord, parseLease, type HostRecord, type LeaseRecord } from "../../protocol/records.js";
import { hostKey, LEASES_BUCKET } from "../../protocol/subjects.js";
import { isWrongRevision } from "../../transport/jetstream-errors.js";
import { followBucket, type BucketFollower } from "../../transport/kv-follow.js";
import { backoffMs, sleep } from "../../transport/backoff.js";
import { assign } from "./assign.js";
import {
  ageOf,
  leaseTtl,
  readHostRecord,
  readLease,
  releaseLease,
  renewLease,
  takeLease,
  writeHostRecord,
  removeHostRecord,
} from "./leases.js";

export type StopReason = "released" | "lost";

export interface PlacementOptions {
  kv: KV;
  host: string;
  /** Every hosted agent of the configuration, in order. */
  agents: readonly string[];
  /** The agents this host may run. */
  eligible: readonly string[];
  /** True while this host is drained (a signed drain control). */
  draining(): boolean;
  /** Run `agent` here (its lease is held). */
  start(agent: string): Promise<void>;
  /** Stop running `agent` here: handed over (`released`) or its lease is gone (`lost`). */
  stop(agent: string, reason: StopReason): Promise<void>;
  log(line: string): void;
  /** A record in the bucket that no host wrote (not JSON, wrong shape): ignored, and reported. */
  refused?(key: string, owner: string, reason: string): void;
}

interface Seen<T> {
  value: T;
  revision: number;
  /** Server time of the write, ms. */
  created: number;
}

interface Owned {
  revision: number;
  /** Local time after which the lease may have expired at the server: stop before then. */
  validUntil: number;
  /** The start and the hand-over of the agent run one after another. */
  op: Promise<unknown>;
  /** The renewal in flight, if any (a hand-over waits for it before deleting the lease). */
  renewing?: Promise<void>;
  releasing: boolean;
}

export class Placement {
  readonly instance = randomId();
  ttlMs = DEFAULT_LEASE_TTL_MS;
  private readonly o: PlacementOptions;
  private readonly owned = new Map<string, Owned>();
  private readonly leases = new Map<string, Seen<LeaseRecord>>();
  private readonly hosts = new Map<string, Seen<HostRecord>>();
  /** Since when (local ms) an agent has been seen without a lease while targeted elsewhere. */
  private readonly unclaimed = new Map<string, number>();
  private hostRevision = 0;
  /** The heartbeat in flight (close waits for it before deleting the host record). */
  private heartbeating?: Promise<void>;
  /** Whether the last heartbeat said "draining". */
  private announcedDraining = false;
  /** Agents not to take before this time (local ms): they failed to start here. */
  private readonly cooldown = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private rounds: Promise<void> = Promise.resolve();
  private roundQueued = false;
  private renewTimer?: NodeJS.Timeout;
  private roundTimer?: NodeJS.Timeout;
  private follower?: BucketFollower;
  /** Another live process uses this host name: hand everything over, take nothing. */
  private twin = false;
  private closed = false;

  constructor(o: PlacementOptions) {
    this.o = o;
  }

  /** Join: watch the bucket, claim the host name, take this host's first share of agents. */
  async start(): Promise<void> {
    this.ttlMs = await leaseTtl(this.o.kv);
    await this.watch();
    await this.claimName();
    // Renewals run on their own timer from the start: a long first round (many agents to start) must not let early leases lapse.
    const every = Math.max(250, Math.floor(this.ttlMs / 4));
    this.renewTimer = setInterval(() => void this.renew(), every);
    this.renewTimer.unref?.();
    await this.enqueueRound();
    this.roundTimer = setInterval(() => this.wake(), every);
    this.roundTimer.unref?.();
  }

  /** Agents this host holds a lease for. */
  held(): string[] {
    return [...this.owned.keys()];
  }

  /**
   * Whether this host may act for `agent` now: it holds the lease and renewed it
   * recently enough that the server cannot have expired it yet. Checked before
   * every call and commit, so a host cut off from NATS stops before another takes over.
   */
  valid(agent: string): boolean {
    const o = this.owned.get(agent);
    return o !== undefined && Date.now() < o.validUntil;
  }

  /** Run a placement round soon (a host appeared, a lease was handed over, a drain arrived). */
  wake(): void {
    if (this.closed || this.roundQueued) return;
    this.roundQueued = true;
    void this.enqueueRound();
  }

  /** Rounds run one after another. */
  private enqueueRound(): Promise<void> {
    this.rounds = this.rounds.then(async () => {
      this.roundQueued = false;
      await this.round().catch((err) => this.o.log(`placement: ${String(err)}`));
    });
    return this.rounds;
  }

  private async watch(): Promise<void> {
    // The current values, then every update (followBucket starts the watch before the replay ends).
    let replayed = false;
    const follower = await followBucket(
      this.o.kv,
      (e) => {
        if (this.see(e) && replayed) this.wake();
      },
      { expiring: true },
    );
    this.follower = follower;
    void follower.closed().then((err) => {
      if (err && this.follower === follower && !this.closed) {
        this.o.log(`placement: ${err.message}; watching again`);
        void this.rewatch();
      }
    });
    await follower.ready;
    replayed = true;
  }

  /** The watch ended (not by close): start it again, with a fresh look at the bucket. */
  private async rewatch(): Promise<void> {
    while (!this.closed) {
      await sleep(1000);
      if (this.closed) return;
      try {
        await this.watch();
        this.wake();
        return;
      } catch (err) {
        this.o.log(`placement: cannot watch ${LEASES_BUCKET}: ${String(err)}; retrying`);
      }
    }
  }

  /** Fold an entry into the view; true when a round may have something to do. */
  private see(e: KvEntry): boolean {
    const [kind, name] = [e.key.slice(0, e.key.indexOf(".")), e.key.slice(e.key.indexOf(".") + 1)];
    const map: Map<string, Seen<unknown>> | undefined =
      kind === "agent" ? this.leases : kind === "host" ? this.hosts : undefined;
    if (!map) return false;
    const current = map.get(name);
    if (current && current.revision >= e.revision) return false;
    if (e.operation !== "PUT") {
      map.delete(name);
      return true;
    }
    const value: unknown = kind === "agent" ? parseLease(e.value) : parseHostRecord(e.value);
    if (value === undefined) {
      // Not a record a host wrote: ignored (once per revision), and reported.
      if (!current || current.revision < e.revision)
        this.o.refused?.(
          e.key,
          name,
          `${e.key} in ${LEASES_BUCKET} is not a ${kind === "agent" ? "lease" : "host record"}`,
        );
      return false;
    }
    map.set(name, { value, revision: e.revision, created: e.created.getTime() });
    // A new host or a change of owner may call for a rebalance; a renewal does not.
    const before = current?.value as { host?: string; instance?: string; draining?: boolean } | undefined;
    const after = value as { host?: string; instance?: string; draining?: boolean };
    return (
      !before || before.instance !== after.instance || before.host !== after.host || before.draining !== after.draining
    );
  }

  private fresh(s: Seen<unknown> | undefined, now: number): boolean {
    return s !== undefined && now - s.created < this.ttlMs;
  }

  /** Refuse to run beside a live host of the same name; a crashed previous incarnation is taken over. */
  private async claimName(): Promise<void> {
    const { kv, host } = this.o;
    const e = await readHostRecord(kv, host);
    if (e?.operation === "PUT" && ageOf(e) < this.ttlMs) {
      const wait = Math.ceil(this.ttlMs / 2);
      this.o.log(
        `another process announced host ${host} ${ageOf(e)} ms ago; checking for ${wait} ms whether it is still alive …`,
      );
      await sleep(wait);
      const again = await readHostRecord(kv, host);
      if (again?.operation === "PUT" && again.revision !== e.revision) {
        throw new AgoraError(
          "AGORA_ERR_HOST_NAME_TAKEN",
          `host ${host} is already running elsewhere (it renewed its record ${hostKey(host)} in ${LEASES_BUCKET}); give this one another host.name or AGORA_HOST_NAME`,
        );
      }
    }
    await this.heartbeat();
  }

  private record(): HostRecord {
    return {
      host: this.o.host,
      instance: this.instance,
      draining: this.o.draining() || this.closed,
      eligible: [...this.o.eligible],
      agents: this.owned.size,
    };
  }

  /** Write this host's record: a put the first time, then update-with-revision, so a twin of the same name shows up. */
  private heartbeat(): Promise<void> {
    const run = (async () => {
      if (this.twin) {
        // Stay out of the way while the other process of this name is alive.
        const e = await readHostRecord(this.o.kv, this.o.host);
        if (e?.operation === "PUT" && parseHostRecord(e.value)?.instance !== this.instance && ageOf(e) < this.ttlMs)
          return;
        this.twin = false;
        this.hostRevision = 0;
        this.o.log(`host ${this.o.host}: the other process of this name is gone; taking agents again`);
        this.wake();
      }
      const record = this.record();
      try {
        this.hostRevision = await writeHostRecord(this.o.kv, record, this.hostRevision);
        this.announcedDraining = record.draining;
      } catch (err) {
        if (!isWrongRevision(err)) throw err;
        const e = await readHostRecord(this.o.kv, this.o.host);
        if (e?.operation !== "PUT" || parseHostRecord(e.value)?.instance === this.instance) {
          // Our own write whose answer was lost, or the record expired during an outage: write it again.
          this.hostRevision = e?.operation === "PUT" ? e.revision : 0;
          return this.heartbeat();
        }
        // Another live process writes our record: stop acting for every agent (safe), and say why.
        this.twin = true;
        this.o.log(
          `AGORA_ERR_HOST_NAME_TAKEN: another process also runs as host ${this.o.host}; this one hands its agents over and takes none until it is gone (give each host its own host.name / AGORA_HOST_NAME)`,
        );
        this.wake();
      }
    })();
    this.heartbeating = run.catch(() => {});
    return run;
  }

  /**
   * Until when a lease written at local time `sent` may be acted on: ¾ TTL, so a
   * host stops before the server can expire the lease and another host take it.
   */
  private validAfter(sent: number): number {
    return sent + (this.ttlMs * 3) / 4;
  }

  private lease(): LeaseRecord {
    return { host: this.o.host, instance: this.instance, since: new Date().toISOString() };
  }

  /** Renew every held lease (update-with-revision) and the host record. */
  private async renew(): Promise<void> {
    await Promise.all([
      this.heartbeat().catch((err) => this.o.log(`placement: heartbeat failed: ${String(err)}`)),
      ...[...this.owned].map(([agent, o]) => {
        if (o.renewing) return o.renewing; // the previous one is still out
        o.renewing = this.renewOne(agent, o).finally(() => (o.renewing = undefined));
        return o.renewing;
      }),
    ]);
  }

  private serial(o: Owned, f: () => Promise<void>): Promise<void> {
    const run = o.op.then(f);
    o.op = run.catch(() => {});
    return o.op as Promise<void>;
  }

  private async renewOne(agent: string, o: Owned): Promise<void> {
    if (this.owned.get(agent) !== o) return; // renewed while being handed over, too: the message in hand may take a while
    const sent = Date.now();
    try {
      o.revision = await renewLease(this.o.kv, agent, this.lease(), o.revision);
      o.validUntil = this.validAfter(sent);
    } catch (err) {
      if (isWrongRevision(err)) {
        // Our last renewal may have landed without its answer reaching us: still ours if it names this process.
        const e = await readLease(this.o.kv, agent).catch(() => null);
        if (e?.operation === "PUT" && parseLease(e.value)?.instance === this.instance && ageOf(e) < this.ttlMs / 2)
          o.revision = e.revision;
        else await this.lose(agent, "another host holds its lease now");
      } else if (Date.now() > o.validUntil) await this.lose(agent, `lease not renewed in time (${String(err)})`);
    }
  }

  /** The lease is gone (expired or taken): stop here at once, without touching the lease. */
  private async lose(agent: string, why: string): Promise<void> {
    if (!this.owned.delete(agent)) return;
    this.o.log(`AGORA_ERR_LEASE_LOST: agent ${agent}: ${why}; stopped on ${this.o.host}`);
    await this.o.stop(agent, "lost").catch((err) => this.o.log(`agent ${agent}: stop failed: ${String(err)}`));
  }

  /** Hand an agent over (drain, rebalance, shutdown). */
  private async release(agent: string, why: string): Promise<void> {
    const o = this.owned.get(agent);
    if (!o || o.releasing) return;
    o.releasing = true;
    await this.serial(o, async () => {
      this.o.log(`agent ${agent}: handing over (${why})`);
      await this.giveBack(agent, o);
    });
  }

  /** Stop the agent here (in-flight work commits), then delete its lease so another host takes it at once. */
  private async giveBack(agent: string, o: Owned): Promise<void> {
    await this.o.stop(agent, "released").catch((err) => this.o.log(`agent ${agent}: stop failed: ${String(err)}`));
    this.owned.delete(agent);
    await o.renewing;
    await releaseLease(this.o.kv, agent, o.revision);
  }

  /** Take a lease: atomic create, or adopt one left by this host's previous incarnation. */
  private async acquire(agent: string, adoptRevision?: number): Promise<boolean> {
    const sent = Date.now();
    let revision: number;
    try {
      revision =
        adoptRevision === undefined
          ? await takeLease(this.o.kv, agent, this.lease())
          : await renewLease(this.o.kv, agent, this.lease(), adoptRevision);
    } catch (err) {
      if (!isWrongRevision(err)) this.o.log(`agent ${agent}: lease not taken: ${String(err)}`);
      const e = await readLease(this.o.kv, agent).catch(() => null);
      if (e) this.see(e);
      return false;
    }
    this.o.log(
      `agent ${agent}: lease taken by ${this.o.host}${adoptRevision === undefined ? "" : " (left by its previous run)"}`,
    );
    const o: Owned = { revision, validUntil: this.validAfter(sent), op: Promise.resolve(), releasing: false };
    this.owned.set(agent, o);
    this.unclaimed.delete(agent);
    await this.serial(o, async () => {
      try {
        await this.o.start(agent);
        this.failures.delete(agent);
      } catch (err) {
        // Could not start it here (NATS trouble): give the lease back so it is tried again.
        // The pause doubles with each failure here (2 TTL, 4 TTL, … at most 5 min); a start that works resets it.
        const failures = (this.failures.get(agent) ?? 0) + 1;
        this.failures.set(agent, failures);
        const pause = backoffMs(failures, this.ttlMs, Math.max(300_000, 2 * this.ttlMs));
        this.o.log(
          `agent ${agent}: not started on ${this.o.host}: ${String(err)}; lease given back, not taken here for ${pause} ms`,
        );
        this.cooldown.set(agent, Date.now() + pause);
        await this.giveBack(agent, o);
      }
    });
    return this.owned.has(agent);
  }

  /** One round: hand over what is targeted elsewhere, take what is targeted here. */
  private async round(): Promise<void> {
    if (this.closed) return;
    const now = Date.now();
    const me = this.o.host;
    const draining = this.o.draining() || this.twin;
    if (draining !== this.announcedDraining) await this.heartbeat().catch(() => {}); // tell the others at once
    const live = new Map<string, readonly string[]>();
    for (const [name, s] of this.hosts) {
      if (name !== me && this.fresh(s, now) && !s.value.draining) live.set(name, s.value.eligible);
    }
    if (!draining) live.set(me, this.o.eligible);
    const owners = new Map<string, string>();
    for (const [agent, s] of this.leases) if (this.fresh(s, now)) owners.set(agent, s.value.host);
    for (const agent of this.owned.keys()) owners.set(agent, me);
    const target = assign(this.o.agents, live, owners);

    // Hand over: everything when drained; when rebalancing, a few at a time to a live host.
    const away = [...this.owned.keys()].filter((a) => draining || (target.get(a) ?? me) !== me);
    const batch = draining ? away : away.slice(0, Math.max(1, Math.ceil(this.owned.size / 4)));
    await Promise.all(batch.map((a) => this.release(a, draining ? "host drained" : `rebalancing to ${target.get(a)}`)));
    if (draining || this.closed) return;

    for (const agent of this.o.eligible) {
      if (this.owned.has(agent)) continue;
      if ((this.cooldown.get(agent) ?? 0) > now) continue;
      const s = this.leases.get(agent);
      const held = this.fresh(s, now);
      if (held && s!.value.host === me) {
        // Ours on the server but not here: written by this process (a reply lost), or left by a crashed
        // run of this host — taken over once that run would have stopped acting (¾ TTL without renewal).
        if (s!.value.instance === this.instance || now >= this.validAfter(s!.created))
          await this.acquire(agent, s!.revision);
        continue;
      }
      if (held) {
        this.unclaimed.delete(agent);
        continue;
      }
      // Free: take it if targeted here, or if it stays free for a whole TTL while targeted at a host that does not take it.
      if (!this.unclaimed.has(agent)) this.unclaimed.set(agent, now);
      if (target.get(agent) === me || now - this.unclaimed.get(agent)! > this.ttlMs) await this.acquire(agent);
    }
  }

  /** Hand every agent over and leave (graceful shutdown). */
  /** Give `agent`'s lease back (it could not be restarted here): another host, or this one later, takes it. */
  handBack(agent: string, why: string): Promise<void> {
    return this.release(agent, why);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.roundTimer);
    await this.rounds.catch(() => {});
    this.follower?.stop();
    await this.heartbeat().catch(() => {}); // "draining": the others stop targeting this host
    // Leases stay renewed while the agents finish their messages in hand.
    await Promise.all([...this.owned.keys()].map((a) => this.release(a, "host stopping")));
    clearInterval(this.renewTimer);
    await this.heartbeating;
    // Only our own record: never one a live process of the same name wrote (hostRevision 0 would not check).
    await removeHostRecord(this.o.kv, this.o.host, this.hostRevision);
  }
}
