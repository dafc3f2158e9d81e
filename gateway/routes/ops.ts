// Operations: liveness, readiness (NATS and the watch), Prometheus metrics.
import type { FastifyInstance } from "fastify";
import type { GatewayContext } from "./context.js";
import { InfraCheck } from "../infra-check.js";

export async function opsRoutes(app: FastifyInstance, { ctx }: { ctx: GatewayContext }): Promise<void> {
  const { nc, hub } = ctx;
  const infra = new InfraCheck(ctx.infra.jsm);
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_req, reply) => {
    const missing = nc.isClosed() ? [] : await infra.missing();
    const ready = !nc.isClosed() && hub.running && !hub.directoryError && missing.length === 0;
    return reply.code(ready ? 200 : 503).send({
      status: ready ? "ready" : "not ready",
      nats: nc.isClosed() ? "closed" : "connected",
      watch: hub.running,
      ...(hub.directoryError ? { agents: hub.directoryError.message } : {}),
      ...(missing.length > 0 ? { missing } : {}),
    });
  });
  app.get("/metrics", async (_req, reply) => {
    const text = `${ctx.hostMetrics?.registry.render() ?? ""}${hub.metrics.render()}# HELP agora_gateway_watch_clients WebSocket watch clients connected\n# TYPE agora_gateway_watch_clients gauge\nagora_gateway_watch_clients ${hub.clientCount}\n`;
    return reply.type("text/plain; version=0.0.4; charset=utf-8").send(text);
  });
}
