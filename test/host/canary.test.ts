// Canary rollouts: `agora deploy counter@1.1.0 --canary 20%` sends the
// conversations whose conv hashes into 20% to the new version and the rest to
// the current one, both sharing the agent's state; `agora rollout status` counts
// each version; --promote and `agora rollback` by hand. A canary that traps is
// rolled back by its host within components.rollout.maxTraps messages, with a
// fact saying why, and every message is still handled exactly once.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { verifyFacts } from "../../facts/verify.js";
import type { HostEvent, HostEventOf } from "../../protocol/events.js";
import { parseComponentRef } from "../../protocol/components.js";
import { inCanary, type RolloutPolicy } from "../../protocol/rollout.js";
import { ComponentRegistry } from "../../transport/component-registry.js";
import { applyDeploy, readDeploy, readRollouts, type RolloutView } from "../../transport/deploys.js";
import { componentDigest } from "../../trust/components.js";
import { collectEvents, readFacts, startAgora, until, type TestAgora } from "../helpers/agora.js";
import { runCli } from "../helpers/cli.js";
import { counted, describeTally, expectExactlyOnce } from "../helpers/counting.js";
import { fixtureWasm } from "../helpers/paths.js";
import { pushSigned, trusting, withCustomSection } from "../helpers/registry.js";

type Started = HostEventOf<"agent_started">;

/** A deployment whose agent c1 runs counter@1.0.0 from the registry, with `more` versions pushed beside it. */
async function counterDeployment(a: TestAgora, more: Record<string, Uint8Array>, rollout?: Partial<RolloutPolicy>) {
  const acme = a.keys.loadOrGenerate("acme");
  const v1 = readFileSync(fixtureWasm("counter"));
  await pushSigned(a.nc, acme, { "counter@1.0.0": v1, ...more });
  const trusted = trusting(a.config, acme);
  const config = {
    ...trusted,
    components: { ...trusted.components, rollout: { ...trusted.components.rollout, ...rollout } },
  };
  const file = join(a.dir, "agora.json");
  writeFileSync(
    file,
    JSON.stringify({
      data: a.config.data,
      channels: Object.fromEntries(a.config.channels.map((c) => [c, null])),
      agents: { c1: { component: "counter@1.0.0", read: ["work"], write: [...a.config.agents[0]!.write] } },
      external: { sender: { write: ["work"] } },
      components: { publishers: config.components.publishers },
    }),
  );
  await a.startRecorder();
  const { Host } = await import("../../host/host.js");
  const host = await Host.start({ config, nc: await a.connect(a.config.host.name) });
  const events: HostEvent[] = [];
  collectEvents(host, events);
  await until(() => host.runtimes.has("c1"), 20_000, "c1 on counter@1.0.0");
  const started = () => events.filter((e): e is Started => e.type === "agent_started");
  /** `agora deploy <ref> --canary <percent>%`, as the admin (checked as a host would; the host loads it). */
  const deployCanary = (ref: string, percent = 50) =>
    applyDeploy(
      () => ComponentRegistry.open(a.nc),
      a.infra.deploys,
      config,
      { op: "canary", component: parseComponentRef(ref)!, percent },
      "admin",
    );
  return { v1, config, file, host, events, started, deployCanary };
}

const spec = (write: string[]) => ({
  channels: ["work", "out"],
  agents: { c1: { component: "counter@1.0.0", read: ["work"], write } },
  external: { sender: { write: ["work"] } },
  components: { publishers: {} },
});

describe("canary", () => {
  it("canary - a 20% canary takes the conversations its hash picks (close to 20%), state shared; promote and rollback by hand", async () => {
    await using a = await startAgora(spec(["out"]));
    const v2 = withCustomSection(readFileSync(fixtureWasm("counter")), "agora-version", "1.1.0");
    const d = await counterDeployment(a, { "counter@1.1.0": v2 });
    const { v1, host, started, file } = d;
    try {
      const deployed = await runCli(a.nats.url, "deploy", "counter@1.1.0", "--canary", "20%", "--config", file);
      expect(deployed.err).toBe("");
      expect(deployed.out).toMatch(/c1: runs counter@1\.0\.0, canary counter@1\.1\.0 on 20% of conversations/);
      await until(() => started().some((e) => e.canary), 20_000, "c1 started with its canary");
      expect(started().at(-1)).toMatchObject({
        digest: componentDigest(v1),
        canary: "counter@1.1.0",
        canaryDigest: componentDigest(v2),
        canaryPercent: 20,
      });

      // One message per conversation, labelled so the split is known in advance.
      const sender = await a.client("sender");
      const N = 300;
      const convs = Array.from({ length: N }, (_, i) => `split-${i}`);
      for (const conv of convs) await sender.send("work", "request", { conv }, { conv });
      const t = await counted(a.infra, ["c1"], N, 60_000);
      console.log(`canary 20%: ${describeTally(t)}`);
      // One count across both versions: a canary's state write is the current version's next read.
      expectExactlyOnce(t, N);

      const expected = convs.filter((c) => inCanary(c, 20)).length;
      await a.settleFacts();
      const acts = readFacts(a.config.factsDir).filter((f) => f.type === "speech-act" && f.fields.sender === "c1");
      expect(acts).toHaveLength(N);
      for (const f of acts)
        expect(f.fields.component, String(f.fields.conv)).toBe(
          componentDigest(inCanary(String(f.fields.conv), 20) ? v2 : v1),
        );
      const byCanary = acts.filter((f) => f.fields.component === componentDigest(v2)).length;
      console.log(`canary 20%: ${byCanary} of ${N} conversations (${((byCanary / N) * 100).toFixed(1)}%) on 1.1.0`);
      expect(byCanary).toBe(expected);
      expect(Math.abs(byCanary / N - 0.2)).toBeLessThan(0.05);

      // agora rollout status: per-version counts as the host reported them.
      let view: RolloutView | undefined;
      await until(
        async () => {
          [view] = await readRollouts(a.infra, ["c1"]);
          return (view?.rollout?.current.calls ?? 0) + (view?.rollout?.canary.calls ?? 0) >= N;
        },
        10_000,
        "the rollout record",
      );
      expect(view!.rollout).toMatchObject({
        host: a.config.host.name,
        percent: 20,
        current: { component: "counter@1.0.0", calls: N - expected, failures: 0, traps: 0 },
        canary: { component: "counter@1.1.0", calls: expected, failures: 0, traps: 0 },
      });
      const status = await runCli(a.nats.url, "rollout", "status", "--config", file);
      expect(status.out).toMatch(new RegExp(`counter@1\\.1\\.0 \\(canary\\)\\s+${expected}\\s+0\\s+0\\.0%\\s+0`));

      // Promote: every conversation on 1.1.0, 1.0.0 remembered as previous.
      const promoted = await runCli(a.nats.url, "deploy", "--promote", "--config", file);
      expect(promoted.out).toMatch(/c1: runs counter@1\.1\.0\n/);
      await until(() => started().at(-1)?.digest === componentDigest(v2), 20_000, "c1 on 1.1.0 alone");
      expect(started().at(-1)!.canary).toBeUndefined();
      expect((await readDeploy(a.infra.deploys, "c1")).record).toMatchObject({
        component: "counter@1.1.0",
        previous: "counter@1.0.0",
      });

      // Roll back by hand: to 1.0.0; then there is nothing left to roll back.
      const back = await runCli(a.nats.url, "rollback", "c1", "--reason", "by the test", "--config", file);
      expect(back.out).toMatch(/c1: runs counter@1\.0\.0 \(rolled back from counter@1\.1\.0: by the test\)/);
      await until(() => started().at(-1)?.digest === componentDigest(v1), 20_000, "c1 back on 1.0.0");
      const none = await runCli(a.nats.url, "rollback", "c1", "--config", file);
      expect(none.code).not.toBe(0);
      expect(none.err).toMatch(/AGORA_ERR_NO_ROLLOUT/);
      // A version an agent still runs stays in the registry; the one rolled back from may go.
      const rmUsed = await runCli(a.nats.url, "components", "rm", "counter@1.0.0", "--config", file);
      expect([rmUsed.code, rmUsed.err]).toEqual([
        1,
        expect.stringMatching(/AGORA_ERR_COMPONENT_IN_USE.*agent c1 runs it/),
      ]);
      const rmOld = await runCli(a.nats.url, "components", "rm", "counter@1.1.0", "--config", file);
      expect(rmOld.out).toMatch(/removed counter@1\.1\.0/);
      expect(verifyFacts(a.config.factsDir).problems).toEqual([]);
    } finally {
      await host.close();
    }
  });

  it("canary - a trapping canary is rolled back within maxTraps messages, a failing one by its failure rate, a refused one at once; facts say why; nothing lost", async () => {
    // The canary "counter@2.0.0" is the trapper fixture: it traps on every `failure` act and returns an
    // error for every `cancel`. Judged by its rate after 3 messages here (minCalls), before any retried
    // message runs out of attempts (limits.maxDeliver).
    await using a = await startAgora(spec(["out", "work"]));
    const trapper = readFileSync(fixtureWasm("trapper"));
    const importer = readFileSync(fixtureWasm("wasi-importer"));
    const d = await counterDeployment(a, { "counter@2.0.0": trapper, "counter@3.0.0": importer }, { minCalls: 3 });
    const { v1, host, events, config } = d;
    const canary = () => d.deployCanary("counter@2.0.0");
    try {
      await canary();
      await until(() => d.started().some((e) => e.canary), 20_000, "c1 started with its canary");

      const sender = await a.client("sender");
      const N = 40;
      for (let i = 0; i < N; i++) await sender.send("work", "failure", { i });
      const t = await counted(a.infra, ["c1"], N, 60_000);
      console.log(`trapping canary: ${describeTally(t)}`);
      expectExactlyOnce(t, N); // the trapped messages were handled again, by 1.0.0

      const rolled = events.filter((e): e is HostEventOf<"canary_rolled_back"> => e.type === "canary_rolled_back");
      expect(rolled).toHaveLength(1);
      const maxTraps = config.components.rollout.maxTraps;
      expect(rolled[0]).toMatchObject({
        component: "counter@2.0.0",
        digest: componentDigest(trapper),
        calls: maxTraps,
        traps: maxTraps,
        failures: maxTraps,
      });
      expect(rolled[0]!.reason).toMatch(new RegExp(`trapped ${maxTraps} times`));
      console.log(`trapping canary: rolled back after ${rolled[0]!.calls} canary calls: ${rolled[0]!.reason}`);

      // The deploy record lost its canary (written by the host), so no host starts it again.
      await until(
        async () => (await readDeploy(a.infra.deploys, "c1")).record?.canary === undefined,
        10_000,
        "the rollback in agora-deploys",
      );
      expect((await readDeploy(a.infra.deploys, "c1")).record).toMatchObject({
        component: "counter@1.0.0",
        rolledBack: { component: "counter@2.0.0" },
        by: a.config.host.name,
      });
      await until(() => d.started().at(-1)?.canary === undefined, 20_000, "c1 restarted without its canary");
      const [view] = await readRollouts(a.infra, ["c1"]);
      expect(view!.rollout?.rolledBack?.reason).toBe(rolled[0]!.reason);

      // The same canary again, failing without a trap: rolled back once its rate is judged.
      const starts = d.started().length;
      await canary();
      await until(
        () =>
          d
            .started()
            .slice(starts)
            .some((e) => e.canary),
        20_000,
        "c1 with its canary again",
      );
      const M = 20;
      for (let i = 0; i < M; i++) await sender.send("work", "cancel", { i });
      expectExactlyOnce(await counted(a.infra, ["c1"], N + M, 60_000), N + M);
      const failing = events.filter((e): e is HostEventOf<"canary_rolled_back"> => e.type === "canary_rolled_back");
      expect(failing).toHaveLength(2);
      expect(failing[1]).toMatchObject({ calls: 3, failures: 3, traps: 0 });
      expect(failing[1]!.reason).toMatch(/failed 100\.0% of 3 messages against 0\.0% of \d+ for the current version/);
      console.log(`failing canary: ${failing[1]!.reason}`);

      // A canary every host would refuse at load (it imports WASI): rolled back at once; 1.0.0 runs on.
      const before = d.started().length;
      await d.deployCanary("counter@3.0.0").catch(() => {}); // checks the signature only; the host loads it
      await until(
        () => events.filter((e) => e.type === "canary_rolled_back").length === 3,
        20_000,
        "the refused canary rolled back",
      );
      const refused = events.filter((e): e is HostEventOf<"canary_rolled_back"> => e.type === "canary_rolled_back")[2]!;
      expect(refused).toMatchObject({ component: "counter@3.0.0", calls: 0 });
      expect(refused.reason).toMatch(/refused at load: AGORA_ERR_COMPONENT_IMPORTS/);
      await until(
        async () => (await readDeploy(a.infra.deploys, "c1")).record?.rolledBack?.component === "counter@3.0.0",
        10_000,
        "the refused canary's rollback in agora-deploys",
      );
      await until(() => d.started().length > before, 20_000, "c1 started again");
      expect(d.started().at(-1)!.canary).toBeUndefined();
      await sender.send("work", "request", { after: "refused canary" });
      expectExactlyOnce(await counted(a.infra, ["c1"], N + M + 1, 30_000), N + M + 1);

      await a.settleFacts();
      const facts = readFacts(a.config.factsDir);
      const fact = facts.find((f) => f.type === "canary-rolled-back");
      expect(facts.filter((f) => f.type === "canary-rolled-back")).toHaveLength(3);
      expect(JSON.parse(String(fact!.fields.event))).toMatchObject({ reason: rolled[0]!.reason });
      // No act came from the canary: each trapped call's effects were discarded.
      const acts = facts.filter((f) => f.type === "speech-act" && f.fields.sender === "c1");
      expect(acts).toHaveLength(N + M + 1);
      expect(acts.every((f) => f.fields.component === componentDigest(v1))).toBe(true);
      expect(verifyFacts(a.config.factsDir).problems).toEqual([]);
    } finally {
      await host.close();
    }
  });

  it("canary - a message only the canary fails is never dead-lettered: on its last attempt the canary goes and the message runs on the current version", async () => {
    // Rules that would not trip within limits.maxDeliver (5) attempts of one message.
    await using a = await startAgora(spec(["out", "work"]));
    const trapper = readFileSync(fixtureWasm("trapper"));
    const d = await counterDeployment(a, { "counter@2.0.0": trapper }, { minCalls: 1000, maxTraps: 1000 });
    try {
      await d.deployCanary("counter@2.0.0");
      await until(() => d.started().some((e) => e.canary), 20_000, "c1 started with its canary");
      const sender = await a.client("sender");
      const N = 10;
      for (let i = 0; i < N; i++) await sender.send("work", "failure", { i });
      expectExactlyOnce(await counted(a.infra, ["c1"], N, 60_000), N);
      const rolled = d.events.filter((e): e is HostEventOf<"canary_rolled_back"> => e.type === "canary_rolled_back");
      expect(rolled).toHaveLength(1);
      expect(rolled[0]!.reason).toBe(
        `a message failed on the canary ${a.config.limits.maxDeliver} times (limits.maxDeliver)`,
      );
      expect(d.events.some((e) => e.type === "dead_lettered")).toBe(false);
    } finally {
      await d.host.close();
    }
  });
});
