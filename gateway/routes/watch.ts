// The live watch: typed JSON frames over a WebSocket, from the hub's bounded per-client queue.
import type { FastifyRequest } from "fastify";
import { isName } from "../../protocol/names.js";
import type { Role } from "../auth.js";
import type { FastifyInstance } from "fastify";
import type { GatewayContext } from "./context.js";

export async function watchRoutes(app: FastifyInstance, { ctx }: { ctx: GatewayContext }): Promise<void> {
  const { hub, viewer } = ctx;
  app.get<{ Querystring: { channel?: string } }>("/api/watch", { websocket: true, ...viewer }, (socket, req) => {
    const channels = req.query.channel ? req.query.channel.split(",").filter(isName) : undefined;
    const role = (req as FastifyRequest & { role?: Role }).role ?? "viewer";
    const detach = hub.attach(socket, { role, channels });
    socket.on("close", detach);
    socket.on("error", detach);
  });
}
