// natsAuthorization: nats-server `authorization` from agora.yaml — a user per
// identity (the admin, each host, the recorder, the gateway, the bridge and each
// external agent), authenticated by the nkey of its own Ed25519 key, with the
// least privilege its role needs, the JetStream API included:
//
// - Only the admin creates, updates, purges or deletes streams and buckets.
// - A consumer's create, fetch, ack and delete belong to its owner alone, and
//   every consumer is named (an unnamed create can update any consumer).
// - Each KV record has one writer: hosts write state, markers, WALs, leases and
//   status; the gateway writes controls; each identity registers its own key.
// - Every identity receives replies and deliveries under its own inbox prefix.
import type { AgoraConfig } from "../config/config.js";
import { AgoraError } from "../protocol/errors.js";
import { ADMIN_IDENTITY, RECORDER_IDENTITY } from "../protocol/names.js";
import {
  AGENTS_BUCKET,
  AGORA_BUCKETS,
  ALL_SUBJECTS,
  CARDS_BUCKET,
  bridgeConsumerName,
  channelSubject,
  consumerName,
  CONTROL_BUCKET,
  CONVS_BUCKET,
  DEPLOYS_BUCKET,
  ROLLOUTS_BUCKET,
  controlAckSubject,
  controlSubject,
  DLQ_SUBJECTS,
  durableSubjects,
  EVENT_PREFIX,
  eventSubject,
  GITHUB_BUCKET,
  inboxConsumerName,
  inboxSubjects,
  JS_ACCOUNT_INFO,
  JS_API,
  KEYS_BUCKET,
  kvReadSubjects,
  streamReadSubjects,
  COMPONENTS_STREAM,
  kvSubject,
  LEASES_BUCKET,
  markerKeys,
  PROCESSED_BUCKET,
  RECORDER_CONSUMER,
  TIMERS_BUCKET,
  timerConsumerName,
  timerSubject,
  REQUIRED_STREAMS,
  STATE_BUCKET,
  STREAM,
  watchConsumerName,
  kvDirectGet,
  WAL_KEY_PREFIX,
} from "../protocol/subjects.js";
import { userNkey } from "../trust/nkeys.js";

/** One NATS user: an agora identity and what it may publish and subscribe to. */
export interface NatsUser {
  name: string;
  role: string;
  publish: readonly string[];
  subscribe: readonly string[];
  /** Denied even where `publish` allows. */
  deny?: readonly string[];
}

/**
 * Every identity reads the keys (to verify), the cards (presence) and the
 * signed controls (who is killed: its own sends and others' are refused), and
 * writes its own key and card.
 */
const own = (name: string) => [kvSubject(KEYS_BUCKET, name), kvSubject(CARDS_BUCKET, name)];
// Every identity reads cancelled conversations: its inbox drops their later acts.
const COMMON_READS = [KEYS_BUCKET, CARDS_BUCKET, CONTROL_BUCKET, CONVS_BUCKET];
const streamInfo = (streams: readonly string[]) => streams.map((s) => `${JS_API}STREAM.INFO.${s}`);
const reads = (buckets: readonly string[]) => buckets.flatMap(kvReadSubjects);
const writes = (buckets: readonly string[]) => buckets.map((b) => kvSubject(b));
const channels = (names: Iterable<string>) => [...new Set(names)].map(channelSubject);
const unique = (xs: readonly string[]) => [...new Set(xs)];

/** The users and their permissions, before keys are attached. */
export function authorizationUsers(config: AgoraConfig): NatsUser[] {
  const users: NatsUser[] = [
    {
      name: ADMIN_IDENTITY,
      role: "admin (creates and updates the stream and buckets at start-up, registers local keys)",
      publish: [ALL_SUBJECTS],
      subscribe: [ALL_SUBJECTS],
    },
  ];
  const agentDurables = config.agents.flatMap((a) => [
    ...a.read.flatMap((c) => durableSubjects(STREAM, consumerName(a.name, c), channelSubject(c))),
    ...durableSubjects(STREAM, timerConsumerName(a.name), timerSubject(a.name)),
  ]);
  for (const host of config.hosts) {
    users.push({
      name: host,
      role: "host (runs agents: their consumers, state, markers, write-ahead logs, leases and status)",
      publish: unique([
        ...channels(config.agents.flatMap((a) => a.write)),
        `${EVENT_PREFIX}>`,
        ...DLQ_SUBJECTS,
        ...writes([STATE_BUCKET, PROCESSED_BUCKET, AGENTS_BUCKET, LEASES_BUCKET, TIMERS_BUCKET, ROLLOUTS_BUCKET]),
        // A host rolls a failing canary back by rewriting its agent's deploy record (compare-and-set).
        kvSubject(DEPLOYS_BUCKET),
        ...[host, ...config.agents.map((a) => a.name)].flatMap(own),
        ...reads(AGORA_BUCKETS),
        // The component registry: hosts fetch the components they run (only the admin pushes).
        ...streamReadSubjects(COMPONENTS_STREAM),
        ...streamInfo([STREAM]),
        ...agentDurables,
        // agora watch runs as the host.
        ...config.channels.flatMap((c) => durableSubjects(STREAM, watchConsumerName(host, c), channelSubject(c))),
        JS_ACCOUNT_INFO,
        // Its acknowledgements of controls (the replies of their requests).
        controlAckSubject(">"),
      ]),
      // Deliveries come to its inbox; core subscriptions only for the control fast path.
      subscribe: [inboxSubjects(host), controlSubject(">")],
    });
  }
  users.push({
    name: RECORDER_IDENTITY,
    role: "facts recorder (reads the whole stream through its own consumer; decides cancels)",
    publish: [
      ...durableSubjects(STREAM, RECORDER_CONSUMER),
      kvSubject(CONVS_BUCKET),
      ...own(RECORDER_IDENTITY),
      ...reads(COMMON_READS),
      ...streamInfo([STREAM]),
      JS_ACCOUNT_INFO,
    ],
    subscribe: [inboxSubjects(RECORDER_IDENTITY)],
  });
  const gw = config.gateway.identity;
  const browser = config.external.filter((e) => e.browser);
  users.push({
    name: gw,
    role: "gateway (console and inject; the only one allowed to kill, revive and drain)",
    publish: unique([
      controlSubject(">"),
      kvSubject(CONTROL_BUCKET),
      // Deploys from the console: which registry component an agent runs (hosts still check its signature).
      kvSubject(DEPLOYS_BUCKET),
      ...streamReadSubjects(COMPONENTS_STREAM),
      ...[gw, ...browser.map((e) => e.name)].flatMap(own),
      ...channels([...(config.external.find((e) => e.name === gw)?.write ?? []), ...browser.flatMap((e) => e.write)]),
      eventSubject("signin_refused"),
      // The kill and revive of an external identity: no host runs it, so the gateway records them.
      eventSubject("killed"),
      eventSubject("revived"),
      ...reads(AGORA_BUCKETS),
      ...streamInfo(REQUIRED_STREAMS),
      ...durableSubjects(STREAM, watchConsumerName(gw)),
      JS_ACCOUNT_INFO,
    ]),
    // The hosts' acknowledgements of its controls.
    subscribe: [inboxSubjects(gw), controlAckSubject(">")],
  });
  if (config.github) {
    const bridge = config.github.identity;
    const repoChannels = config.github.repos.map((r) => r.channel);
    users.push({
      name: bridge,
      role: "GitHub bridge (internet-facing: its channels, its bucket, nothing else)",
      publish: unique([
        ...channels(repoChannels),
        eventSubject("webhook_rejected"),
        eventSubject("github_failed"),
        kvSubject(GITHUB_BUCKET),
        ...own(bridge),
        ...reads([...COMMON_READS, GITHUB_BUCKET]),
        ...repoChannels.flatMap((c) => durableSubjects(STREAM, bridgeConsumerName(c), channelSubject(c))),
        ...streamInfo([STREAM]),
        JS_ACCOUNT_INFO,
      ]),
      subscribe: [inboxSubjects(bridge)],
    });
  }
  const system = new Set(users.map((u) => u.name));
  for (const ext of config.external) {
    if (ext.browser || system.has(ext.name)) continue; // browser identities speak through the gateway
    users.push({
      name: ext.name,
      role: "external agent (its grants, its own key, its inboxes and processed markers)",
      publish: [
        ...channels(ext.write),
        ...own(ext.name),
        kvSubject(PROCESSED_BUCKET, markerKeys(ext.name)),
        ...reads(COMMON_READS),
        // Processed markers by key (its own; others' for delivery status), never a write-ahead log.
        kvDirectGet(PROCESSED_BUCKET),
        ...ext.read.flatMap((c) => durableSubjects(STREAM, inboxConsumerName(ext.name, c), channelSubject(c))),
        ...streamInfo([STREAM]),
        JS_ACCOUNT_INFO,
      ],
      subscribe: [...channels(ext.read), inboxSubjects(ext.name)],
      deny: [kvDirectGet(PROCESSED_BUCKET, `${WAL_KEY_PREFIX}.>`)],
    });
  }
  return users;
}

/** Every identity that logs in to NATS under `config`. */
export function natsIdentities(config: AgoraConfig): string[] {
  return authorizationUsers(config).map((u) => u.name);
}

const list = (xs: readonly string[]) => `[${xs.map((x) => JSON.stringify(x)).join(", ")}]`;

/**
 * The nats-server configuration block. `publicKey(name)` returns an identity's
 * base64url Ed25519 public key; identities without one are named in the error.
 */
export function natsAuthorization(config: AgoraConfig, publicKey: (name: string) => string | undefined): string {
  const users = authorizationUsers(config);
  const missing = users.filter((u) => !publicKey(u.name)).map((u) => u.name);
  if (missing.length > 0) {
    throw new AgoraError(
      "AGORA_ERR_KEY_MISSING",
      `no key for ${missing.join(", ")}: run agora keys gen <name> for each (or set external.<name>.publicKey)`,
    );
  }
  const lines = [
    "# Generated by agora from the agora config. Do not edit: regenerate (agora nats-config).",
    "# Each user is the NATS nkey of an agora identity's Ed25519 key.",
    "authorization {",
    "  users = [",
  ];
  for (const u of users) {
    lines.push(`    # ${u.name}: ${u.role}`);
    const deny = u.deny ? `, deny: ${list(u.deny)}` : "";
    lines.push(
      `    { nkey: ${userNkey(publicKey(u.name)!)}, permissions: { publish: { allow: ${list(u.publish)}${deny} }, subscribe: { allow: ${list(u.subscribe)} } } }`,
    );
  }
  lines.push("  ]", "}", "");
  return lines.join("\n");
}
