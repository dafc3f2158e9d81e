// Presence and agent cards: every agent — hosted, external, operator — has a
// signed card; readers keep only verified ones; an agent is offline three
// missed heartbeats after kill -9.
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, presenceOf, type Presence } from "../../sdk/index.js";
import { makeCard } from "../../protocol/cards.js";
import { signCard } from "../../trust/cards.js";
import { generateRawKeyPair, privateKeyObject } from "../../trust/signing.js";
import { startAgora, TOKENS, until } from "../helpers/agora.js";
import { agentWasm, ROOT } from "../helpers/paths.js";

const HEARTBEAT_MS = 300;
const spec = {
  channels: ["work"],
  agents: {
    responder: {
      component: agentWasm("responder"),
      read: ["work"],
      write: ["work"],
      description: "agrees to every request",
      skills: [{ id: "agree", description: "answers a request with agree" }],
      answers: ["request"],
    },
  },
  external: {
    listener: { read: ["work"], write: ["work"] },
    operator: { write: ["work"] },
    mallory: { read: ["work"], write: ["work"] },
    eve: { read: ["work"] },
  },
  limits: { heartbeat: `${HEARTBEAT_MS}ms` },
};

const byName = (agents: Presence[]) => Object.fromEntries(agents.map((p) => [p.card.name, p]));

describe("presence", () => {
  it("presence - hosted, external and operator cards, signed and verified, shaped like A2A cards; forged ones refused; a killed agent shows killed", async () => {
    await using a = await startAgora(spec as never);
    await a.startHost();
    const g = await a.startGateway();
    await using listener = await connect({
      name: "listener",
      config: a.config,
      servers: a.nats.url,
      card: { description: "an external listener", answers: ["inform"] },
    });
    // A card for someone else, signed by another key, written by an identity allowed to write cards: refused.
    const forged = signCard(
      privateKeyObject(generateRawKeyPair()),
      makeCard({ name: "mallory", kind: "external", heartbeatMs: 1000 }),
    );
    await a.infra.cards.put("mallory", JSON.stringify(forged));
    await a.infra.cards.put("junk", "not a card");
    // Signed by the right key but claiming what the config does not grant (hosted, writes work): refused too.
    const boast = signCard(
      a.keys.load("eve").privateKey,
      makeCard({ name: "eve", kind: "hosted", reads: ["work"], writes: ["work"], heartbeatMs: 1000 }),
    );
    await a.infra.cards.put("eve", JSON.stringify(boast));
    const agents = byName(await listener.agents());
    expect(agents.responder!.card).toMatchObject({
      name: "responder",
      description: "agrees to every request",
      version: "1",
      skills: [{ id: "agree", name: "agree", description: "answers a request with agree" }],
      agora: { kind: "hosted", reads: ["work"], writes: ["work"], answers: ["request"], host: a.config.host.name },
    });
    expect(agents.responder!.status).toBe("idle");
    expect(agents.listener!.card.agora).toMatchObject({ kind: "external", reads: ["work"], answers: ["inform"] });
    expect(agents.operator!.card.agora.kind).toBe("operator");
    expect(agents.mallory).toBeUndefined();
    // The console's API lists the same, and says what it refused.
    const res = await g.app.inject({ url: "/api/cards", headers: { authorization: `Bearer ${TOKENS.viewer}` } });
    const api = res.json() as { agents: Presence[]; refused: string[] };
    expect(api.agents.map((p) => p.card.name).sort()).toEqual(["listener", "operator", "responder"]);
    expect(api.refused.sort()).toEqual(["eve", "junk", "mallory"]);
    // A killed agent shows as killed, whatever its card says.
    await g.app.inject({
      method: "POST",
      url: "/api/kill",
      headers: { authorization: `Bearer ${TOKENS.operator}` },
      payload: { agent: "responder" },
    });
    await until(async () => byName(await listener.agents()).responder?.status === "killed", 5000, "killed");
  });

  it("presence - a card goes offline within three heartbeats of kill -9; a clean close says offline at once", async () => {
    await using a = await startAgora(spec as never);
    const file = join(a.dir, "agora.json");
    writeFileSync(
      file,
      JSON.stringify({ data: a.config.data, channels: { work: null }, external: spec.external, limits: spec.limits }),
    );
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(ROOT, "test", "fixtures", "sdk-agent", "agent.ts")],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          AGORA_CONFIG: file,
          NATS_URL: a.nats.url,
          AGENT_NAME: "listener",
          HEARTBEAT_MS: String(HEARTBEAT_MS),
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const exited = new Promise((r) => child.once("exit", r));
    await using watcher = await connect({ name: "mallory", config: a.config, servers: a.nats.url });
    const status = async (name: string) => byName(await watcher.agents())[name]?.status;
    try {
      await until(async () => (await status("listener")) === "idle", 20_000, `the listener's card:\n${out}`);
      child.kill("SIGKILL");
      await exited;
      const killedAt = Date.now();
      await until(async () => (await status("listener")) === "offline", 5000, "offline after kill -9");
      const ms = Date.now() - killedAt;
      console.log(
        `presence: offline ${ms} ms after kill -9 (heartbeat ${HEARTBEAT_MS} ms, offline after ${3 * HEARTBEAT_MS} ms without one)`,
      );
      expect(ms).toBeLessThanOrEqual(3 * HEARTBEAT_MS + 300);
    } finally {
      child.kill("SIGKILL");
    }
    // A clean close marks the card offline straight away.
    const listener = await connect({ name: "listener", config: a.config, servers: a.nats.url, heartbeatMs: 60_000 });
    await until(async () => (await status("listener")) === "idle", 5000, "back");
    await listener.close();
    expect(await status("listener")).toBe("offline");
    const card = byName(await watcher.agents()).listener!.card;
    expect(presenceOf(card)).toBe("offline");
  });
});
