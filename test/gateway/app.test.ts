// The gateway over fastify's inject() and injectWS(), against a real host and nats-server.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as ed from "@noble/ed25519";
import type WebSocket from "ws";
import { signingInput } from "../../protocol/envelope.js";
import type { HostEvent } from "../../protocol/events.js";
import { tokenEquals, roleOf } from "../../gateway/auth.js";
import type { WatchFrame } from "../../gateway/frames.js";
import { startAgora, TOKENS, until, type TestAgora } from "../helpers/agora.js";
import { agentWasm, fixtureWasm } from "../helpers/paths.js";

let a: TestAgora;
const events: HostEvent[] = [];
const op = { authorization: `Bearer ${TOKENS.operator}` };
const view = { authorization: `Bearer ${TOKENS.viewer}` };

/** Collect frames of a socket. */
function frames(ws: WebSocket): WatchFrame[] {
  const got: WatchFrame[] = [];
  ws.on("message", (d: Buffer) => got.push(JSON.parse(String(d)) as WatchFrame));
  return got;
}

beforeAll(async () => {
  a = await startAgora({
    channels: ["build-coord", "votes"],
    agents: {
      responder: { component: agentWasm("responder"), read: ["build-coord"], write: ["build-coord"] },
      voter: { component: agentWasm("voter"), read: ["votes"], write: ["votes"] },
      broken: { component: fixtureWasm("wasi-importer"), read: ["votes"], write: ["votes"] },
    },
    external: {
      operator: { write: ["build-coord", "votes"] },
      "console-user": { write: ["build-coord"], browser: true },
      maintainer: { write: ["build-coord"] },
    },
  });
  await a.startRecorder();
  const host = await a.startHost();
  void (async () => {
    for await (const e of host.events.subscribe()) events.push(e);
  })();
  await a.startGateway();
});

afterAll(async () => {
  await a?.close();
});

describe("gateway - auth", () => {
  it("gateway - no token is 401, a viewer token on operator routes is 403, tokens compare in constant time", async () => {
    const app = a.gateway!.app;
    expect((await app.inject({ url: "/api/agents" })).statusCode).toBe(401);
    expect((await app.inject({ url: "/api/agents", headers: { authorization: "Bearer nope" } })).statusCode).toBe(401);
    expect((await app.inject({ url: "/api/agents", headers: view })).statusCode).toBe(200);
    const kill = await app.inject({ method: "POST", url: "/api/kill", headers: view, payload: { agent: "voter" } });
    expect(kill.statusCode).toBe(403);
    expect(kill.json().code).toBe("AGORA_ERR_FORBIDDEN");
    expect((await app.inject({ method: "POST", url: "/api/inject", headers: view, payload: {} })).statusCode).toBe(403);
    expect(roleOf(TOKENS.operator, TOKENS)).toBe("operator");
    expect(roleOf(TOKENS.viewer, TOKENS)).toBe("viewer");
    expect(tokenEquals("a", "ab")).toBe(false);
    await expect(app.injectWS("/api/watch")).rejects.toThrow();
  });
});

describe("gateway - REST and operations", () => {
  it("gateway - healthz, readyz, agents, channels", async () => {
    const app = a.gateway!.app;
    expect((await app.inject({ url: "/healthz" })).json()).toEqual({ status: "ok" });
    expect((await app.inject({ url: "/readyz" })).statusCode).toBe(200);
    const agents = (await app.inject({ url: "/api/agents", headers: view })).json() as {
      name: string;
      status: string;
      kind: string;
    }[];
    expect(agents.find((x) => x.name === "responder")?.status).toBe("running");
    expect(agents.find((x) => x.name === "broken")?.status).toBe("failed");
    expect(agents.find((x) => x.name === "operator")?.kind).toBe("external");
    const channels = (await app.inject({ url: "/api/channels", headers: view })).json();
    expect(channels).toContainEqual({
      name: "build-coord",
      readers: ["responder"],
      writers: ["responder", "operator", "console-user", "maintainer"],
    });
  });

  it("gateway - inject is signed by the operator identity and answered by the agent", async () => {
    const app = a.gateway!.app;
    const r = await app.inject({
      method: "POST",
      url: "/api/inject",
      headers: op,
      payload: { channel: "build-coord", act: "request", body: { task: "ship" }, hop: 2 },
    });
    expect(r.statusCode).toBe(200);
    const { id, envelope } = r.json();
    expect(envelope).toMatchObject({ sender: "operator", hop: 2, channel: "build-coord" });
    await until(() => events.some((e) => e.type === "emitted" && e.re === id), 10_000, "reply");
    for (const [payload, code] of [
      [{ channel: "nope", act: "request" }, "AGORA_ERR_UNKNOWN_CHANNEL"],
      [{ channel: "a.b", act: "request" }, "AGORA_ERR_BAD_NAME"],
      [{ channel: "build-coord", act: "shout" }, "AGORA_ERR_BAD_ENVELOPE"],
      [{ channel: "build-coord", act: "request", hop: 99 }, "AGORA_ERR_BAD_ENVELOPE"],
    ] as const) {
      const bad = await app.inject({ method: "POST", url: "/api/inject", headers: op, payload });
      expect(bad.statusCode).toBeGreaterThanOrEqual(400);
      expect(bad.json().code).toBe(code);
    }
    const huge = await app.inject({
      method: "POST",
      url: "/api/inject",
      headers: op,
      payload: { channel: "build-coord", act: "inform", body: "x".repeat(70_000) },
    });
    expect(huge.statusCode).toBe(413);
    expect(huge.json().code).toBe("AGORA_ERR_TOO_LARGE");
    const notJson = await app.inject({
      method: "POST",
      url: "/api/inject",
      headers: { ...op, "content-type": "application/json" },
      payload: "{oops",
    });
    expect(notJson.statusCode).toBe(400);
  });

  it("gateway - a browser-held key (noble) registers, signs, and the gateway only verifies and forwards", async () => {
    const app = a.gateway!.app;
    const secret = ed.utils.randomSecretKey();
    const publicKey = Buffer.from(await ed.getPublicKeyAsync(secret)).toString("base64url");
    const reg = await app.inject({
      method: "POST",
      url: "/api/keys",
      headers: op,
      payload: { name: "console-user", publicKey },
    });
    expect(reg.statusCode).toBe(200);
    const taken = await app.inject({
      method: "POST",
      url: "/api/keys",
      headers: op,
      payload: { name: "console-user", publicKey: "A".repeat(43) },
    });
    expect(taken.json().code).toBe("AGORA_ERR_KEY_EXISTS");
    const undeclared = await app.inject({
      method: "POST",
      url: "/api/keys",
      headers: op,
      payload: { name: "stranger", publicKey },
    });
    expect(undeclared.json().code).toBe("AGORA_ERR_NOT_GRANTED");
    const unsigned = {
      v: 1 as const,
      id: "browser-1",
      channel: "build-coord",
      sender: "console-user",
      act: "request" as const,
      body: { from: "browser" },
      hop: 3,
      ts: new Date().toISOString(),
    };
    const sig = Buffer.from(await ed.signAsync(signingInput(unsigned), secret)).toString("base64url");
    const ok = await app.inject({
      method: "POST",
      url: "/api/publish",
      headers: op,
      payload: { envelope: { ...unsigned, sig } },
    });
    expect(ok.statusCode, ok.body).toBe(200);
    await until(
      () => events.some((e) => e.type === "emitted" && e.re === "browser-1"),
      10_000,
      "reply to browser-signed",
    );
    const forged = await app.inject({
      method: "POST",
      url: "/api/publish",
      headers: op,
      payload: { envelope: { ...unsigned, id: "browser-2", sig } },
    });
    expect(forged.statusCode).toBe(403);
    expect(forged.json().code).toBe("AGORA_ERR_BAD_SIGNATURE");
  });

  it("gateway - facts by channel, and Prometheus metrics", async () => {
    const app = a.gateway!.app;
    await a.settleFacts();
    const facts = (await app.inject({ url: "/api/facts?channel=build-coord&limit=3", headers: view })).json() as {
      fields: { channel: string };
    }[];
    expect(facts).toHaveLength(3);
    for (const f of facts) expect(f.fields.channel).toBe("build-coord");
    expect((await app.inject({ url: "/api/facts?channel=a.b", headers: view })).statusCode).toBe(400);
    const metrics = (await app.inject({ url: "/metrics" })).body;
    for (const name of [
      'agora_messages_in_total{channel="build-coord"}',
      'agora_messages_out_total{channel="build-coord"}',
      'agora_drops_total{control="echo"}',
      'agora_handle_seconds_bucket{agent="responder",le=',
      "agora_gateway_channel_messages_total",
      "agora_gateway_watch_clients",
    ]) {
      expect(metrics).toContain(name);
    }
  });
});

describe("gateway - live watch", () => {
  it("gateway - /api/watch streams verified envelopes and enforcement events, filtered by channel", async () => {
    const app = a.gateway!.app;
    let got: WatchFrame[] = [];
    const ws = await app.injectWS(
      "/api/watch?channel=build-coord",
      { headers: view },
      { onInit: (w) => (got = frames(w as unknown as WebSocket)) },
    );
    await until(() => got.some((f) => f.type === "hello"), 5000, "hello");
    const hello = got.find((f) => f.type === "hello") as Extract<WatchFrame, { type: "hello" }>;
    expect(hello.role).toBe("viewer");
    expect(hello.agents.map((x) => x.name)).toContain("responder");
    const mark = got.length;
    const { id } = (
      await app.inject({
        method: "POST",
        url: "/api/inject",
        headers: op,
        payload: { channel: "build-coord", act: "request", body: { watch: 1 } },
      })
    ).json();
    await app.inject({
      method: "POST",
      url: "/api/inject",
      headers: op,
      payload: { channel: "votes", act: "propose", body: { cost: 1 } },
    });
    await a.infra.js.publish("agora.ch.build-coord", "garbage");
    await until(
      () => got.slice(mark).some((f) => f.type === "envelope" && f.ok && f.envelope.re === id),
      10_000,
      "reply frame",
    );
    await until(
      () => got.slice(mark).some((f) => f.type === "event" && f.event.type === "echo_dropped"),
      10_000,
      "echo frame",
    );
    await until(() => got.slice(mark).some((f) => f.type === "envelope" && !f.ok), 10_000, "rejected frame");
    const mine = got.slice(mark);
    expect(
      mine.some((f) => f.type === "envelope" && f.ok && f.envelope.id === id && f.envelope.sender === "operator"),
    ).toBe(true);
    expect(mine.some((f) => f.type === "envelope" && !f.ok && f.code === "AGORA_ERR_BAD_JSON")).toBe(true);
    expect(mine.some((f) => f.type === "envelope" && f.channel === "votes")).toBe(false);
    ws.terminate();
  });

  it("gateway - a slow client loses frames and is told so; the stream is not held up", async () => {
    const sink = {
      sent: [] as string[],
      bufferedAmount: 10 * 1024 * 1024,
      readyState: 1,
      send(d: string) {
        this.sent.push(d);
      },
    };
    const detach = a.gateway!.hub.attach(sink, { role: "viewer", queue: 5 });
    const m = await a.client("maintainer");
    const started = performance.now();
    for (let i = 0; i < 40; i++) await m.send("build-coord", "inform", { i }, { hop: 0 });
    const publishMs = performance.now() - started;
    await until(() => a.gateway!.hub.counters.frames_dropped! >= 30, 10_000, "drops");
    expect(sink.sent).toHaveLength(0); // a full socket is never written to
    sink.bufferedAmount = 0; // the browser catches up
    await until(() => sink.sent.some((s) => JSON.parse(s).type === "dropped"), 5000, "dropped notice");
    const notice = JSON.parse(sink.sent.find((s) => JSON.parse(s).type === "dropped")!);
    expect(notice.count).toBeGreaterThanOrEqual(30);
    expect(publishMs).toBeLessThan(10_000);
    detach();
  });
});
