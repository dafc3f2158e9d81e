// JetStream failures recognised by their API error codes (and nats.js error
// classes), never by matching message text.
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { errors } from "@nats-io/transport-node";

/** JetStream API error codes agora acts on (nats-server's JSErrCodes). */
export const JS_CODES = {
  ...JetStreamApiCodes,
  /** JSClusterNotAvailErr: "JetStream system temporarily unavailable". */
  ClusterNotAvailable: 10008,
  /** JSInsufficientResourcesErr. */
  InsufficientResources: 10023,
  /** JSClusterNoPeersErr: "no suitable peers for placement". */
  NoSuitablePeers: 10005,
  /** JSClusteredNotEnabledErr: JetStream is not yet in clustered mode (a cluster still forming). */
  ClusterNotActive: 10006,
} as const;

/** The JetStream API error code of `err`, or undefined. */
export function apiCode(err: unknown): number | undefined {
  return err instanceof JetStreamApiError ? err.code : undefined;
}

/** A write with an expected revision (KV create/update, delete with previousSeq) found another. */
export function isWrongRevision(err: unknown): boolean {
  const code = apiCode(err);
  return code === JS_CODES.StreamWrongLastSequence || code === JS_CODES.StreamWrongLastSequenceUnknown;
}

/** The stream or consumer does not exist. */
export function isNotFound(err: unknown): boolean {
  const code = apiCode(err);
  return code === JS_CODES.StreamNotFound || code === JS_CODES.ConsumerNotFound;
}

/** JetStream is not ready yet (a cluster electing its leader, a server starting): worth retrying. */
export function isNotReady(err: unknown): boolean {
  const code = apiCode(err);
  if (code !== undefined) {
    return [
      JS_CODES.ClusterNotAvailable,
      JS_CODES.InsufficientResources,
      JS_CODES.NoSuitablePeers,
      JS_CODES.ClusterNotActive,
    ].includes(code as 10008);
  }
  // No JetStream answering yet: nats.js reports it as a timeout, no responders, or JetStreamNotEnabled.
  if (err instanceof errors.TimeoutError || err instanceof errors.NoRespondersError) return true;
  if (err instanceof errors.RequestError) return err.isNoResponders();
  // nats.js reports "no responders" as JetStreamNotEnabled too; a refusal by the server (account not enabled) is final.
  return err instanceof Error && err.name === "JetStreamNotEnabled" && !(err.cause instanceof JetStreamApiError);
}
