// The live watch: typed JSON frames over a WebSocket, from the hub's bounded per-client queue.
import type { FastifyReply, FastifyRequest } from "fastify";
import { originAllowed } from "../guard.js";
import { isName } from "../../protocol/names.js";
import type { Role } from "../auth.js";
import type { FastifyInstance } from "fastify";
import type { GatewayContext } from "./context.js";

export async function watchRoutes(app: FastifyInstance, { ctx }: { ctx: GatewayContext }): Promise<void> {
  const { hub, viewer } = ctx;
  const { allowedHosts } = ctx.config.gateway;
  // A browser always sends Origin on a WebSocket: only pages of this gateway may open the watch.
  const sameOrigin = async (req: FastifyRequest, reply: FastifyReply) => {
    const origin = req.headers.origin;
    if (origin !== undefined && !originAllowed(origin, allowedHosts)) {
      await reply
        .code(403)
        .send({ code: "AGORA_ERR_FORBIDDEN", message: `Origin ${JSON.stringify(origin)} may not open the watch` });
      return reply;
    }
  };
  const guards = { preValidation: [sameOrigin, viewer.preValidation] };
  app.get<{ Querystring: { channel?: string } }>("/api/watch", { websocket: true, ...guards }, (socket, req) => {
    const channels = req.query.channel ? req.query.channel.split(",").filter(isName) : undefined;
    const role = (req as FastifyRequest & { role?: Role }).role ?? "viewer";
    const detach = hub.attach(socket, { role, channels });
    socket.on("close", detach);
    socket.on("error", detach);
  });
}
