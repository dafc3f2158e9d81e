// buildApp: the gateway's fastify instance — console, REST, watch, inject, kill switch.
// Building is separate from listening: tests use inject()/injectWS(); only Gateway listens.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import websocket from "@fastify/websocket";
import type { NatsConnection } from "@nats-io/transport-node";
import { AgoraClient } from "../sdk/client.js";
import type { AgoraConfig } from "../config/config.js";
import { issueControl } from "../transport/control-plane.js";
import { ACTS, encodeEnvelope, isAct, MAX_HOP, validateEnvelope, type Envelope } from "../protocol/envelope.js";
import { AgoraError, httpStatus } from "../protocol/errors.js";
import { canonicalize } from "../protocol/jcs.js";
import { KeyRegistry } from "../trust/key-registry.js";
import type { Identity } from "../trust/key-store.js";
import type { HostMetrics } from "../host/metrics.js";
import type { Infrastructure } from "../transport/infrastructure.js";
import { isName } from "../protocol/names.js";
import { channelSubject } from "../protocol/subjects.js";
import { publishEnvelope } from "../transport/publisher.js";
import type { Verifier } from "../trust/verifier.js";
import { findFact, recentFacts } from "./facts-tail.js";
import type { GithubBridge } from "./github/bridge.js";
import { githubWebhookRoutes } from "./github/routes.js";
import { presentedToken, roleOf, type Role, type Tokens } from "./auth.js";
import type { WatchHub } from "./watch-hub.js";
import { ALL_AGENTS, HOST_VERBS, type ControlVerb } from "../protocol/control.js";
import { makeControl } from "../trust/control.js";

export interface GatewayAppOptions {
  config: AgoraConfig;
  nc: NatsConnection;
  infra: Infrastructure;
  hub: WatchHub;
  verifier: Verifier;
  tokens: Tokens;
  /** The gateway's identity: signs injects and control envelopes. */
  identity: Identity;
  /** The in-process host's metrics, when there is one. */
  hostMetrics?: HostMetrics;
  /** The GitHub bridge, when configured: adds POST /github/webhook. */
  bridge?: GithubBridge;
}

const CONSOLE_DIR = fileURLToPath(new URL("./console/", import.meta.url));

function asset(name: string): string {
  return readFileSync(`${CONSOLE_DIR}${name}`, "utf8");
}

/** @noble/ed25519's ESM build, served to the console so keys can live in the browser. */
function nobleSource(): string {
  return readFileSync(createRequire(import.meta.url).resolve("@noble/ed25519"), "utf8");
}

export async function buildApp(options: GatewayAppOptions): Promise<FastifyInstance> {
  const { config, nc, infra, hub, verifier, tokens, identity } = options;
  // No request logging: URLs can carry ?token= and must never be written anywhere.
  const app = Fastify({ logger: false, bodyLimit: 256 * 1024 });
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  const client = new AgoraClient(nc, identity);
  const noble = nobleSource();

  const require = (role: Role) => async (req: FastifyRequest, reply: FastifyReply) => {
    const got = roleOf(presentedToken(req.headers, req.query), tokens);
    if (!got) {
      await reply.code(401).header("www-authenticate", "Bearer").send({ code: "AGORA_ERR_UNAUTHORIZED", message: "missing or unknown token: send Authorization: Bearer <token>" });
      return reply;
    }
    if (role === "operator" && got !== "operator") {
      await reply.code(403).send({ code: "AGORA_ERR_FORBIDDEN", message: "this needs the operator token" });
      return reply;
    }
    (req as FastifyRequest & { role?: Role }).role = got;
  };
  const viewer = { preValidation: require("viewer") };
  const operator = { preValidation: require("operator") };

  app.setErrorHandler(async (err, _req, reply) => {
    if (err instanceof AgoraError) return reply.code(httpStatus(err.code)).send({ code: err.code, message: err.message });
    const e = err as { statusCode?: number; message?: string };
    if (e.statusCode && e.statusCode < 500) return reply.code(e.statusCode).send({ code: "AGORA_ERR_USAGE", message: e.message });
    return reply.code(500).send({ code: "AGORA_ERR_USAGE", message: "internal error" });
  });

  // --- console -----------------------------------------------------------------
  app.get("/", async (_req, reply) => reply.type("text/html; charset=utf-8").send(asset("index.html")));
  app.get("/favicon.ico", async (_req, reply) => reply.code(204).send());
  app.get("/assets/console.js", async (_req, reply) => reply.type("text/javascript; charset=utf-8").send(asset("console.js")));
  app.get("/assets/console.css", async (_req, reply) => reply.type("text/css; charset=utf-8").send(asset("console.css")));
  app.get("/assets/noble-ed25519.js", async (_req, reply) => reply.type("text/javascript; charset=utf-8").send(noble));
  // The host's own JCS, so browser signatures are computed exactly as the host checks them.
  app.get("/assets/jcs.js", async (_req, reply) => reply.type("text/javascript; charset=utf-8").send(`export const canonicalize = ${canonicalize.toString()};\n`));
  // The 22 performatives, from the one list the host checks against.
  app.get("/assets/acts.js", async (_req, reply) => reply.type("text/javascript; charset=utf-8").send(`export const ACTS = ${JSON.stringify(ACTS)};\n`));

  // --- operations --------------------------------------------------------------
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_req, reply) => {
    const ready = !nc.isClosed() && hub.running;
    return reply.code(ready ? 200 : 503).send({ status: ready ? "ready" : "not ready", nats: nc.isClosed() ? "closed" : "connected", watch: hub.running });
  });
  app.get("/metrics", async (_req, reply) => {
    const text = `${options.hostMetrics?.registry.render() ?? ""}${hub.metrics.render()}# HELP agora_gateway_watch_clients WebSocket watch clients connected\n# TYPE agora_gateway_watch_clients gauge\nagora_gateway_watch_clients ${hub.clientCount}\n`;
    return reply.type("text/plain; version=0.0.4; charset=utf-8").send(text);
  });

  // --- REST --------------------------------------------------------------------
  app.get("/api/agents", viewer, async () => hub.agents());
  app.get("/api/channels", viewer, async () =>
    config.channels.map((name) => ({
      name,
      readers: config.agents.filter((a) => a.read.includes(name)).map((a) => a.name),
      writers: [...config.agents, ...config.external].filter((a) => a.write.includes(name)).map((a) => a.name),
    })),
  );
  app.get<{ Querystring: { channel?: string; limit?: string } }>("/api/facts", viewer, async (req) => {
    const limit = Math.min(Math.max(Number(req.query.limit ?? 50) || 50, 1), 500);
    if (req.query.channel !== undefined && !isName(req.query.channel)) throw new AgoraError("AGORA_ERR_BAD_NAME", "channel is not a valid name");
    return recentFacts(config.factsDir, { channel: req.query.channel, limit });
  });

  app.get<{ Params: { id: string } }>("/api/facts/:id", viewer, async (req, reply) => {
    if (!/^FACT-\d{9}$/.test(req.params.id)) throw new AgoraError("AGORA_ERR_USAGE", "a fact id looks like FACT-000000123");
    const fact = findFact(config.factsDir, req.params.id);
    if (!fact) return reply.code(404).send({ code: "AGORA_ERR_USAGE", message: `no fact ${req.params.id}` });
    return fact;
  });

  if (options.bridge) await app.register(githubWebhookRoutes, { bridge: options.bridge });

  // --- inject ------------------------------------------------------------------
  app.post<{ Body: { channel?: unknown; act?: unknown; body?: unknown; hop?: unknown; re?: unknown } }>("/api/inject", operator, async (req) => {
    const { channel, act, body, hop, re } = req.body ?? {};
    if (!isName(channel)) throw new AgoraError("AGORA_ERR_BAD_NAME", "channel must be a channel name");
    if (!config.channels.includes(channel)) throw new AgoraError("AGORA_ERR_UNKNOWN_CHANNEL", `channel ${channel} is not declared`);
    if (!isAct(act)) throw new AgoraError("AGORA_ERR_BAD_ENVELOPE", "act must be one of the 22 FIPA performatives");
    if (hop !== undefined && (typeof hop !== "number" || !Number.isInteger(hop) || hop < 0 || hop > MAX_HOP)) {
      throw new AgoraError("AGORA_ERR_BAD_ENVELOPE", `hop must be an integer 0-${MAX_HOP}`);
    }
    if (re !== undefined && (typeof re !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(re))) throw new AgoraError("AGORA_ERR_BAD_ENVELOPE", "re must be an envelope id");
    if (!config.external.find((e) => e.name === identity.name)?.write.includes(channel)) {
      throw new AgoraError("AGORA_ERR_NOT_GRANTED", `the gateway identity ${identity.name} has no write grant on ${channel} (external.${identity.name}.write)`);
    }
    const size = Buffer.byteLength(JSON.stringify(body ?? null));
    if (size > config.limits.maxEnvelopeBytes - 1024) {
      throw new AgoraError("AGORA_ERR_TOO_LARGE", `body is ${size} bytes; an envelope may be at most ${config.limits.maxEnvelopeBytes}`);
    }
    const { env, ack } = await client.send(channel, act, body ?? null, { hop: (hop as number | undefined) ?? config.limits.hop, re: re as string | undefined });
    return { id: env.id, seq: ack.seq, duplicate: ack.duplicate, envelope: env };
  });

  // Envelopes signed in the browser: the gateway only verifies and forwards.
  app.post<{ Body: { envelope?: unknown } }>("/api/publish", operator, async (req) => {
    let env: Envelope;
    try {
      env = validateEnvelope(req.body?.envelope);
    } catch (err) {
      throw err instanceof AgoraError ? err : new AgoraError("AGORA_ERR_BAD_ENVELOPE", String(err));
    }
    const verdict = await verifier.verify(encodeEnvelope(env), channelSubject(env.channel));
    if (!verdict.ok) throw new AgoraError(verdict.code, verdict.reason);
    const ack = await publishEnvelope(infra.js, env);
    return { id: env.id, seq: ack.seq, duplicate: ack.duplicate };
  });

  // Register a browser-held public key for a declared external identity.
  app.post<{ Body: { name?: unknown; publicKey?: unknown } }>("/api/keys", operator, async (req) => {
    const { name, publicKey } = req.body ?? {};
    if (!isName(name)) throw new AgoraError("AGORA_ERR_BAD_NAME", "name must be an agent name");
    if (!config.external.some((e) => e.name === name && e.browser)) {
      throw new AgoraError("AGORA_ERR_NOT_GRANTED", `${name} is not a browser identity (declare external.${name} with browser: true)`);
    }
    await KeyRegistry.publish(infra.keys, name, String(publicKey));
    return { name, registered: true };
  });

  // --- kill switch (out of band) ---------------------------------------------------
  const control = (verb: ControlVerb) => async (req: FastifyRequest<{ Body: { agent?: unknown; host?: unknown } }>) => {
    const forHost = HOST_VERBS.has(verb);
    const target = forHost ? req.body?.host : req.body?.agent;
    if (forHost ? !isName(target) : target !== ALL_AGENTS && !config.agents.some((a) => a.name === target)) {
      throw new AgoraError("AGORA_ERR_BAD_NAME", forHost ? "host must be a host name" : `agent must be a hosted agent of the config or "*"`);
    }
    const started = performance.now();
    const c = makeControl(verb, target as string, { name: identity.name, key: identity.privateKey });
    const { hosts } = await issueControl(nc, infra.control, c);
    return { [forHost ? "host" : "agent"]: target, verb, id: c.id, hosts, ms: Math.round((performance.now() - started) * 10) / 10 };
  };
  app.post<{ Body: { agent?: unknown } }>("/api/kill", operator, control("kill"));
  app.post<{ Body: { agent?: unknown } }>("/api/revive", operator, control("revive"));
  app.post<{ Body: { host?: unknown } }>("/api/drain", operator, control("drain"));
  app.post<{ Body: { host?: unknown } }>("/api/undrain", operator, control("undrain"));

  // --- live watch ----------------------------------------------------------------
  app.get<{ Querystring: { channel?: string } }>("/api/watch", { websocket: true, ...viewer }, (socket, req) => {
    const channels = req.query.channel ? req.query.channel.split(",").filter(isName) : undefined;
    const role = (req as FastifyRequest & { role?: Role }).role ?? "viewer";
    const detach = hub.attach(socket, { role, channels });
    socket.on("close", detach);
    socket.on("error", detach);
  });

  return app;
}
