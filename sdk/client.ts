// AgoraClient: an external agent — signs with its own key and publishes on NATS.
import type { PubAck } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { AgoraError } from "../protocol/errors.js";
import { bodyProblem, DEFAULT_HOP, isAct, MAX_HOP, type Act, type Envelope } from "../protocol/envelope.js";
import { randomId } from "../protocol/ids.js";
import type { Identity } from "../trust/key-store.js";
import { assertName } from "../protocol/names.js";
import { signAndPublish, StreamPublisher } from "../transport/publisher.js";

export interface SendOptions {
  /** Hop budget. @default 3 */
  hop?: number;
  re?: string;
  conv?: string;
  /** Envelope id; a random one by default. Reusing an id is a replay. */
  id?: string;
}

export class AgoraClient {
  readonly identity: Identity;
  private readonly publisher: StreamPublisher;

  constructor(nc: NatsConnection, identity: Identity) {
    this.identity = identity;
    this.publisher = StreamPublisher.for(nc);
  }

  /** Sign and publish a speech act as this identity. */
  async send(
    channel: string,
    act: Act | string,
    body: unknown,
    options: SendOptions = {},
  ): Promise<{ env: Envelope; ack: PubAck }> {
    assertName(channel, "channel");
    if (!isAct(act))
      throw new AgoraError(
        "AGORA_ERR_BAD_ENVELOPE",
        `unknown act ${JSON.stringify(act)}: use one of the 22 FIPA performatives (request, inform, agree, …)`,
      );
    // What a host would refuse is refused here, before it is signed: not I-JSON, or nested too deep.
    const problem = bodyProblem(body === undefined ? null : body);
    if (problem) throw new AgoraError("AGORA_ERR_BAD_ENVELOPE", problem);
    const hop = options.hop ?? DEFAULT_HOP;
    if (!Number.isInteger(hop) || hop < 0 || hop > MAX_HOP)
      throw new AgoraError("AGORA_ERR_BAD_ENVELOPE", `hop must be 0-${MAX_HOP}`);
    return signAndPublish(this.publisher, this.identity.privateKey, {
      v: 1,
      id: options.id ?? randomId(),
      channel,
      sender: this.identity.name,
      act,
      body: body === undefined ? null : body,
      hop,
      ts: new Date().toISOString(),
      ...(options.re ? { re: options.re } : {}),
      ...(options.conv ? { conv: options.conv } : {}),
    });
  }
}
