// Publisher: sign and publish envelopes and host events with their Nats-Msg-Id.
import { JetStreamApiError, type ApiError, type PubAck } from "@nats-io/jetstream";
import { createInbox, errors, headers, type Msg, type NatsConnection } from "@nats-io/transport-node";
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
/** How long one JetStream publish waits for the stream's ack, in ms. */
const ACK_TIMEOUT_MS = 2000;

/** What a JetStream publish may say about itself (the subset of nats.js's options agora uses). */
export interface PublishOptions {
  /** Nats-Msg-Id: a repeat within the duplicate window is dropped (the ack says `duplicate`). */
  msgID?: string;
  /** Only when the subject's last sequence is this (0: no entry yet — a KV create). */
  expect?: { lastSubjectSequence?: number };
  /** How long to wait for the ack, in ms. @default 2000 */
  timeout?: number;
}

/** Something that publishes to a stream and resolves with its ack: a StreamPublisher, or nats.js's JetStreamClient. */
export interface StreamPublish {
  publish(subject: string, data: Uint8Array | string, options?: PublishOptions): Promise<PubAck>;
}

interface AckWaiter {
  resolve(ack: PubAck): void;
  reject(err: Error): void;
  deadline: number;
  subject: string;
}

/**
 * JetStream publishes on one connection through one reply subscription: each publish is a core
 * publish with a reply subject and its headers, and its ack is matched by that subject. One timer
 * for every publish in flight, not one each. nats.js's `js.publish` makes a request per publish
 * (its own timer and an Error object for async stack traces): about twice this one's CPU, on the
 * path every message takes (the claim, the sends, the caller's request).
 */
export class StreamPublisher implements StreamPublish {
  private static readonly of = new WeakMap<NatsConnection, StreamPublisher>();
  private readonly waiting = new Map<string, AckWaiter>();
  private readonly prefix: string;
  private next = 0;
  /** Why the reply subscription ended (refused by the server's permissions): every publish fails with it. */
  private broken?: Error;
  private sweeper?: NodeJS.Timeout;
  private readonly decoder = new TextDecoder();

  /** The publisher of `nc`, made on first use. */
  static for(nc: NatsConnection): StreamPublisher {
    let p = StreamPublisher.of.get(nc);
    if (!p) StreamPublisher.of.set(nc, (p = new StreamPublisher(nc)));
    return p;
  }

  private constructor(private readonly nc: NatsConnection) {
    // Acks come under the connection's own inbox prefix (nats.js's requests use it; an identity's
    // NATS permissions allow only its own, see connectNats).
    const options = (nc as { options?: { inboxPrefix?: string } }).options;
    this.prefix = `${createInbox(options?.inboxPrefix)}.`;
    // An error on the reply subscription (a permission refused) fails what waits, at once, not after its timeout.
    nc.subscribe(`${this.prefix}*`, {
      callback: (err, m) => {
        if (!err) return this.acked(m);
        this.broken = err;
        this.failAll(err);
      },
    });
    void nc.closed().then(() => this.failAll(new errors.ClosedConnectionError()));
  }

  publish(subject: string, data: Uint8Array | string, options: PublishOptions = {}): Promise<PubAck> {
    if (this.broken) return Promise.reject(this.broken);
    const h = headers();
    if (options.msgID) h.set("Nats-Msg-Id", options.msgID);
    const last = options.expect?.lastSubjectSequence;
    if (last !== undefined) h.set("Nats-Expected-Last-Subject-Sequence", String(last));
    const reply = this.prefix + (this.next++).toString(36);
    return new Promise((resolve, reject) => {
      this.waiting.set(reply, {
        resolve,
        reject,
        deadline: Date.now() + (options.timeout ?? ACK_TIMEOUT_MS),
        subject,
      });
      try {
        this.nc.publish(subject, data, { reply, headers: h });
      } catch (err) {
        this.waiting.delete(reply);
        reject(err as Error);
        return;
      }
      this.sweeper ??= setInterval(() => this.sweep(), 250).unref();
    });
  }

  /** The stream's answer to one publish: its ack, its error, or "no responders" (no stream for the subject). */
  private acked(m: Msg): void {
    const w = this.waiting.get(m.subject);
    if (!w) return; // timed out already
    this.waiting.delete(m.subject);
    if (m.headers?.code === 503) return w.reject(new errors.NoRespondersError(w.subject));
    try {
      const a = JSON.parse(this.decoder.decode(m.data)) as PubAck & { error?: ApiError };
      if (a.error) return w.reject(new JetStreamApiError(a.error));
      if (typeof a.stream !== "string" || a.stream === "" || typeof a.seq !== "number")
        return w.reject(new Error(`invalid ack of a publish on ${w.subject}`));
      a.duplicate = a.duplicate === true;
      w.resolve(a);
    } catch (err) {
      w.reject(err as Error);
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const [reply, w] of this.waiting)
      if (now > w.deadline) {
        this.waiting.delete(reply);
        w.reject(new errors.TimeoutError());
      }
    if (this.waiting.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private failAll(err: Error): void {
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}

/**
 * Publish with retries: while NATS is unreachable (a restart, a partition) the
 * same bytes are sent again with the same Nats-Msg-Id, so JetStream stores them
 * once however often we try. Gives up after `retryMs`.
 */
export async function publishWithRetry(
  js: StreamPublish,
  subject: string,
  data: Uint8Array | string,
  msgID: string,
  retryMs = DEFAULT_PUBLISH_RETRY_MS,
): Promise<PubAck> {
  const deadline = Date.now() + retryMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await js.publish(subject, data, { msgID, timeout: ACK_TIMEOUT_MS });
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
export function publishEnvelope(js: StreamPublish, env: Envelope, retryMs?: number): Promise<PubAck> {
  return publishWithRetry(js, channelSubject(env.channel), encodeEnvelope(env), env.id, retryMs);
}

/** Sign `unsigned` with `key` and publish it. */
export async function signAndPublish(
  js: StreamPublish,
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
  js: StreamPublish,
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
