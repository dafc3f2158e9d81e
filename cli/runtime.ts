// Shared start-up for `agora up` and `agora host`: NATS, recorder, host.
import { rmSync, writeFileSync } from "node:fs";
import type { NatsConnection } from "@nats-io/transport-node";
import type { AgoraConfig } from "../config/config.js";
import { Host } from "../host/host.js";
import { KeyRegistry } from "../trust/key-registry.js";
import { KeyStore } from "../trust/key-store.js";
import { openInfrastructure } from "../transport/infrastructure.js";
import { NatsServer, ensureNatsServer } from "../transport/nats-server.js";
import { Recorder } from "../facts/recorder.js";
import { Gateway } from "../gateway/gateway.js";
import { GithubBridge } from "../gateway/github/bridge.js";
import { isAgoraError } from "../protocol/errors.js";
import { embeddedUrlFile, natsUrlOf } from "./nats-url.js";
import { connectNats } from "../transport/connect.js";

export interface Running {
  server?: NatsServer;
  gateway?: Gateway;
  nc: NatsConnection;
  host: Host;
  recorder?: Recorder;
  url: string;
  close(): Promise<void>;
}

export async function startRuntime(
  config: AgoraConfig,
  options: { embedded: boolean; agents?: string[]; facts: boolean; gateway?: boolean; log: (line: string) => void },
): Promise<Running> {
  const { log } = options;
  let server: NatsServer | undefined;
  let url = config.nats.url;
  if (!url) {
    if (!options.embedded) url = natsUrlOf(config);
    else {
      ensureNatsServer({ install: true, log });
      log(`starting nats-server -js (store ${config.natsStoreDir}) on ${config.nats.host}:${config.nats.port} …`);
      try {
        server = await NatsServer.start({
          storeDir: config.natsStoreDir,
          host: config.nats.host,
          port: config.nats.port,
        });
      } catch (err) {
        if (!/address already in use/.test(String((err as Error).message))) throw err;
        // e.g. Debian's nats-server service already on 4222: take a free port instead.
        log(`port ${config.nats.port} is taken (a system nats-server service?); using a free port`);
        server = await NatsServer.start({ storeDir: config.natsStoreDir, host: config.nats.host, port: 0 });
      }
      url = server.url;
      writeFileSync(embeddedUrlFile(config), `${url}\n`);
    }
  }
  const hostId =
    config.nats.auth === "nkey" && !server ? new KeyStore(config.keysDir).loadOrGenerate(config.host.name) : undefined;
  const nc = await connectNats({ url, name: `agora-${config.host.name}`, identity: hostId }).catch(async (err) => {
    await server?.stop();
    throw err;
  });
  log(`connected to NATS at ${url}`);
  const infra = await openInfrastructure(nc, config);
  // External identities declared without a public key get a local key (demo convenience).
  const store = new KeyStore(config.keysDir);
  for (const ext of config.external) {
    if (ext.publicKey || ext.browser) continue;
    const created = !store.has(ext.name);
    const id = store.loadOrGenerate(ext.name);
    await KeyRegistry.publish(infra.keys, ext.name, id.publicKey).catch((err) =>
      log(`key ${ext.name}: ${String(err)}`),
    );
    if (created) log(`generated key for external agent ${ext.name} in ${config.keysDir}`);
  }
  const recorder = options.facts ? await Recorder.start({ config, nc, log }) : undefined;
  if (recorder) log(`recording facts to ${config.factsDir}`);
  void recorder?.closed().then((err) => err && log(`${err.message}; facts are not being recorded — restart to resume`));
  const host = await Host.start({ config, nc, agents: options.agents, log });
  for (const [name] of host.runtimes) {
    const a = config.agents.find((x) => x.name === name)!;
    log(`agent ${name}: running (reads ${a.read.join(", ") || "-"}; writes ${a.write.join(", ") || "-"})`);
  }
  let bridge: GithubBridge | undefined;
  if (config.github && options.gateway) {
    try {
      bridge = await GithubBridge.start({ config, nc, log });
      log(
        `github bridge: ${config.github.repos.map((r) => `${r.repo} ↔ ${r.channel}`).join(", ")}; webhook at /github/webhook`,
      );
    } catch (err) {
      log(`github bridge not started: ${isAgoraError(err) ? `${err.code}: ${err.message}` : String(err)}`);
    }
  }
  let gateway: Gateway | undefined;
  if (options.gateway) {
    gateway = await Gateway.create({ config, nc, hostMetrics: host.metrics, bridge });
    await gateway.listen({ host: config.gateway.host, port: config.gateway.port });
  }
  return {
    server,
    gateway,
    nc,
    host,
    recorder,
    url,
    async close() {
      await gateway?.close();
      await bridge?.close();
      await host.close();
      await recorder?.close();
      await nc.drain().catch(() => {});
      await server?.stop();
      if (server) rmSync(embeddedUrlFile(config), { force: true });
    },
  };
}
