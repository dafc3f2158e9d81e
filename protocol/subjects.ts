// Where things live in NATS: subjects, streams, buckets, KV keys and durable
// consumer names — each spelled here once — and the permission literals derived from them.

/** The stream holding every channel (`agora.ch.>`) and every recorded host decision (`agora.ev.>`). */
export const STREAM = "AGORA";
export const CHANNEL_PREFIX = "agora.ch.";
export const EVENT_PREFIX = "agora.ev.";
/** Dead letters: `agora.dlq.<agent>`, in stream AGORA_DLQ. */
export const DLQ_PREFIX = "agora.dlq.";
/** Out-of-band controls on core NATS (never stored in a stream): `agora.ctl.<verb>`. */
export const CONTROL_PREFIX = "agora.ctl.";
export const STREAM_SUBJECTS: readonly string[] = [`${CHANNEL_PREFIX}>`, `${EVENT_PREFIX}>`];
export const DLQ_STREAM = "AGORA_DLQ";
export const DLQ_SUBJECTS: readonly string[] = [`${DLQ_PREFIX}>`];

/** The NATS subject of a channel. */
export function channelSubject(channel: string): string {
  return `${CHANNEL_PREFIX}${channel}`;
}

/** The channel of a subject `agora.ch.<channel>`, or undefined. */
export function subjectChannel(subject: string): string | undefined {
  return subject.startsWith(CHANNEL_PREFIX) ? subject.slice(CHANNEL_PREFIX.length) : undefined;
}

/**
 * The subject a recorded host decision of `type` is published on; with `agent`,
 * the per-agent subject of an event that is also delivered to that agent (a timer firing).
 */
export function eventSubject(type: string, agent?: string): string {
  return agent === undefined ? `${EVENT_PREFIX}${type}` : `${EVENT_PREFIX}${type}.${agent}`;
}

/** Where an agent's timers fire: `agora.ev.timer_fired.<agent>`, read by the agent's own consumer. */
export function timerSubject(agent: string): string {
  return eventSubject("timer_fired", agent);
}

/** The dead-letter subject of `agent`. */
export function dlqSubject(agent: string): string {
  return `${DLQ_PREFIX}${agent}`;
}

/** The core-NATS subject of a control verb. */
export function controlSubject(verb: string): string {
  return `${CONTROL_PREFIX}${verb}`;
}

/**
 * The reply subject of a control's request, where hosts acknowledge it: `agora.ctlack.<token>`.
 * Hosts may publish there and nowhere else a reply could go — no identity has dynamic response
 * permissions (nats-server tracks every reply subject delivered to such a connection, at a cost
 * that grows with its traffic).
 */
export function controlAckSubject(token: string): string {
  return `agora.ctlack.${token}`;
}

/** Public keys of identities: key = name, value = base64url raw Ed25519 key. */
export const KEYS_BUCKET = "agora-keys";
/** Hosted agents' state: key = `<agent>.<base64url(key)>` (stateKey). */
export const STATE_BUCKET = "agora-state";
/** Processed markers `<agent>.<envelope id>` and write-ahead logs `wal.<agent>`. */
export const PROCESSED_BUCKET = "agora-processed";
/** The latest signed control per agent (`agent.<name>`, `all`) and host (`host.<name>`). */
export const CONTROL_BUCKET = "agora-control";
/** Agent status as hosts report it: key = agent name, value = AgentStatusRecord. */
export const AGENTS_BUCKET = "agora-agents";
/** Placement leases of agents (`agent.<name>`) and records of live hosts (`host.<name>`). */
export const LEASES_BUCKET = "agora-leases";
/** Agent cards (presence): key = agent name, value = the card its agent (or host) signed. */
export const CARDS_BUCKET = "agora-cards";
/** Hosted agents' timers waiting to fire: key = `<agent>.<base64url(tag)>` (timerKey), value = TimerRecord. */
export const TIMERS_BUCKET = "agora-timers";
/** Cancelled conversations: key = conv id, value = CancelRecord; written by the recorder alone. */
export const CONVS_BUCKET = "agora-convs";
/** What each hosted agent runs when not what its config names: key = agent, value = DeployRecord (agora deploy). */
export const DEPLOYS_BUCKET = "agora-deploys";
/** How canary rollouts go: key = agent, value = RolloutRecord, written by the host running the agent. */
export const ROLLOUTS_BUCKET = "agora-rollouts";
/** The GitHub bridge's memory: deliveries seen, issue ↔ envelope links, comments posted. */
export const GITHUB_BUCKET = "agora-github";

/** KV key of an agent's state entry: `<agent>.<base64url(key)>`. */
export function stateKey(agent: string, key: string): string {
  return `${agent}.${Buffer.from(key, "utf8").toString("base64url")}`;
}

/** Decode a state KV key back to the component's key, or undefined when it is not `agent`'s. */
export function decodeStateKey(agent: string, kvKey: string): string | undefined {
  const prefix = `${agent}.`;
  return kvKey.startsWith(prefix) ? Buffer.from(kvKey.slice(prefix.length), "base64url").toString("utf8") : undefined;
}

/** KV key of an agent's timer `tag`. */
export function timerKey(agent: string, tag: string): string {
  return stateKey(agent, tag);
}

/** KV filter for every timer of `agent`. */
export function timerKeys(agent: string): string {
  return `${agent}.>`;
}

/** KV filter for every state entry of `agent`. */
export function stateKeys(agent: string): string {
  return `${agent}.>`;
}

/** KV key of the processed marker of (agent, envelope id). */
export function markerKey(agent: string, id: string): string {
  return `${agent}.${id}`;
}

/** The first token of write-ahead-log keys; no hosted agent may take it as its name (its markers would collide). */
export const WAL_KEY_PREFIX = "wal";

/** KV key of an agent's one-entry write-ahead log. */
export function walKey(agent: string): string {
  return `${WAL_KEY_PREFIX}.${agent}`;
}

/** KV key of an agent's placement lease. */
export function leaseKey(agent: string): string {
  return `agent.${agent}`;
}

/** KV key of a live host's record in the leases bucket. */
export function hostKey(host: string): string {
  return `host.${host}`;
}

/** Durable consumer of (hosted agent, channel); `_` cannot occur in names. */
export function consumerName(agent: string, channel: string): string {
  return `agent_${agent}_${channel}`;
}

/** Durable consumer of a hosted agent's timers (timerSubject); `_` cannot occur in names. */
export function timerConsumerName(agent: string): string {
  return `timers_${agent}`;
}

/** The durable inbox of an external agent on one channel it may read (the SDK's `inbox()`). */
export function inboxConsumerName(agent: string, channel: string): string {
  return `inbox_${agent}_${channel}`;
}

/** A processed marker's value for a verified message refused (e.g. too old): `rejected:<code>`. */
export const REFUSED_MARKER = "rejected:";

/** KV keys of an agent's processed markers, for a permission or a filter: `<agent>.>`. */
export function markerKeys(agent: string): string {
  return `${agent}.>`;
}

/** The facts recorder's durable consumer over the whole stream. */
export const RECORDER_CONSUMER = "agora_recorder";

/** The GitHub bridge's durable consumer of a bridged channel. */
export function bridgeConsumerName(channel: string): string {
  return `bridge_${channel}`;
}

/**
 * The named ephemeral consumer through which `identity` watches the stream live
 * (`agora watch`: one per channel; the console: `channel` undefined). Watchers
 * get consumers with names they own: a consumer create names its consumer, and
 * JetStream treats a create under an existing name as an update of it.
 */
export function watchConsumerName(identity: string, channel?: string): string {
  return channel === undefined ? `watch_${identity}` : `watch_${identity}_${channel}`;
}

/** Subjects of a KV bucket's entries (`key` may be a wildcard), for NATS permissions. */
export function kvSubject(bucket: string, key = ">"): string {
  return `$KV.${bucket}.${key}`;
}

/** The JetStream API of the account: every subject below starts with it. */
export const JS_API = "$JS.API.";

/** Account info: every JetStream client asks for it once. */
export const JS_ACCOUNT_INFO = `${JS_API}INFO`;

/** Every streamed subject, for the admin identity alone. */
export const ALL_SUBJECTS = ">";

/**
 * The reply-inbox prefix of an identity's connection (`_INBOX.<name>`): each
 * identity receives its JetStream replies and deliveries only under its own
 * prefix, so no other identity can read them, nor ack what they deliver.
 */
export function inboxPrefix(identity: string): string {
  return `_INBOX.${identity}`;
}

/** Subjects of an identity's reply inboxes, for its subscribe permission. */
export function inboxSubjects(identity: string): string {
  return `${inboxPrefix(identity)}.>`;
}

/** agora's KV buckets (the GitHub bridge's, only when configured, aside), in the order infrastructure binds them. */
export const AGORA_BUCKETS: readonly string[] = [
  KEYS_BUCKET,
  STATE_BUCKET,
  PROCESSED_BUCKET,
  CONTROL_BUCKET,
  AGENTS_BUCKET,
  LEASES_BUCKET,
  CARDS_BUCKET,
  TIMERS_BUCKET,
  CONVS_BUCKET,
  DEPLOYS_BUCKET,
  ROLLOUTS_BUCKET,
];

/** The JetStream stream behind a KV bucket. */
export function kvStream(bucket: string): string {
  return `KV_${bucket}`;
}

/** The JetStream streams agora needs: its own two and the one behind each bucket. */
export const REQUIRED_STREAMS: readonly string[] = [STREAM, DLQ_STREAM, ...AGORA_BUCKETS.map(kvStream)];

/** Direct gets of a bucket's entries by key (`key` may be a wildcard): reads by key, no listing. */
export function kvDirectGet(bucket: string, key = ">"): string {
  return `${JS_API}DIRECT.GET.${kvStream(bucket)}.${kvSubject(bucket, key)}`;
}

/**
 * The JetStream API calls that read one KV bucket: direct and message gets,
 * stream info, and the ordered consumers a watch creates (random names, so any
 * name on that bucket's stream) with their flow-control replies.
 */
export function kvReadSubjects(bucket: string): string[] {
  return streamReadSubjects(kvStream(bucket));
}

/** The component registry, a JetStream Object Store: object `<name>@<version>`, its signed manifest in the metadata. */
export const COMPONENTS_STORE = "agora-components";
/** The stream behind the component registry. */
export const COMPONENTS_STREAM = `OBJ_${COMPONENTS_STORE}`;

/** The same calls on any stream: what reading a KV bucket or an object store takes. */
export function streamReadSubjects(s: string): string[] {
  return [
    `${JS_API}DIRECT.GET.${s}.>`,
    `${JS_API}STREAM.INFO.${s}`,
    `${JS_API}STREAM.MSG.GET.${s}`,
    `${JS_API}CONSUMER.CREATE.${s}.*`,
    `${JS_API}CONSUMER.CREATE.${s}.*.>`,
    `${JS_API}CONSUMER.INFO.${s}.*`,
    `${JS_API}CONSUMER.DELETE.${s}.*`,
    `$JS.FC.${s}.>`,
  ];
}

/**
 * The JetStream API calls a durable consumer's owner makes: create, info,
 * fetch, delete, and acks of what it delivers. With `filter`, create is allowed
 * only with that filter in the subject (nats-server refuses a body whose filter
 * differs from it), so an owner cannot re-point its consumer at subjects it may
 * not read; without, the consumer sees the whole stream (the recorder, the console).
 */
export function durableSubjects(stream: string, durable: string, filter?: string): string[] {
  return [
    filter
      ? `${JS_API}CONSUMER.CREATE.${stream}.${durable}.${filter}`
      : `${JS_API}CONSUMER.CREATE.${stream}.${durable}`,
    `${JS_API}CONSUMER.INFO.${stream}.${durable}`,
    `${JS_API}CONSUMER.MSG.NEXT.${stream}.${durable}`,
    `${JS_API}CONSUMER.DELETE.${stream}.${durable}`,
    `$JS.ACK.${stream}.${durable}.>`,
  ];
}
