// An external client written only from the wire format in docs/wire.md: nats.js and
// node:crypto, no agora code. It registers its key, sends a request to a hosted
// agent, and verifies the signed reply.
import { describe, expect, it } from "vitest";
import { generateKeyPairSync, createPublicKey, sign, verify, randomBytes } from "node:crypto";
import { connect, headers, nkeyAuthenticator } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { startAgora } from "../helpers/agora.js";
import { agentWasm } from "../helpers/paths.js";

// --- the client: nothing below imports agora ---------------------------------
function jcs(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(jcs).join(",")}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${jcs(o[k])}`)
    .join(",")}}`;
}
/** The NATS nkey seed (`SU…`) of a raw Ed25519 seed: base32 of the two prefix bytes, the seed and a CRC-16. */
function nkeySeed(raw: Uint8Array): Uint8Array {
  const bytes = [(18 << 3) | ((20 << 3) >> 5), ((20 << 3) & 31) << 3, ...raw];
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  bytes.push(crc & 0xff, crc >> 8);
  let bits = 0;
  let value = 0;
  let out = "";
  for (const b of bytes) {
    value = ((value << 8) | b) & 0xffff;
    bits += 8;
    for (; bits >= 5; bits -= 5) out += "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[(value >>> (bits - 5)) & 31];
  }
  if (bits > 0) out += "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[(value << (5 - bits)) & 31];
  return new TextEncoder().encode(out);
}
const signingBytes = (env: Record<string, unknown>) => {
  const { sig: _s, ...rest } = env;
  return Buffer.from(`agora-envelope-v1\n${jcs(rest)}`, "utf8");
};
// -------------------------------------------------------------------------------

describe("wire format", () => {
  it("wire format - an external nats.js + node:crypto client talks to a hosted agent and verifies the reply", async () => {
    // The client's key, declared in the config: the generated authorization lets it log in with it.
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const raw = publicKey.export({ format: "jwk" }).x as string; // base64url of the raw 32 bytes
    const rawSeed = Buffer.from(privateKey.export({ format: "jwk" }).d as string, "base64url");
    await using a = await startAgora({
      channels: ["build-coord"],
      agents: { responder: { component: agentWasm("responder"), read: ["build-coord"], write: ["build-coord"] } },
      external: { "ext-client": { read: ["build-coord"], write: ["build-coord"], publicKey: raw } },
    });
    await a.startHost();

    // Auth is on: log in with the same key as an nkey, replies under the identity's own inbox prefix.
    const nc = await connect({
      servers: a.nats.url,
      authenticator: nkeyAuthenticator(nkeySeed(rawSeed)),
      inboxPrefix: "_INBOX.ext-client",
    });
    try {
      const kv = await new Kvm(nc).open("agora-keys");
      await kv.put("ext-client", raw);

      const replies: Record<string, unknown>[] = [];
      const sub = nc.subscribe("agora.ch.build-coord");
      const got = (async () => {
        for await (const m of sub) {
          const env = JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>;
          if (env.sender === "responder") {
            replies.push(env);
            break;
          }
        }
      })();

      const env: Record<string, unknown> = {
        v: 1,
        id: randomBytes(12).toString("base64url"),
        channel: "build-coord",
        sender: "ext-client",
        act: "request",
        body: { task: "compile", n: 1.5, list: [true, null, "ü"] },
        hop: 3,
        ts: new Date().toISOString(),
      };
      env.sig = sign(null, signingBytes(env), privateKey).toString("base64url");
      const h = headers();
      h.set("Nats-Msg-Id", String(env.id));
      const ack = await jetstream(nc).publish("agora.ch.build-coord", JSON.stringify(env), { headers: h });
      expect(ack.stream).toBe("AGORA");

      await Promise.race([got, new Promise((_, rej) => setTimeout(() => rej(new Error("no reply")), 10_000))]);
      const reply = replies[0]!;
      expect(reply).toMatchObject({ v: 1, channel: "build-coord", act: "agree", re: env.id, hop: 2, conv: env.id });
      const responderKey = (await kv.get("responder"))!.string();
      const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: responderKey }, format: "jwk" });
      expect(verify(null, signingBytes(reply), key, Buffer.from(String(reply.sig), "base64url"))).toBe(true);
      // and a tampered copy does not verify
      expect(verify(null, signingBytes({ ...reply, hop: 3 }), key, Buffer.from(String(reply.sig), "base64url"))).toBe(
        false,
      );
    } finally {
      await nc.drain();
    }
  });
});
