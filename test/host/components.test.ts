// The signed component registry: agora components push / ls / verify, and hosts
// loading `name@version` only when a trusted publisher signed exactly those bytes.
// An unsigned, an untrusted and a tampered component are refused — each with its
// code and a fact — while the other agents run on.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Objm } from "@nats-io/obj";
import { describe, expect, it } from "vitest";
import type { HostEvent } from "../../protocol/events.js";
import { COMPONENTS_STORE } from "../../protocol/subjects.js";
import { ComponentRegistry } from "../../transport/component-registry.js";
import { signManifest } from "../../trust/components.js";
import { AGENT_WORLD, MAX_COMPONENT_BYTES } from "../../protocol/components.js";
import { verifyFacts } from "../../facts/verify.js";
import { collectEvents, readFacts, startAgora, TOKENS, until } from "../helpers/agora.js";
import { agentWasm } from "../helpers/paths.js";
import { runCli } from "../helpers/cli.js";

const IMPORTS = ["agora:agent/channels@0.1.0", "agora:agent/state@0.1.0", "agora:agent/types@0.1.0"];

describe("component registry", () => {
  it("components - push, ls and verify; hosts load only what a trusted publisher signed, refusing the rest with a fact", async () => {
    const agents = {
      voter: { component: "voter@1.0.0", read: ["vote"], write: ["vote"] },
      tampered: { component: "tampered@1.0.0", read: ["vote"], write: ["vote"] },
      unsigned: { component: "unsigned@1.0.0", read: ["vote"], write: ["vote"] },
      untrusted: { component: "untrusted@1.0.0", read: ["vote"], write: ["vote"] },
      responder: { component: agentWasm("responder"), read: ["vote"], write: ["vote"] },
    };
    const spec = { channels: ["vote"], agents, external: { chair: { write: ["vote"] } } };
    // The publisher's key first: the config trusts it.
    await using a = await startAgora(spec);
    const acme = a.keys.loadOrGenerate("acme");
    const mallory = a.keys.loadOrGenerate("mallory");
    const file = join(a.dir, "agora.json");
    writeFileSync(
      file,
      JSON.stringify({
        data: a.config.data,
        ...spec,
        channels: { vote: null },
        components: { publishers: { acme: acme.publicKey } },
      }),
    );
    const cli = (...args: string[]) => runCli(a.nats.url, ...args);

    // Push through the CLI, signed by acme.
    const voterWasm = agentWasm("voter");
    const pushed = await cli(
      "components",
      "push",
      voterWasm,
      "--name",
      "voter",
      "--version",
      "1.0.0",
      "--as",
      "acme",
      "--config",
      file,
      "--json",
    );
    expect(pushed.code, pushed.err).toBe(0);
    expect(JSON.parse(pushed.out)).toMatchObject({
      name: "voter",
      version: "1.0.0",
      publisher: "acme",
      world: AGENT_WORLD,
    });
    expect(pushed.err).toBe(""); // acme is trusted: no warning

    // The attacks, written straight into the store (as someone with write access would).
    const bytes = readFileSync(voterWasm);
    const registry = await ComponentRegistry.open(a.nc);
    const signed = signManifest(acme, { name: "tampered", version: "1.0.0" }, bytes, {
      world: AGENT_WORLD,
      imports: IMPORTS,
    });
    const altered = Buffer.from(bytes);
    altered[altered.length - 1] ^= 0xff;
    await registry.push(signed, altered);
    await registry.push(
      signManifest(mallory, { name: "untrusted", version: "1.0.0" }, bytes, { world: AGENT_WORLD, imports: IMPORTS }),
      bytes,
    );
    await (await new Objm(a.nc).open(COMPONENTS_STORE)).putBlob({ name: "unsigned@1.0.0" }, bytes);
    // A component past the size limit is refused before a byte is stored.
    const huge = new Uint8Array(MAX_COMPONENT_BYTES + 1);
    await expect(
      registry.push(
        signManifest(acme, { name: "huge", version: "1.0.0" }, huge, { world: AGENT_WORLD, imports: [] }),
        huge,
      ),
    ).rejects.toMatchObject({ code: "AGORA_ERR_TOO_LARGE" });

    const ls = await cli("components", "ls", "--config", file, "--json");
    expect(ls.code, ls.err).toBe(0);
    expect((JSON.parse(ls.out) as { object: string }[]).map((c) => c.object)).toEqual([
      "tampered@1.0.0",
      "unsigned@1.0.0",
      "untrusted@1.0.0",
      "voter@1.0.0",
    ]);
    const verdicts = await Promise.all(
      ["voter", "tampered", "unsigned", "untrusted"].map((n) =>
        cli("components", "verify", `${n}@1.0.0`, "--config", file),
      ),
    );
    expect(verdicts.map((v) => [v.code, v.out.split(":")[0]])).toEqual([
      [0, "OK"],
      [1, "AGORA_ERR_COMPONENT_DIGEST"],
      [1, "AGORA_ERR_COMPONENT_UNSIGNED"],
      [1, "AGORA_ERR_COMPONENT_UNTRUSTED"],
    ]);

    // A host with that config: voter (from the registry) and responder run; the three are refused.
    await a.startRecorder();
    const trusting = { ...a.config, components: { ...a.config.components, publishers: { acme: acme.publicKey } } };
    const { Host } = await import("../../host/host.js");
    const events: HostEvent[] = [];
    const host = await Host.start({ config: trusting, nc: await a.connect(a.config.host.name) });
    try {
      collectEvents(host, events);
      await until(() => host.runtimes.has("voter") && host.runtimes.has("responder"), 20_000, "voter and responder");
      const chair = await a.client("chair");
      const { env: propose } = await chair.send("vote", "propose", { cost: 5 });
      const { env: request } = await chair.send("vote", "request", { task: "x" });
      const answered = (agent: string, id: string) =>
        events.some((e) => e.type === "emitted" && e.agent === agent && e.re === id);
      await until(
        () => answered("voter", propose.id) && answered("responder", request.id),
        20_000,
        "voter's and responder's answers",
      );
      await a.settleFacts();
      // Each act names the component that produced it.
      const facts = readFacts(a.config.factsDir);
      const said = (agent: string) => facts.find((f) => f.type === "speech-act" && f.fields.sender === agent)!;
      expect(said("voter").fields.component).toBe((JSON.parse(pushed.out) as { digest: string }).digest);
      expect(said("responder").fields.component).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(said("chair").fields.component).toBeUndefined();
      const refused = readFacts(a.config.factsDir)
        .filter((f) => f.type === "agent-refused")
        .map((f) => JSON.parse(String(f.fields.event)) as { agent: string; code: string });
      const codes = Object.fromEntries(refused.map((r) => [r.agent, r.code]));
      expect(codes).toEqual({
        tampered: "AGORA_ERR_COMPONENT_DIGEST",
        unsigned: "AGORA_ERR_COMPONENT_UNSIGNED",
        untrusted: "AGORA_ERR_COMPONENT_UNTRUSTED",
      });
      expect(host.runtimes.has("tampered") || host.runtimes.has("unsigned") || host.runtimes.has("untrusted")).toBe(
        false,
      );

      // The console's deploy: checked as a host would check it, refused when a host would refuse it.
      const { Gateway } = await import("../../gateway/gateway.js");
      const gw = await Gateway.create({ config: trusting, nc: await a.connect("operator"), tokens: TOKENS });
      try {
        const op = { authorization: `Bearer ${TOKENS.operator}` };
        const listed = await gw.app.inject({
          url: "/api/components",
          headers: { authorization: `Bearer ${TOKENS.viewer}` },
        });
        expect((listed.json() as { object: string; trusted: boolean }[]).map((c) => [c.object, c.trusted])).toEqual([
          ["tampered@1.0.0", true],
          ["unsigned@1.0.0", false],
          ["untrusted@1.0.0", false],
          ["voter@1.0.0", true],
        ]);
        const refusedDeploy = await gw.app.inject({
          method: "POST",
          url: "/api/deploy",
          headers: op,
          payload: { component: "tampered@1.0.0", agent: "voter" },
        });
        expect(refusedDeploy.json()).toMatchObject({ code: "AGORA_ERR_COMPONENT_DIGEST" });
        expect(await a.infra.deploys.get("voter")).toBeNull();
        const deployed = await gw.app.inject({
          method: "POST",
          url: "/api/deploy",
          headers: op,
          payload: { component: "voter@1.0.0" },
        });
        expect(deployed.statusCode, deployed.body).toBe(200);
        expect(deployed.json()).toMatchObject({ component: "voter@1.0.0", publisher: "acme", agents: ["voter"] });
        expect(await a.infra.deploys.get("voter")).not.toBeNull();
        // Rollouts through the API: a canary is another version; nothing to promote; what each agent runs.
        const post = (payload: object) => gw.app.inject({ method: "POST", url: "/api/deploy", headers: op, payload });
        const same = await post({ component: "voter@1.0.0", agent: "voter", canary: "20%" });
        expect([same.statusCode, same.json().code]).toEqual([400, "AGORA_ERR_USAGE"]);
        const badShare = await post({ component: "voter@1.0.0", canary: 100 });
        expect([badShare.statusCode, badShare.json().code]).toEqual([400, "AGORA_ERR_USAGE"]);
        const promote = await post({ promote: true, agent: "voter" });
        expect([promote.statusCode, promote.json().code]).toEqual([409, "AGORA_ERR_NO_ROLLOUT"]);
        const rollouts = await gw.app.inject({
          url: "/api/rollouts",
          headers: { authorization: `Bearer ${TOKENS.viewer}` },
        });
        expect(rollouts.json()).toContainEqual(
          expect.objectContaining({ agent: "voter", deploy: expect.objectContaining({ component: "voter@1.0.0" }) }),
        );
      } finally {
        await gw.close();
      }
      expect(verifyFacts(a.config.factsDir).problems).toEqual([]);
    } finally {
      await host.close();
    }
  });
});
