// Publisher: sign and publish envelopes and host events with their Nats-Msg-Id.
import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import type { KeyObject } from "node:crypto";
import { AgoraError } from "../protocol/errors.js";
import { encodeEnvelope, type Envelope, type UnsignedEnvelope } from "../protocol/envelope.js";
import {
  eventDistinction,
  eventSigningInput,
  subjectOfEvent,
  type HostEvent,
  type SignedEvent,
} from "../protocol/events.js";
import { eventMsgId } from "../protocol/ids.js";
import type { Identity } from "../trust/key-store.js";
import { channelSubject } from "../protocol/subjects.js";
import { backoffMs, sleep } from "./backoff.js";
import { signBytes, signEnvelope } from "../trust/signing.js";

/** How long a publish keeps retrying through a NATS outage. @default 30000 */
export const DEFAULT_PUBLISH_RETRY_MS = 30_000;

/**
 * Publish with retries: while NATS is unreachable (a restart, a partition) the
 * same bytes are sent again with the same Nats-Msg-Id, so JetStream stores them
 * once however often we try. Gives up after `retryMs`.
 */
export async function publishWithRetry(
  js: JetStreamClient,
  subject: string,
  data: Uint8Array | string,
  msgID: string,
  retryMs = DEFAULT_PUBLISH_RETRY_MS,
): Promise<PubAck> {
  const deadline = Date.now() + retryMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await js.publish(subject, data, { msgID, timeout: 2000 });
    } catch (cause) {
      if (Date.now() >= deadline) {
        throw new AgoraError(
          "AGORA_ERR_PUBLISH",
          `publish of ${msgID} on ${subject} failed for ${retryMs} ms: ${(cause as Error).message}`,
          { cause },
        );
      }
      await sleep(backoffMs(attempt, 100, 1000));
    }
  }
}

/** Publish a signed envelope on its channel's subject; the ack's `duplicate` is true when JetStream dropped a replay. */
export function publishEnvelope(js: JetStreamClient, env: Envelope, retryMs?: number): Promise<PubAck> {
  return publishWithRetry(js, channelSubject(env.channel), encodeEnvelope(env), env.id, retryMs);
}

/** Sign `unsigned` with `key` and publish it. */
export async function signAndPublish(
  js: JetStreamClient,
  key: KeyObject,
  unsigned: UnsignedEnvelope,
): Promise<{ env: Envelope; ack: PubAck }> {
  const env = signEnvelope(key, unsigned);
  return { env, ack: await publishEnvelope(js, env) };
}

/**
 * Sign a host decision and publish it on `agora.ev.<type>` for the recorder. Its
 * Nats-Msg-Id is stable — (type, agent, input seq, what the event table says makes
 * it distinct), keyed with `idSecret` (default the signer's seed; a host passes
 * the agent's, which every host holds, so a decision taken again on another host
 * after a failover is still recorded once); pass `msgId` only when something else
 * identifies it.
 */
export async function publishEvent(
  js: JetStreamClient,
  host: Pick<Identity, "name" | "privateKey" | "seed">,
  event: HostEvent,
  msgId?: string,
  idSecret = host.seed,
): Promise<void> {
  msgId ??= eventMsgId(idSecret, event.type, event.agent, "seq" in event ? event.seq : 0, eventDistinction(event));
  const unsigned = { ...event, v: 1 as const, host: host.name, ts: new Date().toISOString() };
  const signed: SignedEvent = {
    ...unsigned,
    sig: signBytes(host.privateKey, eventSigningInput(unsigned)),
  } as SignedEvent;
  await publishWithRetry(js, subjectOfEvent(event), JSON.stringify(signed), msgId);
}
