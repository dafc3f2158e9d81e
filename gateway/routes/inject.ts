// Operator writes: inject (signed by the gateway), publish (signed in the
// browser, verified here), and registering a browser identity's key.
import {
  bodyProblem,
  encodeEnvelope,
  isAct,
  MAX_HOP,
  validateEnvelope,
  type Envelope,
} from "../../protocol/envelope.js";
import { AgoraError } from "../../protocol/errors.js";
import { ID_RE, isName } from "../../protocol/names.js";
import { channelSubject } from "../../protocol/subjects.js";
import { publishEnvelope } from "../../transport/publisher.js";
import { KeyRegistry } from "../../trust/key-registry.js";
import { AgoraClient } from "../../sdk/client.js";
import type { FastifyInstance } from "fastify";
import type { GatewayContext } from "./context.js";

export async function injectRoutes(app: FastifyInstance, { ctx }: { ctx: GatewayContext }): Promise<void> {
  const { config, nc, infra, verifier, identity, operator } = ctx;
  const client = new AgoraClient(nc, identity);
  app.post<{
    Body: { channel?: unknown; act?: unknown; body?: unknown; hop?: unknown; re?: unknown; conv?: unknown };
  }>("/api/inject", operator, async (req) => {
    const { channel, act, body, hop, re, conv } = req.body ?? {};
    if (!isName(channel)) throw new AgoraError("AGORA_ERR_BAD_NAME", "channel must be a channel name");
    if (!config.channels.includes(channel))
      throw new AgoraError("AGORA_ERR_UNKNOWN_CHANNEL", `channel ${channel} is not declared`);
    if (!isAct(act)) throw new AgoraError("AGORA_ERR_BAD_ENVELOPE", "act must be one of the 22 FIPA performatives");
    if (hop !== undefined && (typeof hop !== "number" || !Number.isInteger(hop) || hop < 0 || hop > MAX_HOP)) {
      throw new AgoraError("AGORA_ERR_BAD_ENVELOPE", `hop must be an integer 0-${MAX_HOP}`);
    }
    if (re !== undefined && (typeof re !== "string" || !ID_RE.test(re)))
      throw new AgoraError("AGORA_ERR_BAD_ENVELOPE", "re must be an envelope id");
    if (conv !== undefined && (typeof conv !== "string" || !ID_RE.test(conv)))
      throw new AgoraError("AGORA_ERR_BAD_ENVELOPE", "conv must be a conversation id");
    if (!config.external.find((e) => e.name === identity.name)?.write.includes(channel)) {
      throw new AgoraError(
        "AGORA_ERR_NOT_GRANTED",
        `the gateway identity ${identity.name} has no write grant on ${channel} (external.${identity.name}.write)`,
      );
    }
    // Refused as a host would, before anything walks it recursively (JSON.stringify overflows at a few thousand levels).
    const problem = bodyProblem(body ?? null);
    if (problem) throw new AgoraError("AGORA_ERR_BAD_ENVELOPE", problem);
    const size = Buffer.byteLength(JSON.stringify(body ?? null));
    if (size > config.limits.maxEnvelopeBytes - 1024) {
      throw new AgoraError(
        "AGORA_ERR_TOO_LARGE",
        `body is ${size} bytes; an envelope may be at most ${config.limits.maxEnvelopeBytes}`,
      );
    }
    // An answer goes below the hop of the message it answers (the gateway has seen it on the watch):
    // by default one below; asked for more, refused here with the code the hosts would give.
    const parent = typeof re === "string" ? verifier.hopOf(re) : undefined;
    const stamped = (hop as number | undefined) ?? (parent !== undefined ? parent - 1 : config.limits.hop);
    if (parent !== undefined && (stamped >= parent || stamped < 0)) {
      throw new AgoraError(
        parent === 0 ? "AGORA_ERR_HOP_EXHAUSTED" : "AGORA_ERR_HOP_VIOLATION",
        parent === 0
          ? `${String(re)} arrived at hop 0: it may not be answered`
          : `${String(re)} is at hop ${parent}: an answer to it must have a lower hop than ${stamped}`,
      );
    }
    const { env, ack } = await client.send(channel, act, body ?? null, {
      hop: stamped,
      re: re as string | undefined,
      conv: conv as string | undefined,
    });
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
    if (ctx.hub.directory.killed(env.sender))
      throw new AgoraError("AGORA_ERR_KILLED", `${env.sender} is killed: revive it before it may send again`);
    const ack = await publishEnvelope(infra.publisher, env);
    return { id: env.id, seq: ack.seq, duplicate: ack.duplicate };
  });

  // Register a browser-held public key for a declared external identity.
  app.post<{ Body: { name?: unknown; publicKey?: unknown } }>("/api/keys", operator, async (req) => {
    const { name, publicKey } = req.body ?? {};
    if (!isName(name)) throw new AgoraError("AGORA_ERR_BAD_NAME", "name must be an agent name");
    if (!config.external.some((e) => e.name === name && e.browser)) {
      throw new AgoraError(
        "AGORA_ERR_NOT_GRANTED",
        `${name} is not a browser identity (declare external.${name} with browser: true)`,
      );
    }
    await KeyRegistry.publish(infra.keys, name, String(publicKey));
    return { name, registered: true };
  });
}
