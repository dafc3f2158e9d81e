// Shared start-up for `agora up` and `agora host`: NATS, recorder, host.
import { rmSync, writeFileSync } from "node:fs";
import type { NatsConnection } from "@nats-io/transport-node";
import type { AgoraConfig } from "../config/config.js";
import { Host } from "../host/host.js";
import { KeyRegistry } from "../trust/key-registry.js";
import { KeyStore } from "../trust/key-store.js";
import { openInfrastructure } from "../transport/infrastructure.js";
import type { NatsServer } from "../transport/nats-server.js";
import { ensureNatsServer } from "../transport/nats-server.js";
import { ensureIdentityKeys, startConfiguredNats } from "../transport/embedded.js";
import { ADMIN_IDENTITY } from "../protocol/names.js";
import { RecorderThread } from "../facts/recorder-thread.js";
import { Gateway } from "../gateway/gateway.js";
import { GithubBridge } from "../gateway/github/bridge.js";
import { isAgoraError } from "../protocol/errors.js";
import { connectAs } from "./nats-url.js";
import { embeddedUrlFile, natsUrlOf, serverConfigFile } from "../config/paths.js";

export interface Running {
  server?: NatsServer;
  gateway?: Gateway;
  nc: NatsConnection;
  host: Host;
  recorder?: RecorderThread;
  url: string;
  close(): Promise<void>;
}

export async function startRuntime(
  config: AgoraConfig,
  options: { embedded: boolean; agents?: string[]; facts: boolean; gateway?: boolean; log: (line: string) => void },
): Promise<Running> {
  const { log } = options;
  const auth = config.nats.auth === "nkey";
  if (!auth) {
    log(
      "WARNING: nats.auth is none — anyone who reaches NATS can read every channel and change agora's state; remove it (nkey is the default)",
    );
  }
  let server: NatsServer | undefined;
  let url = config.nats.url;
  if (!url) {
    if (!options.embedded) url = natsUrlOf(config);
    else {
      ensureNatsServer({ install: true, log });
      log(
        `starting nats-server -js (store ${config.natsStoreDir}${auth ? ", nkey authorization" : ", NO authentication"}) on ${config.nats.host}:${config.nats.port} …`,
      );
      const made = auth ? ensureIdentityKeys(config) : [];
      if (made.length > 0) log(`generated keys for ${made.join(", ")} in ${config.keysDir}`);
      const start = (port: number) =>
        startConfiguredNats(config, {
          storeDir: config.natsStoreDir,
          host: config.nats.host,
          port,
          configFile: serverConfigFile(config),
        });
      try {
        server = await start(config.nats.port);
      } catch (err) {
        if (!/address already in use/.test(String((err as Error).message))) throw err;
        // e.g. Debian's nats-server service already on 4222: take a free port instead.
        log(`port ${config.nats.port} is taken (a system nats-server service?); using a free port`);
        server = await start(0);
      }
      url = server.url;
      writeFileSync(embeddedUrlFile(config), `${url}\n`);
    }
  }
  const natsUrl = url;
  const store = new KeyStore(config.keysDir);
  // One connection per role, each logged in with its own key: the server holds each to its permissions.
  const connections: NatsConnection[] = [];
  const connect = async (identity: string) => {
    const nc = await connectAs(config, identity, `agora-${identity}`, natsUrl);
    connections.push(nc);
    return nc;
  };
  let recorder: RecorderThread | undefined;
  let host: Host | undefined;
  let bridge: GithubBridge | undefined;
  let gateway: Gateway | undefined;
  /** Stop whatever has started, in reverse order, then the connections and the server. */
  const closeAll = async () => {
    await gateway?.close();
    await bridge?.close();
    await host?.close();
    await recorder?.close();
    await Promise.all(connections.map((c) => c.drain().catch(() => {})));
    await server?.stop();
  };
  try {
    // The admin (where its key is) creates or updates the stream and buckets and registers local keys.
    if (!auth || store.has(ADMIN_IDENTITY)) {
      const admin = await connect(ADMIN_IDENTITY);
      const infra = await openInfrastructure(admin, config, { create: true });
      // External identities declared without a public key get a local key (demo convenience).
      for (const ext of config.external) {
        if (ext.publicKey || ext.browser) continue;
        const created = !store.has(ext.name);
        store.loadOrGenerate(ext.name);
        if (created) log(`generated key for external agent ${ext.name} in ${config.keysDir}`);
      }
      const keys = [
        ...store.names().map((name) => [name, store.load(name).publicKey] as const),
        ...config.external.flatMap((e) => (e.publicKey ? [[e.name, e.publicKey] as const] : [])),
      ];
      for (const [name, publicKey] of keys) {
        await KeyRegistry.publish(infra.keys, name, publicKey).catch((err) => log(`key ${name}: ${String(err)}`));
      }
      await admin.drain();
      connections.splice(connections.indexOf(admin), 1);
    }
    const nc = await connect(config.host.name);
    log(`connected to NATS at ${natsUrl}${auth ? " (each role with its own key)" : ""}`);
    // On its own thread: verifying and signing facts takes nothing from the host's event loop.
    recorder = options.facts ? await RecorderThread.start({ config, url: natsUrl, log }) : undefined;
    if (recorder) log(`recording facts to ${config.factsDir} (recorder thread)`);
    void recorder
      ?.closed()
      .then((err) => err && log(`${err.message}; facts are not being recorded — restart to resume`));
    host = await Host.start({ config, nc, agents: options.agents, log });
    for (const [name] of host.runtimes) {
      const a = config.agents.find((x) => x.name === name)!;
      log(`agent ${name}: running (reads ${a.read.join(", ") || "-"}; writes ${a.write.join(", ") || "-"})`);
    }
    if (config.github && options.gateway) {
      try {
        bridge = await GithubBridge.start({ config, nc: await connect(config.github.identity), log });
        log(
          `github bridge: ${config.github.repos.map((r) => `${r.repo} ↔ ${r.channel}`).join(", ")}; webhook at /github/webhook`,
        );
      } catch (err) {
        log(`github bridge not started: ${isAgoraError(err) ? `${err.code}: ${err.message}` : String(err)}`);
      }
    }
    if (options.gateway) {
      gateway = await Gateway.create({
        config,
        nc: await connect(config.gateway.identity),
        hostMetrics: host.metrics,
        bridge,
      });
      await gateway.listen({ host: config.gateway.host, port: config.gateway.port });
    }
    return {
      server,
      gateway,
      nc,
      host,
      recorder,
      url: natsUrl,
      async close() {
        await closeAll();
        if (server) rmSync(embeddedUrlFile(config), { force: true });
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
