// Signing and verifying control envelopes (kill, revive, drain, undrain).
import type { KeyObject } from "node:crypto";
import {
  ALL_AGENTS,
  CONTROL_VERBS,
  controlSigningInput,
  HOST_VERBS,
  type ControlEnvelope,
  type ControlVerb,
} from "../protocol/control.js";
import { AgoraError } from "../protocol/errors.js";
import { randomId } from "../protocol/ids.js";
import { isName } from "../protocol/names.js";
import type { KeyRegistry } from "./key-registry.js";
import { killTarget, type AgoraConfig } from "../config/config.js";
import type { ControlState } from "../protocol/control.js";
import { signBytes, verifyBytes } from "./signing.js";

/** Sign a control: `target` is the agent (or "*") for kill/revive, the host for drain/undrain. */
export function makeControl(verb: ControlVerb, target: string, by: { name: string; key: KeyObject }): ControlEnvelope {
  const forHost = HOST_VERBS.has(verb);
  if (!isName(target) && (forHost || target !== ALL_AGENTS)) {
    throw new AgoraError(
      "AGORA_ERR_BAD_NAME",
      `${forHost ? "host" : "agent"} ${JSON.stringify(target)} is not a valid name${forHost ? "" : ' (or "*")'}`,
    );
  }
  const unsigned = {
    v: 1 as const,
    id: randomId(),
    verb,
    ...(forHost ? { host: target } : { agent: target }),
    by: by.name,
    ts: new Date().toISOString(),
  };
  return { ...unsigned, sig: signBytes(by.key, controlSigningInput(unsigned)) };
}

/** Parse and verify a control envelope: signed by one of `controllers`, whose key the registry knows. */
export function verifyControl(
  data: Uint8Array,
  keys: KeyRegistry,
  controllers: readonly string[],
): ControlEnvelope | undefined {
  let c: ControlEnvelope;
  try {
    c = JSON.parse(Buffer.from(data).toString("utf8")) as ControlEnvelope;
  } catch {
    return undefined;
  }
  if (c?.v !== 1 || !CONTROL_VERBS.includes(c.verb) || typeof c.sig !== "string" || typeof c.id !== "string")
    return undefined;
  if (
    HOST_VERBS.has(c.verb)
      ? !isName(c.host) || c.agent !== undefined
      : (c.agent !== ALL_AGENTS && !isName(c.agent)) || c.host !== undefined
  )
    return undefined;
  if (!controllers.includes(c.by)) return undefined;
  const key = keys.get(c.by);
  if (!key || !verifyBytes(key, controlSigningInput(c), c.sig)) return undefined;
  return c;
}

/** Whether the operator's kill is in force for `name`: a hosted agent, or an identity whose sends a kill stops. */
export function isKilled(config: AgoraConfig, state: Pick<ControlState, "killed">, name: string): boolean {
  return killTarget(config, name) && state.killed(name);
}
