// The gateway as an attacker meets it: foreign Host names (DNS rebinding), foreign
// Origins on the watch, tokens in URLs of state changes, guessing tokens, idle
// connections piling up — each refused or bounded, the kill switch still answering.
import { connect as tcpConnect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { readFacts, startAgora, TOKENS, until, type TestAgora } from "../helpers/agora.js";
import { agentWasm } from "../helpers/paths.js";

let a: TestAgora;
let url: string;
const op = { authorization: `Bearer ${TOKENS.operator}` };

beforeAll(async () => {
  a = await startAgora({
    channels: ["build-coord"],
    agents: { responder: { component: agentWasm("responder"), read: ["build-coord"], write: ["build-coord"] } },
    external: { operator: { write: ["build-coord"] } },
    gateway: { maxConnections: 8, maxFailedLogins: 5 },
  });
  await a.startHost();
  url = await (await a.startGateway()).listen({ port: 0 });
});

afterAll(async () => {
  await a?.close();
});

describe("gateway - hardening", () => {
  it("gateway - every answer carries CSP, frame-ancestors 'none', nosniff and no-referrer", async () => {
    const app = a.gateway!.app;
    for (const path of ["/", "/api/agents", "/nonexistent"]) {
      const res = await app.inject({ url: path, headers: { authorization: `Bearer ${TOKENS.viewer}` } });
      expect(res.headers["content-security-policy"]).toContain("frame-ancestors 'none'");
      expect(res.headers["content-security-policy"]).toContain("script-src 'self'");
      expect(res.headers["x-content-type-options"]).toBe("nosniff");
      expect(res.headers["referrer-policy"]).toBe("no-referrer");
    }
  });

  it("gateway - a page under another Host name (DNS rebinding) is refused; health checks are not", async () => {
    const app = a.gateway!.app;
    const evil = await app.inject({
      url: "/api/agents",
      headers: { host: "attacker.example:8080", authorization: `Bearer ${TOKENS.viewer}` },
    });
    expect(evil.statusCode).toBe(403);
    expect(evil.json()).toMatchObject({ code: "AGORA_ERR_FORBIDDEN" });
    expect((await app.inject({ url: "/", headers: { host: "attacker.example" } })).statusCode).toBe(403);
    for (const host of ["127.0.0.1:9999", "localhost", "[::1]:80"]) {
      expect(
        (await app.inject({ url: "/api/agents", headers: { host, authorization: `Bearer ${TOKENS.viewer}` } }))
          .statusCode,
        host,
      ).toBe(200);
    }
    expect((await app.inject({ url: "/healthz", headers: { host: "10.0.0.7:8080" } })).statusCode).toBe(200);
  });

  it("gateway - the operator token is taken from the Authorization header only for a change, never from the URL", async () => {
    const app = a.gateway!.app;
    const inUrl = await app.inject({
      method: "POST",
      url: `/api/revive?token=${TOKENS.operator}`,
      payload: { agent: "responder" },
    });
    expect(inUrl.statusCode).toBe(401);
    const inHeader = await app.inject({
      method: "POST",
      url: "/api/revive",
      headers: op,
      payload: { agent: "responder" },
    });
    expect(inHeader.statusCode).toBe(200);
  });

  it("gateway - inject refuses what a host would refuse: a body nested too deep, or not I-JSON — 400, never 200 or 500", async () => {
    const app = a.gateway!.app;
    const inject = (body: string) =>
      app.inject({
        method: "POST",
        url: "/api/inject",
        headers: { ...op, "content-type": "application/json" },
        payload: `{"channel":"build-coord","act":"inform","body":${body}}`,
      });
    for (const body of [`${"[".repeat(65)}1${"]".repeat(65)}`, `${"[".repeat(5000)}${"]".repeat(5000)}`, '"\\ud800"']) {
      const res = await inject(body);
      expect(res.statusCode, `${body.length} ${res.body}`).toBe(400);
      expect(res.json()).toMatchObject({ code: "AGORA_ERR_BAD_ENVELOPE" });
    }
  });

  it("gateway - the watch opens for this gateway's pages and refuses a foreign Origin", async () => {
    const wsUrl = `${url.replace(/^http/, "ws")}/api/watch?token=${TOKENS.viewer}`;
    const open = (origin?: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(wsUrl, origin ? { origin } : {});
        ws.on("open", () => {
          ws.close();
          resolve(101);
        });
        ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
        ws.on("error", () => resolve(0));
      });
    expect(await open("http://attacker.example")).toBe(403);
    expect(await open("null")).toBe(403);
    expect(await open(url)).toBe(101);
    expect(await open()).toBe(101); // not a browser: no Origin
  });

  it("gateway - idle connections are capped: the rest are refused, and the kill switch answers once they go", async () => {
    const sockets: Socket[] = [];
    const closed: boolean[] = [];
    const port = Number(new URL(url).port);
    for (let i = 0; i < 30; i++) {
      const s = tcpConnect({ host: "127.0.0.1", port });
      const k = closed.push(false) - 1;
      s.on("close", () => (closed[k] = true));
      s.on("error", () => {});
      sockets.push(s);
    }
    await until(() => closed.filter(Boolean).length >= 22, 10_000, "connections beyond the cap to be refused");
    expect(closed.filter((c) => !c).length).toBeLessThanOrEqual(8);
    for (const s of sockets) s.destroy();
    const connections = () => new Promise<number>((r) => a.gateway!.app.server.getConnections((_e, n) => r(n)));
    await until(async () => (await connections()) === 0, 10_000, "the idle connections to go");
    expect((await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5000) })).status).toBe(200);
    const kill = await fetch(`${url}/api/kill`, {
      signal: AbortSignal.timeout(5000),
      method: "POST",
      headers: { ...op, "content-type": "application/json" },
      body: JSON.stringify({ agent: "responder" }),
    });
    expect(kill.status).toBe(200);
  });

  it("gateway - guessing tokens is throttled per address: past the limit even the right token waits", async () => {
    const app = a.gateway!.app;
    const from = (remoteAddress: string, token: string) =>
      app.inject({ url: "/api/agents", remoteAddress, headers: { authorization: `Bearer ${token}` } });
    for (let i = 0; i < 5; i++) expect((await from("10.9.9.9", `wrong-${i}-0123456789`)).statusCode).toBe(401);
    const limited = await from("10.9.9.9", TOKENS.viewer);
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ code: "AGORA_ERR_RATE_LIMITED" });
    expect((await from("10.1.2.3", TOKENS.viewer)).statusCode).toBe(200);
  });
});

describe("gateway - readiness", () => {
  it("gateway - /readyz fails, naming what is missing, once agora's stream is deleted", async () => {
    const app = a.gateway!.app;
    expect((await app.inject({ url: "/readyz" })).statusCode).toBe(200);
    await a.infra.jsm.streams.delete("AGORA");
    await until(async () => (await app.inject({ url: "/readyz" })).statusCode === 503, 10_000, "not ready");
    expect((await app.inject({ url: "/readyz" })).json()).toMatchObject({ status: "not ready", missing: ["AGORA"] });
  });
});

describe("gateway - failed sign-ins on the record", () => {
  it("gateway - failed sign-ins become one signed fact per address and minute, counting them", async () => {
    await using b = await startAgora({ channels: ["build-coord"], gateway: { maxFailedLogins: 3 } });
    await b.startRecorder();
    const app = (await b.startGateway()).app;
    for (let i = 0; i < 8; i++)
      await app.inject({
        url: "/api/agents",
        remoteAddress: "10.7.7.7",
        headers: { authorization: `Bearer guess-${i}-0123456789` },
      });
    await app.inject({
      url: "/api/agents",
      remoteAddress: "10.8.8.8",
      headers: { authorization: "Bearer guess-x-0123456789" },
    });
    await app.close(); // ends the open windows
    await b.settleFacts();
    const refused = readFacts(b.config.factsDir)
      .filter((f) => f.type === "signin-refused")
      .map((f) => JSON.parse(String(f.fields.event)) as { source: string; count: number; code: string });
    expect(refused.sort((x, y) => x.source.localeCompare(y.source))).toMatchObject([
      { source: "10.7.7.7", count: 8, code: "AGORA_ERR_UNAUTHORIZED" },
      { source: "10.8.8.8", count: 1 },
    ]);
  });
});
