// Hot update: `agora deploy counter@1.1.0` while messages keep coming. The host
// finishes the message in hand on the old version and takes the next on the new
// one: every message counted exactly once, the count (KV state) carried over, and
// each act's fact names the component digest that produced it.
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { componentDigest } from "../../trust/components.js";
import { pushSigned, withCustomSection } from "../helpers/registry.js";
import { verifyFacts } from "../../facts/verify.js";
import { readFacts, startAgora, until } from "../helpers/agora.js";
import { counted, describeTally, expectExactlyOnce, sendAll } from "../helpers/counting.js";
import { fixtureWasm, ROOT } from "../helpers/paths.js";
import { CLI_ARGS } from "../helpers/cli.js";

describe("hot update", () => {
  it("deploy - a new version under steady traffic: each message handled once, state kept, each act naming its digest", async () => {
    const spec = {
      channels: ["work", "out"],
      agents: { c1: { component: "counter@1.0.0", read: ["work"], write: ["out"] } },
      external: { sender: { write: ["work"] } },
    };
    await using a = await startAgora({ ...spec, components: { publishers: {} } });
    const acme = a.keys.loadOrGenerate("acme");
    const v1 = readFileSync(fixtureWasm("counter"));
    const v2 = withCustomSection(v1, "agora-version", "1.1.0");
    await pushSigned(a.nc, acme, { "counter@1.0.0": v1, "counter@1.1.0": v2 });
    const publishers = { acme: acme.publicKey };
    const file = join(a.dir, "agora.json");
    writeFileSync(
      file,
      JSON.stringify({
        data: a.config.data,
        ...spec,
        channels: { work: null, out: null },
        components: { ...a.config.components, publishers },
      }),
    );

    await a.startRecorder();
    const { Host } = await import("../../host/host.js");
    const host = await Host.start({
      config: { ...a.config, components: { ...a.config.components, publishers } },
      nc: await a.connect(a.config.host.name),
    });
    try {
      await until(() => host.runtimes.has("c1"), 20_000, "c1 on counter@1.0.0");
      const sender = await a.client("sender");
      const N = 150;
      let deploying: Promise<{ stdout: string; stderr: string }> | undefined;
      // Paced, so the deploy lands while messages keep arriving.
      await sendAll(sender, N, async (i) => {
        if (i === 20)
          deploying = promisify(execFile)(
            process.execPath,
            [...CLI_ARGS, "deploy", "counter@1.1.0", "--config", file],
            { cwd: ROOT, env: { ...process.env, NATS_URL: a.nats.url }, timeout: 60_000 },
          );
        await new Promise((r) => setTimeout(r, 40));
      });
      const out = await deploying!;
      expect(out.stdout).toMatch(/c1: runs counter@1\.1\.0 \(sha256:.*, acme\)/);
      const t = await counted(a.infra, ["c1"], N, 60_000);
      console.log(`deploy under traffic: ${N} sent, deploy from message 20: ${describeTally(t)}`);
      expectExactlyOnce(t, N); // the count is KV state: kept across the switch

      const startedFacts = async () =>
        (await a.settleFacts(), readFacts(a.config.factsDir)).filter((f) => f.type === "agent-started");
      await until(async () => (await startedFacts()).length >= 2, 20_000, "c1 started on 1.1.0");
      const facts = readFacts(a.config.factsDir);
      const started = facts
        .filter((f) => f.type === "agent-started")
        .map((f) => JSON.parse(String(f.fields.event)) as { digest: string; component: string });
      expect(started.map((s) => [s.component, s.digest])).toEqual([
        ["counter@1.0.0", componentDigest(v1)],
        ["counter@1.1.0", componentDigest(v2)],
      ]);
      const acts = facts.filter((f) => f.type === "speech-act" && f.fields.sender === "c1");
      const byDigest = (v: Uint8Array) => acts.filter((f) => f.fields.component === componentDigest(v)).length;
      console.log(`deploy: ${byDigest(v1)} acts by 1.0.0, ${byDigest(v2)} by 1.1.0`);
      expect(byDigest(v1)).toBeGreaterThan(0);
      expect(byDigest(v2)).toBeGreaterThan(0);
      expect(byDigest(v1) + byDigest(v2)).toBe(N);
      // The order holds: no act of 1.0.0 after the first of 1.1.0.
      const firstNew = acts.findIndex((f) => f.fields.component === componentDigest(v2));
      expect(acts.slice(firstNew).every((f) => f.fields.component === componentDigest(v2))).toBe(true);
      expect(verifyFacts(a.config.factsDir).problems).toEqual([]);
    } finally {
      await host.close();
    }
  });
});
