// Integrity of what is stored beside the stream, under the default config (auth
// on): an identity that does not own a record cannot change it. Each attack of
// issue 13 against agora-state, agora-processed, agora-leases, agora-agents and
// agora-keys, tried by an external agent (and by the gateway, which is not a host),
// is refused by the server — and the agent it aimed at goes on answering.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kvm, type KV } from "@nats-io/kv";
import { jetstream } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { generateRawKeyPair } from "../../trust/signing.js";
import {
  AGENTS_BUCKET,
  CARDS_BUCKET,
  CONTROL_BUCKET,
  KEYS_BUCKET,
  leaseKey,
  LEASES_BUCKET,
  markerKey,
  PROCESSED_BUCKET,
  STATE_BUCKET,
  stateKey,
  walKey,
} from "../../protocol/subjects.js";
import { startAgora, until, type TestAgora } from "../helpers/agora.js";
import { startNats } from "../helpers/nats-server.js";
import { agentWasm } from "../helpers/paths.js";

const refused = /[Pp]ermission/;

describe("integrity of stored records (auth on, the default)", () => {
  let a: TestAgora;
  let mallory: NatsConnection;
  let gateway: NatsConnection;
  const answered = new Set<string>();

  const bucket = (nc: NatsConnection, name: string): Promise<KV> => new Kvm(nc).open(name, { allow_direct: true });

  /** The responder still answers a fresh request (its id may be chosen). */
  async function responderAnswers(id?: string): Promise<void> {
    const maintainer = await a.client("maintainer");
    const { env } = await maintainer.send("work", "request", { n: 1 }, id ? { id } : {});
    await until(() => answered.has(env.id), 10_000, `an answer to ${env.id}`);
  }

  beforeAll(async () => {
    a = await startAgora({
      channels: ["work"],
      agents: { responder: { component: agentWasm("responder"), read: ["work"], write: ["work"] } },
      external: {
        maintainer: { read: ["work"], write: ["work"] },
        mallory: { read: ["work"], write: ["work"] },
        operator: { write: ["work"] },
        "console-user": { browser: true, write: ["work"] },
      },
    });
    await a.startHost();
    mallory = await a.connect("mallory");
    gateway = await a.connect("operator");
    a.nc.subscribe("agora.ch.work", {
      callback: (_e, m) => {
        const re = (JSON.parse(m.string()) as { re?: string }).re;
        if (re) answered.add(re);
      },
    });
    await responderAnswers();
  });

  afterAll(() => a?.close());

  it("integrity - no one but a host changes an agent's state (put, create, delete, purge)", async () => {
    const key = stateKey("responder", "rule");
    for (const nc of [mallory, gateway]) {
      const kv = await bucket(nc, STATE_BUCKET);
      await expect(kv.put(key, '"forged"')).rejects.toThrow(refused);
      await expect(kv.create(key, '"forged"')).rejects.toThrow(refused);
      await expect(kv.delete(key)).rejects.toThrow(refused);
      await expect(kv.purge(key)).rejects.toThrow(refused);
    }
    expect(await a.infra.state.get(key)).toBeNull();
  });

  it("integrity - a processed marker cannot be pre-claimed: the chosen message is still answered", async () => {
    const id = "preclaimed-0001";
    for (const nc of [mallory, gateway]) {
      const kv = await bucket(nc, PROCESSED_BUCKET);
      await expect(kv.create(markerKey("responder", id), "1")).rejects.toThrow(refused);
      // Nor a junk write-ahead log that would silence the agent.
      await expect(kv.put(walKey("responder"), "junk")).rejects.toThrow(refused);
    }
    await responderAnswers(id);
  });

  it("integrity - a lease cannot be hijacked or dropped; the agent's status cannot be forged", async () => {
    const before = await a.infra.leases.get(leaseKey("responder"));
    expect(before?.string()).toContain(a.config.host.name);
    for (const nc of [mallory, gateway]) {
      const leases = await bucket(nc, LEASES_BUCKET);
      await expect(leases.put(leaseKey("responder"), JSON.stringify({ host: "mallory" }))).rejects.toThrow(refused);
      await expect(leases.delete(leaseKey("responder"))).rejects.toThrow(refused);
      const agents = await bucket(nc, AGENTS_BUCKET);
      await expect(agents.put("responder", JSON.stringify({ status: "running" }))).rejects.toThrow(refused);
    }
    expect((await a.infra.leases.get(leaseKey("responder")))?.revision).toBeGreaterThanOrEqual(before!.revision);
    expect((await a.infra.leases.get(leaseKey("responder")))?.string()).toContain(a.config.host.name);
    await responderAnswers();
  });

  it("integrity - no identity registers a key for another, browser identities included", async () => {
    const forged = generateRawKeyPair().publicKey;
    const keys = await bucket(mallory, KEYS_BUCKET);
    for (const victim of ["console-user", "maintainer", "responder", a.config.host.name]) {
      await expect(keys.put(victim, forged)).rejects.toThrow(refused);
      await expect(keys.delete(victim)).rejects.toThrow(refused);
    }
    expect(await a.infra.keys.get("console-user")).toBeNull();
    // Its own key, though, it may register (the one it logs in with).
    await expect(keys.put("mallory", a.keys.load("mallory").publicKey)).resolves.toBeGreaterThan(0);
  });

  it("integrity - a put to one's own key with Nats-Rollup: all cannot erase a bucket (no bucket allows rollups)", async () => {
    const js = jetstream(mallory);
    for (const [bucket, key] of [
      [KEYS_BUCKET, "mallory"],
      [PROCESSED_BUCKET, "mallory.m1"],
      [CARDS_BUCKET, "mallory"],
    ] as const) {
      const h = headers();
      h.set("Nats-Rollup", "all");
      await expect(js.publish(`$KV.${bucket}.${key}`, "x", { headers: h })).rejects.toThrow(/rollup/i);
    }
    expect((await a.infra.keys.get("responder"))?.string()).toBe(a.keys.load("responder").publicKey);
    // The responder's processed markers are all still there.
    for (const id of answered) expect(await a.infra.processed.get(markerKey("responder", id))).not.toBeNull();
  });

  it("integrity - only the gateway writes controls: an external agent cannot forge or erase a kill", async () => {
    const control = await bucket(mallory, CONTROL_BUCKET);
    await expect(control.put("agent.responder", "{}")).rejects.toThrow(refused);
    await expect(control.purge("agent.responder")).rejects.toThrow(refused);
  });

  it("integrity - the same write goes through on a server without auth (nats.auth: none is a choice, with a warning)", async () => {
    await using nats = await startNats();
    await using open = await startAgora({ channels: ["work"] }, { nats });
    const kv = await bucket(await open.connect("mallory"), STATE_BUCKET);
    await expect(kv.put(stateKey("responder", "rule"), '"forged"')).resolves.toBeGreaterThan(0);
    expect(open.config.nats.auth).toBe("none");
  });
});
