// A whole agora for one test: nats-server, temp data dir, config, host, clients.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { factFiles } from "../../facts/fact-log.js";
import type { Fact } from "../../facts/fact.js";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { AgoraClient } from "../../sdk/client.js";
import { parseConfig, type AgoraConfig } from "../../config/config.js";
import { Host } from "../../host/host.js";
import type { HostEvent } from "../../protocol/events.js";
import { KeyRegistry } from "../../trust/key-registry.js";
import { KeyStore } from "../../trust/key-store.js";
import { openInfrastructure, type Infrastructure } from "../../transport/infrastructure.js";
import type { Recorder } from "../../facts/recorder.js";
import { RecorderThread } from "../../facts/recorder-thread.js";
import { Gateway } from "../../gateway/gateway.js";
import { GithubBridge, type BridgeOptions } from "../../gateway/github/bridge.js";
import { startNats, type TestNats } from "./nats-server.js";
import { connectNats } from "../../transport/connect.js";
import { ensureIdentityKeys, writeAuthorization } from "../../transport/embedded.js";
import { natsIdentities } from "../../transport/authorization.js";
import { ADMIN_IDENTITY } from "../../protocol/names.js";
import { agentWasm } from "./paths.js";

/** Gateway tokens used by tests. */
export const TOKENS = { viewer: "viewer-token-0123456789", operator: "operator-token-0123456789", generated: false };

/** The responder and the voter reading and writing `work`, where the external identity `writer` writes. */
export function responderAndVoter(writer: string): AgoraSpec {
  return {
    channels: ["work"],
    agents: {
      responder: { component: agentWasm("responder"), read: ["work"], write: ["work"] },
      voter: { component: agentWasm("voter"), read: ["work"], write: ["work"] },
    },
    external: { [writer]: { write: ["work"] } },
  };
}

export interface AgoraSpec {
  channels: string[];
  agents?: Record<string, { component: string; read?: string[]; write?: string[] }>;
  external?: Record<
    string,
    { read?: string[]; write?: string[]; publicKey?: string; browser?: boolean; actsPerMinute?: number }
  >;
  limits?: Record<string, unknown>;
  github?: Record<string, unknown>;
  gateway?: Record<string, unknown>;
  /** More hosts' names (each logs in with its own key; events they sign are accepted). */
  hosts?: string[];
  components?: Record<string, unknown>;
}

export interface TestAgora {
  nats: TestNats;
  dir: string;
  config: AgoraConfig;
  /** The admin identity's connection. */
  nc: NatsConnection;
  /** A new connection logged in as `identity` (closed with the agora). */
  connect(identity: string): Promise<NatsConnection>;
  host?: Host;
  /** The facts recorder: on its own thread, as `agora up` runs it (a test may set an in-process one). */
  recorder?: Pick<Recorder, "waitFor" | "close">;
  keys: KeyStore;
  infra: Infrastructure;
  gateway?: Gateway;
  bridge?: GithubBridge;
  startRecorder(): Promise<RecorderThread>;
  /** Build (not listen) a gateway with the TOKENS below, serving `bridge`'s webhook when given. */
  startGateway(options?: { bridge?: GithubBridge }): Promise<Gateway>;
  /** Start the GitHub bridge, logged in as its own identity (so its permissions hold). */
  startBridge(options: Omit<BridgeOptions, "config" | "nc">): Promise<GithubBridge>;
  /** Wait until the recorder has written everything now in the stream. */
  settleFacts(): Promise<void>;
  startHost(options?: { agents?: string[] }): Promise<Host>;
  stopHost(): Promise<void>;
  /** A client for an external identity (key generated and registered on first use). */
  client(name: string): Promise<AgoraClient>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A whole agora on a real nats-server. Unless a server is passed in, it runs
 * with the authorization agora generates (auth on, as `agora up` does): the
 * host, the recorder and the gateway each log in with their own key; `nc` is the
 * admin's connection (tests use it to set things up and to look behind the scenes).
 */
export async function startAgora(spec: AgoraSpec, existing?: { nats?: TestNats }): Promise<TestAgora> {
  const dir = mkdtempSync(join(tmpdir(), "agora-test-"));
  const raw = {
    data: join(dir, "data"),
    channels: Object.fromEntries(spec.channels.map((c) => [c, null])),
    agents: spec.agents ?? {},
    external: spec.external ?? {},
    limits: spec.limits ?? {},
    ...(spec.github ? { github: spec.github } : {}),
    ...(spec.gateway ? { gateway: spec.gateway } : {}),
    ...(spec.hosts ? { hosts: spec.hosts } : {}),
    ...(spec.components ? { components: spec.components } : {}),
    host: { workers: 1 },
  };
  const auth = !existing?.nats;
  let nats = existing?.nats;
  if (!nats) {
    const draft = parseConfig(raw, { baseDir: dir, env: {} });
    ensureIdentityKeys(draft);
    const authFile = join(dir, "nats-auth.conf");
    writeAuthorization(draft, authFile);
    // AGORA_TEST_NATS_LOGS=<dir> keeps each server's log (permission violations show there).
    const logs = process.env.AGORA_TEST_NATS_LOGS;
    nats = await startNats({ args: ["-c", authFile], logFile: logs ? join(logs, `${basename(dir)}.log`) : undefined });
  }
  const config = parseConfig(raw, {
    baseDir: dir,
    env: { NATS_URL: nats.url, ...(auth ? {} : { AGORA_NATS_AUTH: "none" }) },
  });
  const keys = new KeyStore(config.keysDir);
  const users = new Set(auth ? natsIdentities(config) : []);
  const connections = new Set<NatsConnection>();
  /** A connection as `identity`: logged in with its key when the server has auth on. */
  const connectAs = async (identity: string) => {
    const nc = await connectNats({
      url: nats.url,
      name: `test-${identity}`,
      identity: users.has(identity) ? keys.loadOrGenerate(identity) : undefined,
    });
    connections.add(nc);
    return nc;
  };
  const nc = await connectAs(ADMIN_IDENTITY);
  const infra = await openInfrastructure(nc, config, { create: true });
  for (const name of keys.names()) await KeyRegistry.publish(infra.keys, name, keys.load(name).publicKey);
  for (const e of config.external) if (e.publicKey) await KeyRegistry.publish(infra.keys, e.name, e.publicKey);
  const clients = new Map<string, AgoraClient>();
  let hostNc: NatsConnection | undefined;
  const t: TestAgora = {
    nats,
    dir,
    config,
    nc,
    keys,
    infra,
    connect: connectAs,
    async startGateway(options) {
      t.gateway = await Gateway.create({
        config,
        nc: await connectAs(config.gateway.identity),
        hostMetrics: t.host?.metrics,
        tokens: TOKENS,
        bridge: options?.bridge,
      });
      return t.gateway;
    },
    async startBridge(options) {
      t.bridge = await GithubBridge.start({ ...options, config, nc: await connectAs(config.github!.identity) });
      return t.bridge;
    },
    async startRecorder() {
      const recorder = await RecorderThread.start({ config, url: nats.url });
      t.recorder = recorder;
      return recorder;
    },
    async settleFacts() {
      const info = await infra.jsm.streams.info("AGORA");
      await t.recorder!.waitFor(info.state.last_seq);
    },
    async startHost(options) {
      hostNc = await connectAs(config.host.name);
      t.host = await Host.start({ config, nc: hostNc, agents: options?.agents });
      return t.host;
    },
    async stopHost() {
      await t.host?.close();
      t.host = undefined;
      if (hostNc) {
        connections.delete(hostNc);
        await hostNc.drain().catch(() => {});
      }
    },
    async client(name) {
      let c = clients.get(name);
      if (!c) {
        const id = keys.loadOrGenerate(name);
        await KeyRegistry.publish(infra.keys, name, id.publicKey);
        // An identity the config does not declare has no NATS login: it sends through the admin's connection.
        c = new AgoraClient(users.has(name) ? await connectAs(name) : nc, id);
        clients.set(name, c);
      }
      return c;
    },
    async close() {
      await t.gateway?.close();
      await t.bridge?.close();
      await t.host?.close();
      await t.recorder?.close();
      await Promise.all([...connections].map((c) => c.drain().catch(() => {})));
      if (!existing?.nats) await nats.close();
      rmSync(dir, { recursive: true, force: true });
    },
    [Symbol.asyncDispose]: () => t.close(),
  };
  return t;
}

/** Poll `probe` until it returns true or `ms` passes. */
export async function until(probe: () => boolean | Promise<boolean>, ms = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every fact in a facts directory, in chain order. */
export function readFacts(dir: string): Fact[] {
  return factFiles(dir).flatMap(
    (f) => (parseYaml(readFileSync(join(dir, f), "utf8")) as { artifacts: Fact[] }).artifacts,
  );
}

/** Push every event of `host` into `into` (until the host closes). */
export function collectEvents(host: Host, into: HostEvent[]): void {
  void (async () => {
    for await (const e of host.events.subscribe()) into.push(e);
  })();
}
