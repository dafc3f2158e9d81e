// Publisher: sign and publish envelopes and host events with their Nats-Msg-Id.
import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import type { KeyObject } from "node:crypto";
import { AgoraError } from "./errors.js";
import { encodeEnvelope, type Envelope, type UnsignedEnvelope } from "./envelope.js";
import { eventSigningInput, type HostEvent, type SignedEvent } from "./events.js";
import { channelSubject } from "./names.js";
import { signBytes, signEnvelope } from "./signing.js";

/** Publish a signed envelope on its channel's subject; the ack's `duplicate` is true when JetStream dropped a replay. */
export async function publishEnvelope(js: JetStreamClient, env: Envelope): Promise<PubAck> {
  try {
    return await js.publish(channelSubject(env.channel), encodeEnvelope(env), { msgID: env.id });
  } catch (cause) {
    throw new AgoraError("AGORA_ERR_PUBLISH", `publish of ${env.id} on ${env.channel} failed: ${(cause as Error).message}`, { cause });
  }
}

/** Sign `unsigned` with `key` and publish it. */
export async function signAndPublish(js: JetStreamClient, key: KeyObject, unsigned: UnsignedEnvelope): Promise<{ env: Envelope; ack: PubAck }> {
  const env = signEnvelope(key, unsigned);
  return { env, ack: await publishEnvelope(js, env) };
}

/** Sign a host decision and publish it on `agora.ev.<type>` for the recorder. */
export async function publishEvent(
  js: JetStreamClient,
  host: { name: string; key: KeyObject },
  event: HostEvent,
  msgId: string,
): Promise<void> {
  const unsigned = { ...event, v: 1 as const, host: host.name, ts: new Date().toISOString() };
  const signed: SignedEvent = { ...unsigned, sig: signBytes(host.key, eventSigningInput(unsigned)) } as SignedEvent;
  try {
    await js.publish(`agora.ev.${event.type}`, JSON.stringify(signed), { msgID: msgId });
  } catch (cause) {
    throw new AgoraError("AGORA_ERR_PUBLISH", `publish of event ${event.type} failed: ${(cause as Error).message}`, { cause });
  }
}
