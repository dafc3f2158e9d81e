// Stage 5 — call: what the worker gets for an admitted message — the envelope as a component sees
// it (body as JSON text), the host's time, the timer it is the timeout of, and the version that
// handles it (a canary takes a share of the conversations, by a stable hash of the conv).
import type { Envelope } from "../../protocol/envelope.js";
import type { Call, ComponentEnvelope } from "../workers/worker-protocol.js";
import { CANARY, type Canary } from "./canary.js";

export function toComponentEnvelope(env: Envelope): ComponentEnvelope {
  return {
    v: env.v,
    id: env.id,
    channel: env.channel,
    sender: env.sender,
    act: env.act,
    body: JSON.stringify(env.body),
    hop: env.hop,
    ts: env.ts,
    re: env.re ?? null,
    conv: env.conv ?? null,
    sig: env.sig,
  };
}

/** The call of `env` at host time `now`; `timer`: it is a timeout (its body names the timer's tag). */
export function callOf(env: Envelope, now: number, timer: boolean, canary: Canary | undefined): Call {
  const version = canary?.versionOf(env.conv ?? env.id) ?? 0;
  return {
    env: toComponentEnvelope(env),
    now,
    ...(timer ? { timeout: (env.body as { timeout: string }).timeout } : {}),
    ...(version === CANARY ? { version } : {}),
  };
}
