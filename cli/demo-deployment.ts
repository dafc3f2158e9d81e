// A throwaway deployment for `agora demo …`: a temp dir, a private nats-server
// with auth on (or the NATS_URL given, as it is), the recorder and a host, every
// role logged in with its own key — all removed afterwards.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { parseConfig, type AgoraConfig } from "../config/config.js";
import { Recorder } from "../facts/recorder.js";
import { factFiles, readFactsFile } from "../facts/fact-log.js";
import type { Fact } from "../facts/fact.js";
import { Host } from "../host/host.js";
import type { HostEvent } from "../protocol/events.js";
import { ADMIN_IDENTITY, RECORDER_IDENTITY } from "../protocol/names.js";
import { AgoraClient } from "../sdk/client.js";
import { connectNats } from "../transport/connect.js";
import { startConfiguredNats } from "../transport/embedded.js";
import { openInfrastructure, type Infrastructure } from "../transport/infrastructure.js";
import { KeyRegistry } from "../trust/key-registry.js";
import { KeyStore } from "../trust/key-store.js";

export interface DemoOptions {
  /** Use this NATS instead of starting a private nats-server. */
  natsUrl?: string;
  log?: (line: string) => void;
}

export interface DemoDeployment {
  config: AgoraConfig;
  infra: Infrastructure;
  host: Host;
  /** Every event the host reported so far. */
  events: HostEvent[];
  /** An external identity's client, its key registered, logged in as itself. */
  client(name: string): Promise<AgoraClient>;
  /** Wait until everything now in the stream is a fact; then the facts. */
  facts(): Promise<Fact[]>;
  /** Poll `ready` every 50 ms until it holds or `ms` pass (false then). */
  until(ready: () => boolean | Promise<boolean>, ms: number): Promise<boolean>;
}

/** Run `f` on a fresh deployment of `raw` (a config as agora.yaml has it, without `data`), then remove it all. */
export async function withDemoDeployment<T>(
  raw: Record<string, unknown>,
  options: DemoOptions,
  f: (d: DemoDeployment) => Promise<T>,
): Promise<T> {
  const log = options.log ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), "agora-demo-"));
  const config = parseConfig(
    { ...raw, data: join(dir, "data") },
    // A private server has auth on, as agora up; a NATS of yours is used as it is.
    { baseDir: dir, env: options.natsUrl ? { AGORA_NATS_AUTH: "none" } : {} },
  );
  const server = options.natsUrl
    ? undefined
    : await startConfiguredNats(config, { storeDir: join(dir, "nats"), configFile: join(dir, "nats-server.conf") });
  const url = options.natsUrl ?? server!.url;
  log(`nats: ${url}${server ? " (private nats-server for this demo, auth on)" : ""}`);
  const keys = new KeyStore(config.keysDir);
  const connections: NatsConnection[] = [];
  /** Each role logs in with its own key (anonymous on a NATS without auth). */
  const connect = async (identity: string) => {
    const c = await connectNats({
      url,
      name: `agora-demo-${identity}`,
      identity: config.nats.auth === "nkey" ? keys.loadOrGenerate(identity) : undefined,
    });
    connections.push(c);
    return c;
  };
  let host: Host | undefined;
  let recorder: Recorder | undefined;
  let collecting: Promise<void> | undefined;
  let sub: AsyncIterator<HostEvent> | undefined;
  try {
    const nc = await connect(ADMIN_IDENTITY);
    const infra = await openInfrastructure(nc, config, { create: true });
    recorder = await Recorder.start({ config, nc: await connect(RECORDER_IDENTITY) });
    host = await Host.start({ config, nc: await connect(config.host.name) });
    const events: HostEvent[] = [];
    const subscription = host.events.subscribe();
    sub = subscription;
    collecting = (async () => {
      for await (const e of subscription) events.push(e);
    })();
    const rec = recorder;
    return await f({
      config,
      infra,
      host,
      events,
      async client(name) {
        const id = keys.loadOrGenerate(name);
        await KeyRegistry.publish(infra.keys, name, id.publicKey);
        return new AgoraClient(await connect(name), id);
      },
      async facts() {
        await rec.waitFor((await infra.jsm.streams.info("AGORA")).state.last_seq);
        return factFiles(config.factsDir).flatMap(
          (file) => readFactsFile(readFileSync(join(config.factsDir, file), "utf8")).facts,
        );
      },
      async until(ready, ms) {
        for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50)))
          if (await ready()) return true;
        return false;
      },
    });
  } finally {
    await sub?.return?.();
    await collecting;
    await host?.close();
    await recorder?.close();
    await Promise.all(connections.map((c) => c.drain().catch(() => {})));
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
