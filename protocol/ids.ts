// Deterministic ids: reprocessing an input republishes the same ids, so JetStream drops them.
import { createHash, randomBytes } from "node:crypto";

/** Id of the `index`-th message `agent` emits while handling input `inputId` (24 chars). */
export function emittedId(agent: string, inputId: string, index: number): string {
  return createHash("sha256").update(`${agent}\n${inputId}\n${index}`).digest("base64url").slice(0, 24);
}

/** Nats-Msg-Id of a recorded host decision. */
export function eventMsgId(type: string, agent: string, seq: number, extra = ""): string {
  return `ev-${createHash("sha256").update(`${type}\n${agent}\n${seq}\n${extra}`).digest("base64url").slice(0, 24)}`;
}

/** A fresh random envelope id for injected messages. */
export function randomId(): string {
  return randomBytes(16).toString("base64url");
}
