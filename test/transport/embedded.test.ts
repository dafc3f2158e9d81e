// The server agora starts runs from a generated config file with JetStream in
// it, so an identity added later logs in after a reload — and JetStream stays on
// (a server started with -js on the command line turns it off on reload).
import { describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { parseConfig } from "../../config/config.js";
import { ADMIN_IDENTITY } from "../../protocol/names.js";
import { connectNats } from "../../transport/connect.js";
import { reloadConfiguredNats, startConfiguredNats } from "../../transport/embedded.js";
import { KeyStore } from "../../trust/key-store.js";

describe("embedded nats-server", () => {
  it("embedded - a new identity logs in after a reload, and JetStream keeps answering", async () => {
    const dir = mkdtempSync(join(tmpdir(), "agora-embedded-"));
    const spec = (external: Record<string, unknown>) =>
      parseConfig({ data: join(dir, "data"), channels: { work: null }, external }, { baseDir: dir, env: {} });
    const configFile = join(dir, "nats-server.conf");
    const server = await startConfiguredNats(spec({}), { storeDir: join(dir, "nats"), configFile });
    try {
      expect(statSync(configFile).mode & 0o777).toBe(0o600);
      const keys = new KeyStore(join(dir, "data", "keys"));
      const admin = await connectNats({ url: server.url, name: "admin", identity: keys.load(ADMIN_IDENTITY) });
      const jsm = await jetstreamManager(admin);
      await jsm.streams.add({ name: "PROBE", subjects: ["probe.>"] });
      const late = keys.loadOrGenerate("late");
      await expect(connectNats({ url: server.url, name: "late", identity: late, timeoutMs: 1500 })).rejects.toThrow(
        /cannot connect/,
      );
      await reloadConfiguredNats(server, spec({ late: { write: ["work"] } }), configFile);
      const nc = await connectNats({ url: server.url, name: "late", identity: late });
      expect((await jsm.streams.info("PROBE")).config.name).toBe("PROBE");
      await Promise.all([nc.close(), admin.close()]);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
