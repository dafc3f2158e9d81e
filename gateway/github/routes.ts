// POST /github/webhook: the raw body reaches the bridge untouched (HMAC covers the
// exact bytes). A request without a well-formed signature header is refused before
// its body is read, and bodies are capped (github.maxBodyBytes) before buffering.
import type { FastifyInstance } from "fastify";
import type { GithubBridge } from "./bridge.js";

export async function githubWebhookRoutes(app: FastifyInstance, options: { bridge: GithubBridge }): Promise<void> {
  const { bridge } = options;
  // Encapsulated: only this plugin sees JSON as a raw Buffer.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: bridge.gh.maxBodyBytes }, (_req, body, done) =>
    done(null, body),
  );
  app.addHook("onRequest", async (req, reply) => {
    if (bridge.limited(req.ip)) {
      await reply.code(429).send({
        code: "AGORA_ERR_RATE_LIMITED",
        message: "too many refused webhooks from this address; try again in a minute",
      });
      return reply;
    }
    const sig = req.headers["x-hub-signature-256"];
    if (typeof sig !== "string" || !/^sha256=[0-9a-f]{64}$/.test(sig)) {
      const result = await bridge.refuseUnsigned(req.headers, req.ip);
      await reply.code(result.status).send(result.body);
      return reply;
    }
  });
  app.post("/github/webhook", async (req, reply) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const result = await bridge.handleWebhook(raw, req.headers, req.ip);
    return reply.code(result.status).send(result.body);
  });
}
