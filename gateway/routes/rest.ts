// REST for viewers: agents with their status, channels with their grants, recent facts.
import { AgoraError } from "../../protocol/errors.js";
import { assertId, isName } from "../../protocol/names.js";
import type { FastifyInstance } from "fastify";
import type { GatewayContext } from "./context.js";
import { readCards } from "../../transport/presence.js";
import { traceMessage, type TraceFact } from "../../transport/delivery.js";

export async function restRoutes(app: FastifyInstance, { ctx }: { ctx: GatewayContext }): Promise<void> {
  const { config, hub, viewer, facts } = ctx;
  app.get("/api/agents", viewer, async () => hub.agents());
  // Delivery status of one message: per reader, handled / dropped / dead-lettered …, and by which fact.
  // `?channel=` answers from the markers when no fact names the message (no recorder here).
  app.get<{ Params: { id: string }; Querystring: { channel?: string } }>("/api/trace/:id", viewer, async (req) => {
    assertId(req.params.id, "envelope id");
    const channel = req.query.channel;
    if (channel !== undefined && !config.channels.includes(channel))
      throw new AgoraError("AGORA_ERR_UNKNOWN_CHANNEL", `channel ${String(channel).slice(0, 64)} is not declared`);
    const facts = JSON.parse(await ctx.facts.trace(req.params.id)) as TraceFact[];
    return traceMessage(config, ctx.infra, req.params.id, { facts, channel });
  });
  // Agent cards with presence: only those their agent's key signed.
  app.get("/api/cards", viewer, async () =>
    readCards(ctx.infra.cards, (name) => ctx.registry.get(name) ?? ctx.registry.refresh(ctx.infra.keys, name), {
      config,
      killed: (name) => ctx.hub.directory.killed(name),
    }),
  );
  app.get("/api/channels", viewer, async () =>
    config.channels.map((name) => ({
      name,
      readers: config.agents.filter((a) => a.read.includes(name)).map((a) => a.name),
      writers: [...config.agents, ...config.external].filter((a) => a.write.includes(name)).map((a) => a.name),
    })),
  );
  app.get<{ Querystring: { channel?: string; limit?: string } }>("/api/facts", viewer, async (req, reply) => {
    const limit = Math.min(Math.max(Number(req.query.limit ?? 50) || 50, 1), 500);
    if (req.query.channel !== undefined && !isName(req.query.channel))
      throw new AgoraError("AGORA_ERR_BAD_NAME", "channel is not a valid name");
    return reply
      .type("application/json; charset=utf-8")
      .send(await facts.recent({ channel: req.query.channel, limit }));
  });

  // Conversations and where each stands, from the facts; one with its acts (a tree by their `re`).
  app.get<{ Querystring: { all?: string; limit?: string } }>("/api/convs", viewer, async (req, reply) => {
    const limit = Math.min(Math.max(Number(req.query.limit ?? 50) || 50, 1), 500);
    return reply
      .type("application/json; charset=utf-8")
      .send(await facts.conversations({ all: req.query.all === "1" || req.query.all === "true", limit }));
  });
  app.get<{ Params: { conv: string } }>("/api/convs/:conv", viewer, async (req, reply) => {
    assertId(req.params.conv, "conversation id");
    const [c] = JSON.parse(await facts.conversations({ conv: req.params.conv, limit: 1 })) as unknown[];
    if (!c)
      return reply.code(404).send({ code: "AGORA_ERR_USAGE", message: `no act of conversation ${req.params.conv}` });
    return c;
  });

  app.get<{ Params: { id: string } }>("/api/facts/:id", viewer, async (req, reply) => {
    if (!/^FACT-\d{9}$/.test(req.params.id))
      throw new AgoraError("AGORA_ERR_USAGE", "a fact id looks like FACT-000000123");
    const fact = await facts.find(req.params.id);
    if (!fact) return reply.code(404).send({ code: "AGORA_ERR_USAGE", message: `no fact ${req.params.id}` });
    return reply.type("application/json; charset=utf-8").send(fact);
  });
}
