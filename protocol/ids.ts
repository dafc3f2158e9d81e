// Deterministic ids: reprocessing an input republishes the same ids, so JetStream drops them.
// Keyed with the emitter's secret (its Ed25519 seed): the stream's duplicate window spans every
// subject, so an id anyone could compute could be published first — and the real message dropped.
import { createHmac, randomBytes } from "node:crypto";

/** base64url(HMAC-SHA256(secret, label + "\n" + parts joined by "\n")), cut to 24 chars. */
function keyed(secret: string, label: string, parts: readonly (string | number)[]): string {
  return createHmac("sha256", Buffer.from(secret, "base64url"))
    .update([label, ...parts].join("\n"))
    .digest("base64url")
    .slice(0, 24);
}

/** Id of the `index`-th message `agent` emits while handling input `inputId` (24 chars); `secret` is the emitter's seed. */
export function emittedId(secret: string, agent: string, inputId: string, index: number): string {
  return keyed(secret, "agora-emitted-id-v1", [agent, inputId, index]);
}

/** Nats-Msg-Id of a recorded host decision; `secret` is the signer's seed. */
export function eventMsgId(secret: string, type: string, agent: string, seq: number, extra = ""): string {
  return `ev-${keyed(secret, "agora-event-id-v1", [type, agent, seq, extra])}`;
}

/** A fresh random envelope id for injected messages. */
export function randomId(): string {
  return randomBytes(16).toString("base64url");
}

/** Id of the timer `tag` that `agent` set while handling `setId` (24 chars): its Nats-Msg-Id when it fires, and the timeout's id. */
export function timerId(secret: string, agent: string, setId: string, tag: string): string {
  return keyed(secret, "agora-timer-id-v1", [agent, setId, tag]);
}
