// POST /github/webhook: the raw body reaches the bridge untouched (HMAC covers the exact bytes).
import type { FastifyInstance } from "fastify";
import type { GithubBridge } from "./bridge.js";

export async function githubWebhookRoutes(app: FastifyInstance, options: { bridge: GithubBridge }): Promise<void> {
  // Encapsulated: only this plugin sees JSON as a raw Buffer.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: 25 * 1024 * 1024 }, (_req, body, done) =>
    done(null, body),
  );
  app.post("/github/webhook", async (req, reply) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const result = await options.bridge.handleWebhook(raw, req.headers);
    return reply.code(result.status).send(result.body);
  });
}
