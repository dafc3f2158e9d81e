// Least privilege through the JetStream API: log in as every identity the
// generated authorization knows and try every JetStream API verb on every agora
// stream, bucket and durable consumer (and every KV write and ack). Exactly the
// intended ones pass the server's permission check; the policy is written out
// here, independently of transport/authorization.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { errors, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy } from "@nats-io/jetstream";
import { parseConfig, type AgoraConfig } from "../../config/config.js";
import { ADMIN_IDENTITY, RECORDER_IDENTITY } from "../../protocol/names.js";
import {
  AGENTS_BUCKET,
  bridgeConsumerName,
  CARDS_BUCKET,
  consumerName,
  TIMERS_BUCKET,
  CONVS_BUCKET,
  COMPONENTS_STORE,
  COMPONENTS_STREAM,
  DEPLOYS_BUCKET,
  ROLLOUTS_BUCKET,
  timerConsumerName,
  timerSubject,
  CONTROL_BUCKET,
  DLQ_STREAM,
  GITHUB_BUCKET,
  KEYS_BUCKET,
  kvStream,
  LEASES_BUCKET,
  PROCESSED_BUCKET,
  RECORDER_CONSUMER,
  STATE_BUCKET,
  STREAM,
  watchConsumerName,
  inboxConsumerName,
} from "../../protocol/subjects.js";
import { natsIdentities } from "../../transport/authorization.js";
import { connectNats } from "../../transport/connect.js";
import { ensureIdentityKeys, writeAuthorization } from "../../transport/embedded.js";
import { openInfrastructure } from "../../transport/infrastructure.js";
import { KeyStore } from "../../trust/key-store.js";
import { startNats, type TestNats } from "../helpers/nats-server.js";
import { agentWasm } from "../helpers/paths.js";

const HOST = "host-1";
const GATEWAY = "operator";
const BRIDGE = "github-bridge";
const EXT = "ext";
const BUCKETS = [
  KEYS_BUCKET,
  STATE_BUCKET,
  PROCESSED_BUCKET,
  CONTROL_BUCKET,
  AGENTS_BUCKET,
  LEASES_BUCKET,
  CARDS_BUCKET,
  TIMERS_BUCKET,
  CONVS_BUCKET,
  DEPLOYS_BUCKET,
  ROLLOUTS_BUCKET,
  GITHUB_BUCKET,
];
const STREAMS = [STREAM, DLQ_STREAM, ...BUCKETS.map(kvStream), COMPONENTS_STREAM];
/** Consumers on AGORA: owner, and the filter it was made with (none: the whole stream). */
const DURABLES: { name: string; owner: string; filter?: string }[] = [
  { name: consumerName("responder", "work"), owner: HOST, filter: "agora.ch.work" },
  { name: timerConsumerName("responder"), owner: HOST, filter: timerSubject("responder") },
  { name: RECORDER_CONSUMER, owner: RECORDER_IDENTITY },
  { name: bridgeConsumerName("gh"), owner: BRIDGE, filter: "agora.ch.gh" },
  { name: watchConsumerName(GATEWAY), owner: GATEWAY },
  { name: watchConsumerName(HOST, "work"), owner: HOST, filter: "agora.ch.work" },
  { name: inboxConsumerName(EXT, "work"), owner: EXT, filter: "agora.ch.work" },
];
/** Hosts and the gateway read every bucket but the bridge's. */
const EVERY_AGORA_BUCKET = BUCKETS.filter((b) => b !== GITHUB_BUCKET);
/** The intended policy: the buckets each identity reads (direct and message gets, info, watches). */
const READS: Record<string, readonly string[]> = {
  [HOST]: EVERY_AGORA_BUCKET,
  // Everyone reads the signed controls (a killed identity's sends are refused by every reader) and the
  // cancelled conversations (every reader drops their later acts).
  [RECORDER_IDENTITY]: [KEYS_BUCKET, CARDS_BUCKET, CONTROL_BUCKET, CONVS_BUCKET],
  [GATEWAY]: EVERY_AGORA_BUCKET,
  [BRIDGE]: [KEYS_BUCKET, CARDS_BUCKET, CONTROL_BUCKET, CONVS_BUCKET, GITHUB_BUCKET],
  // External agents read processed markers by key only, and never a write-ahead log (it holds other channels' messages).
  [EXT]: [KEYS_BUCKET, CARDS_BUCKET, CONTROL_BUCKET, CONVS_BUCKET],
};
/** Stream info beyond the buckets it reads. */
const INFO: Record<string, readonly string[]> = {
  [HOST]: [STREAM],
  [RECORDER_IDENTITY]: [STREAM],
  [GATEWAY]: [STREAM, DLQ_STREAM],
  [BRIDGE]: [STREAM],
  [EXT]: [STREAM],
};
/** Who writes which KV key (`*`: every key of the bucket). */
const WRITES: Record<string, Record<string, readonly string[]>> = {
  [HOST]: {
    [STATE_BUCKET]: ["*"],
    [PROCESSED_BUCKET]: ["*"],
    [AGENTS_BUCKET]: ["*"],
    [LEASES_BUCKET]: ["*"],
    [TIMERS_BUCKET]: ["*"], // only hosts: a timer another identity could write would wake an agent as a host
    [ROLLOUTS_BUCKET]: ["*"],
    [DEPLOYS_BUCKET]: ["*"], // a failing canary is rolled back by the host that saw it fail
    [KEYS_BUCKET]: [HOST, "responder"],
    [CARDS_BUCKET]: [HOST, "responder"],
  },
  // Only the recorder decides cancels: one another identity could write would silence a conversation.
  [RECORDER_IDENTITY]: {
    [KEYS_BUCKET]: [RECORDER_IDENTITY],
    [CARDS_BUCKET]: [RECORDER_IDENTITY],
    [CONVS_BUCKET]: ["*"],
  },
  [GATEWAY]: {
    [CONTROL_BUCKET]: ["*"],
    [DEPLOYS_BUCKET]: ["*"],
    [KEYS_BUCKET]: [GATEWAY, "browser"],
    [CARDS_BUCKET]: [GATEWAY, "browser"],
  },
  [BRIDGE]: { [GITHUB_BUCKET]: ["*"], [KEYS_BUCKET]: [BRIDGE], [CARDS_BUCKET]: [BRIDGE] },
  [EXT]: { [KEYS_BUCKET]: [EXT], [CARDS_BUCKET]: [EXT], [PROCESSED_BUCKET]: [`${EXT}.m1`] },
};

interface Probe {
  what: string;
  subject: string;
  intended: (who: string) => boolean;
  /** Runs last: it changes things (only the admin may). */
  destructive?: boolean;
}

const admin = (who: string) => who === ADMIN_IDENTITY;
const reads = (bucket: string) => (who: string) => admin(who) || (READS[who] ?? []).includes(bucket);

function probes(): Probe[] {
  const out: Probe[] = [];
  const api = (verb: string) => `$JS.API.${verb}`;
  out.push({ what: "STREAM.NAMES", subject: api("STREAM.NAMES"), intended: admin });
  out.push({ what: "STREAM.LIST", subject: api("STREAM.LIST"), intended: admin });
  out.push({ what: "account INFO", subject: api("INFO"), intended: () => true });
  for (const s of STREAMS) {
    const bucket = BUCKETS.find((b) => kvStream(b) === s);
    // The component registry: hosts and the gateway (its deploy checks) read it; only the admin pushes.
    const registryReader = (who: string) => admin(who) || who === HOST || who === GATEWAY;
    const read = bucket ? reads(bucket) : s === COMPONENTS_STREAM ? registryReader : admin;
    out.push({
      what: `STREAM.INFO ${s}`,
      subject: api(`STREAM.INFO.${s}`),
      intended: (who) => read(who) || (INFO[who] ?? []).includes(s),
    });
    out.push({ what: `STREAM.MSG.GET ${s}`, subject: api(`STREAM.MSG.GET.${s}`), intended: read });
    out.push({ what: `DIRECT.GET ${s}`, subject: api(`DIRECT.GET.${s}.x`), intended: read });
    out.push({
      what: `watch (ordered consumer) ${s}`,
      subject: api(`CONSUMER.CREATE.${s}.oc_probe.x`),
      intended: read,
    });
    // Unnamed: JetStream lets its config name any consumer, which it then updates.
    out.push({ what: `CONSUMER.CREATE (unnamed) ${s}`, subject: api(`CONSUMER.CREATE.${s}`), intended: admin });
    out.push({ what: `CONSUMER.LIST ${s}`, subject: api(`CONSUMER.LIST.${s}`), intended: admin });
    out.push({ what: `CONSUMER.NAMES ${s}`, subject: api(`CONSUMER.NAMES.${s}`), intended: admin });
    out.push({ what: `STREAM.CREATE ${s}`, subject: api(`STREAM.CREATE.${s}`), intended: admin });
    for (const verb of ["STREAM.UPDATE", "STREAM.MSG.DELETE", "STREAM.PURGE", "STREAM.DELETE"]) {
      out.push({ what: `${verb} ${s}`, subject: api(`${verb}.${s}`), intended: admin, destructive: true });
    }
  }
  for (const { name: d, owner: who, filter } of DURABLES) {
    const owner = (x: string) => admin(x) || x === who;
    const create = api(`CONSUMER.CREATE.${STREAM}.${d}`);
    out.push({
      what: `CONSUMER.CREATE ${d} (its filter)`,
      subject: filter ? `${create}.${filter}` : create,
      intended: owner,
    });
    // Re-pointing a filtered consumer at other subjects (or at all of them) would read what its owner may not.
    if (filter) out.push({ what: `CONSUMER.CREATE ${d} (no filter)`, subject: create, intended: admin });
    out.push({ what: `CONSUMER.CREATE ${d} (another filter)`, subject: `${create}.agora.ev.x`, intended: admin });
    out.push({
      what: `CONSUMER.DURABLE.CREATE ${d}`,
      subject: api(`CONSUMER.DURABLE.CREATE.${STREAM}.${d}`),
      intended: admin,
    });
    for (const verb of ["CONSUMER.INFO", "CONSUMER.MSG.NEXT"]) {
      out.push({ what: `${verb} ${d}`, subject: api(`${verb}.${STREAM}.${d}`), intended: owner });
    }
    out.push({ what: `ack ${d}`, subject: `$JS.ACK.${STREAM}.${d}.1.1.1.0.0`, intended: owner });
    out.push({
      what: `CONSUMER.DELETE ${d}`,
      subject: api(`CONSUMER.DELETE.${STREAM}.${d}`),
      intended: owner,
      destructive: true,
    });
  }
  for (const part of ["C", "M"]) {
    out.push({
      what: `object store put (${part}) ${COMPONENTS_STORE}`,
      subject: `$O.${COMPONENTS_STORE}.${part}.x`,
      intended: admin,
    });
  }
  const markerGet = (key: string) => api(`DIRECT.GET.${kvStream(PROCESSED_BUCKET)}.$KV.${PROCESSED_BUCKET}.${key}`);
  out.push({
    what: "marker get",
    subject: markerGet(`${EXT}.m1`),
    intended: (w) => reads(PROCESSED_BUCKET)(w) || w === EXT,
  });
  out.push({
    what: "marker get (another's)",
    subject: markerGet("responder.m1"),
    intended: (w) => reads(PROCESSED_BUCKET)(w) || w === EXT,
  });
  out.push({ what: "write-ahead log get", subject: markerGet("wal.responder"), intended: reads(PROCESSED_BUCKET) });
  for (const b of BUCKETS) {
    for (const key of [
      HOST,
      RECORDER_IDENTITY,
      GATEWAY,
      BRIDGE,
      EXT,
      "responder",
      "browser",
      "wal.responder",
      `${EXT}.m1`,
      "responder.m1",
    ]) {
      out.push({
        what: `KV put ${b}.${key}`,
        subject: `$KV.${b}.${key}`,
        intended: (who) => {
          const keys = WRITES[who]?.[b] ?? [];
          return admin(who) || keys.includes("*") || keys.includes(key);
        },
      });
    }
  }
  out.push({ what: "control publish", subject: "agora.ctl.kill", intended: (who) => admin(who) || who === GATEWAY });
  // A control's acknowledgement: hosts only (no identity may answer on another's inbox).
  out.push({ what: "control ack publish", subject: "agora.ctlack.x", intended: (who) => admin(who) || who === HOST });
  return out;
}

/** True when the server let the publish through (any answer, an error from JetStream, no responder, a timeout). */
async function permitted(nc: NatsConnection, subject: string): Promise<boolean> {
  try {
    await nc.request(subject, "{}", { timeout: 400 });
    return true;
  } catch (err) {
    const cause = (err as Error).cause;
    return !(err instanceof errors.PermissionViolationError || cause instanceof errors.PermissionViolationError);
  }
}

describe("JetStream API permissions", () => {
  let dir: string;
  let nats: TestNats;
  let config: AgoraConfig;
  const conns = new Map<string, NatsConnection>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "agora-perms-"));
    config = parseConfig(
      {
        data: join(dir, "data"),
        host: { name: HOST },
        channels: { work: null, gh: null },
        agents: { responder: { component: agentWasm("responder"), read: ["work"], write: ["work"] } },
        external: {
          ext: { read: ["work"], write: ["work"] },
          operator: { write: ["work"] },
          browser: { write: ["work"], browser: true },
          "github-bridge": { read: ["gh"], write: ["gh"] },
        },
        github: { repos: { "acme/widgets": { channel: "gh" } } },
      },
      { baseDir: dir, env: {} },
    );
    ensureIdentityKeys(config);
    writeAuthorization(config, join(dir, "auth.conf"));
    nats = await startNats({ args: ["-c", join(dir, "auth.conf")] });
    const store = new KeyStore(config.keysDir);
    for (const name of natsIdentities(config)) {
      conns.set(name, await connectNats({ url: nats.url, name, identity: store.load(name) }));
    }
    const infra = await openInfrastructure(conns.get(ADMIN_IDENTITY)!, config, { create: true });
    for (const { name, filter } of DURABLES) {
      await infra.jsm.consumers.add(STREAM, {
        durable_name: name,
        ack_policy: AckPolicy.Explicit,
        ...(filter ? { filter_subject: filter } : {}),
      });
    }
  });

  afterAll(async () => {
    await Promise.all([...conns.values()].map((c) => c.close()));
    await nats?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("permissions - every identity logs in with its own key; an anonymous client is refused", async () => {
    expect([...conns.keys()].sort()).toEqual([ADMIN_IDENTITY, BRIDGE, EXT, HOST, GATEWAY, RECORDER_IDENTITY].sort());
    await expect(connectNats({ url: nats.url, name: "anonymous", timeoutMs: 2000 })).rejects.toThrow(
      /cannot connect to NATS/,
    );
  });

  it("permissions - every identity × every JetStream API verb on every stream, bucket and consumer: exactly the intended ones pass", async () => {
    const all = probes();
    // The admin's destructive verbs run last: they remove what the others probe.
    const order = [...natsIdentities(config).filter((n) => n !== ADMIN_IDENTITY), ADMIN_IDENTITY];
    const mismatches: string[] = [];
    let checked = 0;
    for (const phase of [false, true]) {
      for (const who of order) {
        const nc = conns.get(who)!;
        const batch = all.filter((p) => Boolean(p.destructive) === phase);
        // One at a time: a refusal comes back as an error naming the subject, not the request.
        for (const p of batch) {
          const result = await permitted(nc, p.subject);
          checked++;
          if (result !== p.intended(who)) {
            mismatches.push(`${who}: ${p.what} (${p.subject}) ${result ? "passed" : "was refused"}`);
          }
        }
      }
    }
    console.log(
      `permissions: ${checked} (identity, verb, target) probes over ${order.length} identities, ${BUCKETS.length} buckets`,
    );
    expect(mismatches).toEqual([]);
    // The matrix is not vacuous: non-admins were refused stream deletes and purges, the admin was not.
    expect(all.filter((p) => p.destructive && p.what.startsWith("STREAM.DELETE")).length).toBe(STREAMS.length);
  });

  it("permissions - replies are private: no identity subscribes to another's inbox, the control subjects or channels it may not read", async () => {
    /** True when the server accepted the subscription (no permission error within a flush and a moment). */
    const subscribes = async (who: string, subject: string) => {
      const nc = conns.get(who)!;
      let refused = false;
      const sub = nc.subscribe(subject, {
        callback: (err) => {
          if (err) refused = true;
        },
      });
      await nc.flush();
      await new Promise((r) => setTimeout(r, 100));
      sub.unsubscribe();
      return !refused;
    };
    const cases: [string, string, boolean][] = [
      [EXT, "_INBOX.ext.x", true],
      [EXT, `_INBOX.${HOST}.>`, false],
      [EXT, "_INBOX.>", false],
      [EXT, "agora.ctl.>", false],
      [EXT, "agora.ch.work", true],
      [EXT, "agora.ch.gh", false],
      [BRIDGE, `_INBOX.${GATEWAY}.>`, false],
      [BRIDGE, "agora.ch.work", false],
      [GATEWAY, `_INBOX.${HOST}.>`, false],
      [HOST, "agora.ctl.kill", true],
      [HOST, "agora.ctlack.>", false],
      [GATEWAY, "agora.ctlack.>", true],
      [EXT, "agora.ctlack.>", false],
      [HOST, `_INBOX.${RECORDER_IDENTITY}.>`, false],
      [RECORDER_IDENTITY, ">", false],
      [ADMIN_IDENTITY, ">", true],
    ];
    const wrong: string[] = [];
    for (const [who, subject, intended] of cases) {
      if ((await subscribes(who, subject)) !== intended)
        wrong.push(`${who} ${subject}: ${intended ? "refused" : "allowed"}`);
    }
    expect(wrong).toEqual([]);
  });
});
