// agora — the public face for external agents: `import { connect } from "agora"`.
// Everything here is stable API; the layers below (protocol, trust, transport)
// are internal and may change.
export { connect, type Agent, type ConnectOptions, type ReplyOptions, type RequestOptions } from "./connect.js";
export { Inbox, type InboxCounters, type InboxMessage, type InboxOptions, type InboxRejection } from "./inbox.js";
export { AgoraClient, type SendOptions } from "./client.js";
export {
  ACTS,
  DEFAULT_HOP,
  MAX_HOP,
  MAX_ENVELOPE_BYTES,
  isAct,
  parseEnvelope,
  validateEnvelope,
  signingInput,
  type Act,
  type Envelope,
  type UnsignedEnvelope,
} from "../protocol/envelope.js";
export { AgoraError, ERROR_CODES, isAgoraError, type ErrorCode } from "../protocol/errors.js";
export { canonicalize } from "../protocol/jcs.js";
export { NAME_RE, ID_RE, isName } from "../protocol/names.js";
export { channelSubject } from "../protocol/subjects.js";
export {
  generateRawKeyPair,
  signEnvelope,
  verifyEnvelope,
  publicKeyObject,
  privateKeyObject,
  type RawKeyPair,
} from "../trust/signing.js";
export { KeyStore, type Identity } from "../trust/key-store.js";
export { presenceOf, HEARTBEATS_MISSED, type AgentCard, type CardSkill, type CardStatus } from "../protocol/cards.js";
export type { Presence } from "../transport/presence.js";
export type { DeliveryStatus, RecipientStatus, Trace } from "../transport/delivery.js";
export {
  advance,
  openConversation,
  mayCancel,
  ENDED,
  type Conversation,
  type ConvAct,
  type ConvState,
} from "../protocol/conversation.js";
export type { CancelRecord } from "../protocol/records.js";
