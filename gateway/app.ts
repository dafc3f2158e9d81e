// buildApp: the gateway's fastify instance — console, REST, watch, inject, kill
// switch — each a route plugin under routes/. Building is separate from
// listening: tests use inject()/injectWS(); only Gateway listens.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import websocket from "@fastify/websocket";
import type { NatsConnection } from "@nats-io/transport-node";
import type { AgoraConfig } from "../config/config.js";
import type { HostMetrics } from "../host/metrics.js";
import { AgoraError, httpStatus } from "../protocol/errors.js";
import type { Infrastructure } from "../transport/infrastructure.js";
import type { Identity } from "../trust/key-store.js";
import type { Verifier } from "../trust/verifier.js";
import type { KeyRegistry } from "../trust/key-registry.js";
import { presentedToken, roleOf, type Role, type Tokens } from "./auth.js";
import { hostName, LoginThrottle, SECURITY_HEADERS } from "./guard.js";
import { publishEvent } from "../transport/publisher.js";
import type { GithubBridge } from "./github/bridge.js";
import { githubWebhookRoutes } from "./github/routes.js";
import { consoleRoutes } from "./routes/console.js";
import type { GatewayContext } from "./routes/context.js";
import { controlRoutes } from "./routes/control.js";
import { injectRoutes } from "./routes/inject.js";
import { opsRoutes } from "./routes/ops.js";
import { restRoutes } from "./routes/rest.js";
import { watchRoutes } from "./routes/watch.js";
import type { WatchHub } from "./watch-hub.js";
import { FactsQueries } from "./facts-queries.js";

export interface GatewayAppOptions {
  config: AgoraConfig;
  nc: NatsConnection;
  infra: Infrastructure;
  hub: WatchHub;
  verifier: Verifier;
  /** Public keys (cards are checked against them). */
  registry: KeyRegistry;
  tokens: Tokens;
  /** The gateway's identity: signs injects and control envelopes. */
  identity: Identity;
  /** The in-process host's metrics, when there is one. */
  hostMetrics?: HostMetrics;
  /** The GitHub bridge, when configured: adds POST /github/webhook. */
  bridge?: GithubBridge;
}

export async function buildApp(options: GatewayAppOptions): Promise<FastifyInstance> {
  const { tokens } = options;
  // No request logging: URLs can carry ?token= and must never be written anywhere.
  // Requests must arrive whole within 30 s and headers within 10 s (idle sockets are closed), and
  // connections are capped: clients cannot exhaust the file descriptors the host and recorder share.
  const app = Fastify({ logger: false, bodyLimit: 256 * 1024, requestTimeout: 30_000 });
  app.server.headersTimeout = 10_000;
  app.server.maxConnections = options.config.gateway.maxConnections;
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });

  const { allowedHosts } = options.config.gateway;
  const { identity } = options;
  // One signed fact per address and minute of failed sign-ins, not one per attempt.
  // Publishes still in flight are awaited on close: the last windows must be on the record before
  // the connection goes (a caller that drains it next would lose them).
  const publishing = new Set<Promise<unknown>>();
  const throttle = new LoginThrottle(options.config.gateway.maxFailedLogins, 60_000, (w) => {
    const p = publishEvent(options.infra.publisher, identity, {
      type: "signin_refused",
      agent: identity.name,
      code: "AGORA_ERR_UNAUTHORIZED",
      source: String(w.address).slice(0, 64),
      count: w.count,
      window: `${w.address}@${w.since}`,
    })
      .catch(() => {})
      .finally(() => publishing.delete(p));
    publishing.add(p);
  });
  const sweep = setInterval(() => throttle.sweep(), 15_000);
  sweep.unref();
  app.addHook("onClose", async () => {
    clearInterval(sweep);
    throttle.sweep(Infinity);
    await Promise.all(publishing);
  });
  // Every answer carries the security headers; only our own Host names are answered (DNS rebinding),
  // except health checks and the webhook, which no browser credential protects.
  app.addHook("onSend", async (_req, reply) => {
    reply.headers(SECURITY_HEADERS);
  });
  app.addHook("onRequest", async (req, reply) => {
    const path = req.url.split("?", 1)[0]!;
    if (path === "/healthz" || path === "/readyz" || path === "/github/webhook") return;
    // A browser always sends Host; a client that sends none is not a page under another name.
    if (req.headers.host === undefined) return;
    const host = hostName(req.headers.host);
    if (!host || !allowedHosts.includes(host)) {
      await reply.code(403).send({
        code: "AGORA_ERR_FORBIDDEN",
        message: `Host ${JSON.stringify(req.headers.host ?? "")} is not one this gateway answers; add it to gateway.allowedHosts`,
      });
      return reply;
    }
  });

  const require = (role: Role) => async (req: FastifyRequest, reply: FastifyReply) => {
    const address = req.ip ?? "unknown"; // an injected request has no socket
    if (throttle.blocked(address)) {
      await reply.code(429).send({
        code: "AGORA_ERR_RATE_LIMITED",
        message: "too many failed sign-ins from this address; try again in a minute",
      });
      return reply;
    }
    // A token in the URL only for the watch (a browser's WebSocket cannot set headers); never for a change.
    const got = roleOf(presentedToken(req.headers, req.method === "GET" ? req.query : undefined), tokens);
    if (!got) {
      throttle.failed(address);
      await reply.code(401).header("www-authenticate", "Bearer").send({
        code: "AGORA_ERR_UNAUTHORIZED",
        message: "missing or unknown token: send Authorization: Bearer <token>",
      });
      return reply;
    }
    if (role === "operator" && got !== "operator") {
      await reply.code(403).send({ code: "AGORA_ERR_FORBIDDEN", message: "this needs the operator token" });
      return reply;
    }
    (req as FastifyRequest & { role?: Role }).role = got;
  };

  app.setErrorHandler(async (err, _req, reply) => {
    if (err instanceof AgoraError)
      return reply.code(httpStatus(err.code)).send({ code: err.code, message: err.message });
    const e = err as { statusCode?: number; message?: string };
    if (e.statusCode && e.statusCode < 500)
      return reply.code(e.statusCode).send({ code: "AGORA_ERR_USAGE", message: e.message });
    return reply.code(500).send({ code: "AGORA_ERR_USAGE", message: "internal error" });
  });

  const ctx: GatewayContext = {
    config: options.config,
    nc: options.nc,
    infra: options.infra,
    hub: options.hub,
    verifier: options.verifier,
    registry: options.registry,
    identity: options.identity,
    hostMetrics: options.hostMetrics,
    facts: new FactsQueries(options.config.factsDir),
    viewer: { preValidation: require("viewer") },
    operator: { preValidation: require("operator") },
  };
  await app.register(consoleRoutes);
  await app.register(opsRoutes, { ctx });
  await app.register(restRoutes, { ctx });
  if (options.bridge) await app.register(githubWebhookRoutes, { bridge: options.bridge });
  await app.register(injectRoutes, { ctx });
  await app.register(controlRoutes, { ctx });
  await app.register(watchRoutes, { ctx });
  app.addHook("onClose", () => ctx.facts.close());
  return app;
}
