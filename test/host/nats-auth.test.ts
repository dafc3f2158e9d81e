// agora nats-config: the generated authorization starts a nats-server that
// enforces the grants — every identity logs in with its own key as an nkey.
import { describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { AgoraClient } from "../../sdk/client.js";
import { parseConfig } from "../../config/config.js";
import { Host } from "../../host/host.js";
import { KeyRegistry } from "../../trust/key-registry.js";
import { KeyStore } from "../../trust/key-store.js";
import { natsAuthorization } from "../../transport/authorization.js";
import { openInfrastructure } from "../../transport/infrastructure.js";
import { NatsServer } from "../../transport/nats-server.js";
import { until } from "../helpers/agora.js";
import { agentWasm } from "../helpers/paths.js";
import { connectNats } from "../../transport/connect.js";

describe("nats-config", () => {
  it("nats-config - generated credentials: an external agent can use its grants and nothing else (the server refuses)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "agora-auth-"));
    const config = parseConfig(
      {
        data: join(dir, "data"),
        host: { name: "host-1", workers: 1 },
        nats: { auth: "nkey" },
        channels: { work: null, secret: null },
        agents: { responder: { component: agentWasm("responder"), read: ["work"], write: ["work"] } },
        external: { ext: { read: ["work"], write: ["work"] }, operator: { write: ["work"] } },
      },
      { baseDir: dir, env: {} },
    );
    const store = new KeyStore(config.keysDir);
    for (const name of ["host-1", "operator", "ext", "responder", "recorder", "agora-admin"])
      store.loadOrGenerate(name);
    const conf = join(dir, "auth.conf");
    writeFileSync(
      conf,
      natsAuthorization(config, (n) => (store.has(n) ? store.load(n).publicKey : undefined)),
    );
    const server = await NatsServer.start({ storeDir: join(dir, "nats"), args: ["-c", conf] });
    try {
      // No key, no entry.
      await expect(connectNats({ url: server.url, name: "anonymous", timeoutMs: 2000 })).rejects.toThrow(
        /cannot connect to NATS/,
      );
      // The admin creates the stream and buckets; the host may not.
      const adminNc = await connectNats({ url: server.url, name: "admin", identity: store.load("agora-admin") });
      const infra = await openInfrastructure(adminNc, config, { create: true });
      // The host logs in with its key and runs its agents.
      const hostNc = await connectNats({ url: server.url, name: "host", identity: store.load("host-1") });
      await expect(openInfrastructure(hostNc, config, { create: true })).rejects.toThrow(/[Pp]ermission/);
      const host = await Host.start({ config, nc: hostNc });
      // The external agent: its own key is its login.
      const ext = store.load("ext");
      const nc = await connectNats({ url: server.url, name: "ext", identity: ext });
      await KeyRegistry.publish(infra.keys, "ext", ext.publicKey);
      const replies: string[] = [];
      const sub = nc.subscribe("agora.ch.work", { callback: (_e, m) => void replies.push(m.string()) });
      const { env } = await new AgoraClient(nc, ext).send("work", "request", { ok: true });
      await until(() => replies.some((r) => r.includes(`"re":"${env.id}"`)), 10_000, "reply on a granted channel");
      // Outside its grants the server refuses.
      const js = jetstream(nc);
      await expect(js.publish("agora.ch.secret", "{}", { timeout: 1500 })).rejects.toThrow(/[Pp]ermission/);
      await expect(nc.request("agora.ctl.kill", "{}", { timeout: 1500 })).rejects.toThrow(/[Pp]ermission/);
      await expect(nc.request("$KV.agora-keys.operator", "x", { timeout: 1500 })).rejects.toThrow(/[Pp]ermission/);
      // Only the gateway identity may publish control subjects.
      const gw = await connectNats({ url: server.url, name: "gw", identity: store.load("operator") });
      await gw.flush();
      gw.publish("agora.ctl.kill", "{}");
      await gw.flush();
      expect(gw.isClosed()).toBe(false);
      sub.unsubscribe();
      await host.close();
      await Promise.all([nc.drain(), gw.drain(), hostNc.drain(), adminNc.drain()]);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
