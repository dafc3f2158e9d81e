// connect: an external agent joins agora with its own Ed25519 key — which is
// also its NATS nkey — and gets a handle to speak, listen (a durable verified
// inbox), reply and ask with.
import { DEFAULTS } from "../config/defaults.js";
import type { PubAck } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Act, Envelope } from "../protocol/envelope.js";
import { AgoraError } from "../protocol/errors.js";
import { assertName } from "../protocol/names.js";
import { connectNats } from "../transport/connect.js";
import { identityOf, KeyStore, readKeyFile, type Identity } from "../trust/key-store.js";
import type { RawKeyPair } from "../trust/signing.js";
import { AgoraClient, type SendOptions } from "./client.js";
import { Inbox, type InboxMessage, type InboxOptions } from "./inbox.js";
import { Answers } from "./answers.js";
import { loadConfig, type AgoraConfig } from "../config/config.js";
import { natsUrlOf } from "../config/paths.js";
import { emittedId, randomId } from "../protocol/ids.js";
import { openInfrastructure, type Infrastructure } from "../transport/infrastructure.js";
import { KeyRegistry } from "../trust/key-registry.js";
import { Verifier } from "../trust/verifier.js";
import { readCards, startHeartbeat, type Presence } from "../transport/presence.js";
import { traceMessage, type Trace } from "../transport/delivery.js";
import type { CardSkill } from "../protocol/cards.js";
import { ControlFollower } from "../transport/control-plane.js";
import { SendBudget, SenderStanding } from "../trust/budget.js";
import { CancelledConversations } from "../transport/cancels.js";
import { advance, openConversation, type Conversation } from "../protocol/conversation.js";
import { isKilled } from "../trust/control.js";

export interface ConnectOptions {
  /** The agent's name (`^[a-z0-9][a-z0-9-]{0,62}$`). */
  name: string;
  /** Its key pair (base64url raw Ed25519, as `agora keys gen` writes it). */
  key?: RawKeyPair;
  /** Or a key file as `agora keys gen` writes it. */
  keyFile?: string;
  /** Or the directory holding `<name>.key` (an agora key directory, e.g. `.agora/keys`). @default the config's key directory */
  keysDir?: string;
  /** NATS server URL(s). @default the config's (NATS_URL, nats.url, the server `agora up` started), else $NATS_URL or nats://127.0.0.1:4222 */
  servers?: string | string[];
  /** Log in to NATS with the agent's key as its nkey. @default true */
  nkey?: boolean;
  /** Give up after this many ms on the first connect. @default 5000 */
  timeoutMs?: number;
  /**
   * The deployment's config (agora.yaml, or its path): the channels, who may
   * write them, the limits. `inbox()` and `request()` verify every sender
   * against it. @default loaded from $AGORA_CONFIG or ./agora.yaml when first needed
   */
  config?: AgoraConfig | string;
  /**
   * The agent's card (presence): what it does, its skills, the acts it answers.
   * With a config, connect() publishes it, signed, and renews it every
   * `heartbeatMs`; others see the agent offline after three missed heartbeats.
   */
  card?: { description?: string; skills?: CardSkill[]; answers?: Act[] };
  /** @default the config's limits.heartbeat (10 s) */
  heartbeatMs?: number;
  /**
   * A send budget of this process's own, in acts per minute, applied before
   * signing (the config's `external.<name>.actsPerMinute`, which every reader
   * enforces, applies too: the lower one wins).
   */
  actsPerMinute?: number;
}

export interface ReplyOptions {
  /**
   * Send it although this agent already answered the message with the same act
   * (refused otherwise with AGORA_ERR_DUPLICATE_ANSWER: the ack-loop pattern).
   */
  deliberate?: boolean;
}

export interface RequestOptions extends Omit<SendOptions, "re" | "id"> {
  /** How long to wait for answers, in ms. @default 5000 */
  timeoutMs?: number;
  /** Return as soon as this many answers arrived. @default 1 */
  expect?: number;
}

/** A connected external agent. */
export interface Agent {
  readonly name: string;
  readonly publicKey: string;
  /**
   * Sign a speech act with the agent's key and publish it on `channel`.
   * Refused before signing when the operator killed this identity
   * (AGORA_ERR_KILLED) or its send budget is spent (AGORA_ERR_SEND_BUDGET) —
   * as far as this process knows the deployment (a config): the readers refuse it anyway.
   */
  send(
    channel: string,
    act: Act,
    body: unknown,
    options?: SendOptions & ReplyOptions,
  ): Promise<{ env: Envelope; ack: PubAck }>;
  /**
   * The agent's durable, verified inbox over `channels` (default: every channel
   * it may read). Each message is handed over once across restarts: its turn
   * ends when the loop asks for the next message (or `inbox.complete()` is
   * called). Leaving the loop otherwise — break, an exception — or dying
   * mid-turn brings the message back. AGORA_ERR_NOT_GRANTED for a channel it may not read.
   */
  inbox(options?: InboxOptions & { channels?: readonly string[] }): Promise<Inbox>;
  /**
   * Answer `msg`: `re` = its id, `conv` = its conversation, `hop` = its hop − 1,
   * and an id derived from (agent, msg id, n) so a turn repeated after a crash
   * publishes nothing twice. AGORA_ERR_HOP_EXHAUSTED when `msg` arrived at hop 0;
   * AGORA_ERR_DUPLICATE_ANSWER when this agent already answered it with `act`
   * (unless `deliberate`).
   */
  reply(
    msg: InboxMessage | Envelope,
    act: Act,
    body: unknown,
    options?: ReplyOptions,
  ): Promise<{ env: Envelope; ack: PubAck }>;
  /**
   * Send a speech act and collect the verified answers (`re` = its id) that
   * arrive within `timeoutMs`; AGORA_ERR_REQUEST_TIMEOUT when none did.
   */
  request(channel: string, act: Act, body: unknown, options?: RequestOptions): Promise<Envelope[]>;
  /**
   * Where a message this agent sent stands for every agent that may read its
   * channel, by their processed markers: handled, handling, dead-lettered, or
   * pending (`agora trace` adds the facts: drops, failures, answers).
   */
  status(msg: Pick<Envelope, "id" | "channel">): Promise<Trace>;
  /**
   * End conversation `conv` with a signed `cancel` on `channel` (where its participants read). Takes
   * effect when it came from the conversation's initiator or an operator: every reader then drops the
   * conversation's later acts (the cancel itself is delivered).
   */
  cancel(channel: string, conv: string, body?: unknown): Promise<{ env: Envelope; ack: PubAck }>;
  /**
   * Where a conversation this agent took part in stands, from the acts it sent and was handed
   * (requested → agreed → done …, see protocol/conversation.ts), and "cancelled" once a cancel took
   * effect. Undefined for a conversation it has not seen (the last 10,000 are kept).
   */
  conversation(conv: string): Conversation | undefined;
  /** The agents on agora now: every card their agent's key signed, with its presence (idle, working, offline, killed). */
  agents(): Promise<Presence[]>;
  /** Whether the operator has killed this identity (known with a deployment config; follows the control plane). */
  killed(): boolean;
  /** Resolves when the connection ends: undefined after close(), else why. */
  closed(): Promise<void | Error>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Connect as an external agent. AGORA_ERR_KEY_MISSING without a key, AGORA_ERR_NATS_CONNECT when NATS is unreachable. */
export async function connect(options: ConnectOptions): Promise<Agent> {
  assertName(options.name, "agent name");
  // The deployment's config, when given, also says where the keys are and which NATS it runs.
  const deployment = typeof options.config === "string" ? loadConfig(options.config) : options.config;
  let identity: Identity;
  const keysDir = options.keysDir ?? deployment?.keysDir;
  if (options.key) identity = identityOf(options.name, options.key);
  else if (options.keyFile) identity = readKeyFile(options.keyFile, options.name);
  else if (keysDir) identity = new KeyStore(keysDir).load(options.name);
  else
    throw new AgoraError(
      "AGORA_ERR_KEY_MISSING",
      `connect needs the key of ${options.name}: pass key, keyFile, keysDir holding ${options.name}.key (agora keys gen ${options.name}), or config`,
    );
  const servers =
    options.servers ??
    (deployment
      ? natsUrlOf(deployment)
      : (process.env.NATS_URL ?? `nats://${DEFAULTS.nats.host}:${DEFAULTS.nats.port}`));
  const nc: NatsConnection = await connectNats({
    url: Array.isArray(servers) ? servers.join(",") : servers,
    name: `agora-${options.name}`,
    identity: options.nkey === false ? undefined : identity,
    timeoutMs: options.timeoutMs,
  });
  const client = new AgoraClient(nc, identity);
  let closing = false;
  const ended = nc.closed().then((err) => (closing ? undefined : (err ?? new Error("connection closed"))));
  const inboxes = new Set<Inbox>();
  /** The subscriptions request() shares, one per channel (made on the first request). */
  let answering: Answers | undefined;
  let joined: Promise<Joined> | undefined;
  /** The deployment once joined (for synchronous questions). */
  let joinedNow: Joined | undefined;
  /** The deployment's config, the stream and buckets, and a verifier: opened once, when first needed. */
  const join = () =>
    (joined ??= joinDeployment(nc, identity, deployment, options.actsPerMinute).then(
      (j) => (joinedNow = j),
      (err: unknown) => {
        joined = undefined; // tried again on the next call (agora may still be starting)
        throw err;
      },
    ));
  /** Replies sent per input message, for their deterministic ids. */
  const replies = new Map<string, number>();
  /** The acts this agent answered each message with: a second of the same act is the ack loop. */
  const answered = new Map<string, Set<string>>();
  /** The conversations this agent took part in, as it saw them. */
  const conversations = new Map<string, Conversation>();
  const see = (env: Envelope) => {
    // A cancel counts once the recorder accepted it (agora-convs): conversation() asks there.
    if (env.act === "cancel") return;
    const conv = env.conv ?? env.id;
    const c = conversations.get(conv);
    if (c) {
      conversations.delete(conv); // most recent last
      conversations.set(conv, advance(c, env));
    } else conversations.set(conv, openConversation(conv, env));
    if (conversations.size > 10_000) conversations.delete(conversations.keys().next().value!);
  };
  const forget = (id: string) => {
    replies.delete(id);
    answered.delete(id);
  };
  /**
   * Refuse what every reader would drop — sends of a killed identity, sends
   * beyond its budget, acts of a cancelled conversation — and a repeated answer (the ack loop). Synchronous: two
   * answers sent at once cannot both pass. An admitted answer counts as given.
   */
  const admitSend = (re: string | undefined, conv: string | undefined, act: Act, deliberate?: boolean) => {
    const j = joinedNow; // checked as far as this process knows the deployment (a config was given or joined)
    const cancel = conv === undefined ? undefined : j?.cancels.of({ conv, id: "" }, Infinity);
    if (cancel && act !== "cancel") {
      throw new AgoraError(
        "AGORA_ERR_CANCELLED",
        `conversation ${conv} was cancelled by ${cancel.by} (${cancel.id}): every reader drops its later acts`,
      );
    }
    if (j && isKilled(j.config, j.controls.state, identity.name)) {
      throw new AgoraError(
        "AGORA_ERR_KILLED",
        `${identity.name} is killed by the operator (${j.controls.state.deciding(identity.name)?.by ?? "control plane"}): nothing it sends is delivered until it is revived`,
      );
    }
    const acts = re === undefined ? undefined : answered.get(re);
    if (acts?.has(act) && !deliberate) {
      throw new AgoraError(
        "AGORA_ERR_DUPLICATE_ANSWER",
        `${identity.name} already answered ${re} with ${act}: a second ${act} to the same message is how ack loops start (pass deliberate to send it anyway)`,
      );
    }
    if (j && !j.budget.spend(identity.name, Date.now())) {
      throw new AgoraError(
        "AGORA_ERR_SEND_BUDGET",
        `${identity.name} sent ${j.budget.limit(identity.name)} acts in the last minute, its budget: wait before sending more`,
      );
    }
    if (re === undefined) return;
    answered.set(re, (acts ?? new Set<string>()).add(act));
    if (answered.size > 10_000) answered.delete(answered.keys().next().value!);
  };
  /** Admit, then sign and publish; `idOf` gives the id once the send is admitted (a refused reply takes no number). */
  const sendChecked = async (
    channel: string,
    act: Act,
    body: unknown,
    o: SendOptions & ReplyOptions,
    idOf = () => o.id ?? randomId(),
  ) => {
    admitSend(o.re, o.conv, act, o.deliberate);
    const sent = await client.send(channel, act, body, { hop: o.hop, re: o.re, conv: o.conv, id: idOf() });
    see(sent.env);
    return sent;
  };
  // Presence: the agent's signed card, renewed every heartbeat (with the deployment's config).
  let presence: { stop(): Promise<void> } | undefined;
  if (deployment)
    try {
      const { config, infra } = await join();
      const grant = config.external.find((e) => e.name === identity.name);
      presence = await startHeartbeat(
        infra.cards,
        identity,
        () => ({
          kind: "external",
          description: options.card?.description,
          skills: options.card?.skills,
          answers: options.card?.answers,
          reads: grant?.read,
          writes: grant?.write,
          status: [...inboxes].some((i) => i.busy) ? "working" : "idle",
        }),
        options.heartbeatMs ?? config.limits.heartbeatMs,
      );
    } catch (err) {
      await nc.close().catch(() => {}); // a failed connect leaves nothing open
      throw err;
    }
  const close = async () => {
    closing = true;
    await presence?.stop();
    await Promise.all([...inboxes].map((i) => i.close()));
    answering?.close();
    const j = await joined?.catch(() => undefined);
    j?.controls.close();
    j?.cancels.stop();
    j?.registry.close();
    await nc.drain().catch(() => {});
  };
  return {
    name: identity.name,
    publicKey: identity.publicKey,
    send: (channel, act, body, sendOptions = {}) => sendChecked(channel, act, body, sendOptions),
    cancel: (channel, conv, body = {}) => sendChecked(channel, "cancel", body, { conv }),
    conversation(conv) {
      const c = conversations.get(conv);
      if (!c) return undefined;
      const cancel = joinedNow?.cancels.of({ conv, id: "" }, Infinity);
      return cancel && c.state !== "cancelled" ? { ...c, state: "cancelled", cancelledBy: cancel.id } : { ...c };
    },
    async inbox(inboxOptions = {}) {
      const { config, infra, verifier, standing, cancels } = await join();
      const grant = config.external.find((e) => e.name === identity.name);
      if (!grant) {
        throw new AgoraError(
          "AGORA_ERR_NOT_GRANTED",
          `${identity.name} is not an external agent of the config: declare external.${identity.name} with read grants`,
        );
      }
      const channels = inboxOptions.channels ?? grant.read;
      for (const c of channels) {
        if (!grant.read.includes(c))
          throw new AgoraError(
            "AGORA_ERR_NOT_GRANTED",
            `${identity.name} may not read ${c} (external.${identity.name}.read)`,
          );
      }
      if (channels.length === 0)
        throw new AgoraError("AGORA_ERR_NOT_GRANTED", `${identity.name} may read no channel: nothing to receive`);
      const judges = { senderRefusal: standing.of.bind(standing), cancelOf: cancels.of.bind(cancels) };
      const inbox = await Inbox.open(identity.name, config, infra, verifier, judges, channels, {
        ...inboxOptions,
        // A message handed over again (its turn did not complete) numbers its replies from 0 again: same ids.
        onHandOver: (m) => {
          if (m.redelivered) forget(m.env.id);
          else see(m.env);
        },
      });
      inboxes.add(inbox);
      return inbox;
    },
    reply(msg, act, body, replyOptions = {}) {
      const env = "env" in msg ? msg.env : msg;
      if (env.hop <= 0) {
        throw new AgoraError(
          "AGORA_ERR_HOP_EXHAUSTED",
          `${env.id} arrived at hop 0: it may not be answered (the hop budget ends reply cascades)`,
        );
      }
      // Numbered as it is admitted, before anything awaits: answers sent at once get distinct ids.
      const idOf = () => {
        const n = replies.get(env.id) ?? 0;
        replies.set(env.id, n + 1);
        if (replies.size > 10_000) replies.delete(replies.keys().next().value!);
        return emittedId(identity.seed, identity.name, env.id, n);
      };
      const answer = { re: env.id, conv: env.conv ?? env.id, hop: env.hop - 1, deliberate: replyOptions.deliberate };
      return sendChecked(env.channel, act, body, answer, idOf);
    },
    async request(channel, act, body, requestOptions = {}) {
      const { config, verifier, standing, cancels } = await join();
      if (!config.external.find((e) => e.name === identity.name)?.read.includes(channel)) {
        throw new AgoraError(
          "AGORA_ERR_NOT_GRANTED",
          `${identity.name} may not read ${channel}, where the answers come (external.${identity.name}.read)`,
        );
      }
      const { timeoutMs = 5000, expect = 1, ...send } = requestOptions;
      const id = randomId();
      const answers: Envelope[] = [];
      let done!: () => void;
      const finished = new Promise<void>((resolve) => (done = resolve));
      // Listening before sending: an answer cannot come before the subscription.
      const stop = await (answering ??= new Answers(nc, (data, subject) => verifier.verify(data, subject))).listen(
        channel,
        id,
        {
          answer: (env) => {
            if (env.sender === identity.name) return;
            if (standing.of(env, Date.now())) return; // a killed or over-budget sender
            // An answer in a conversation cancelled by now is dropped, as every reader drops it (a core
            // delivery has no stream sequence to order it against the cancel: the cancel wins).
            if (env.act !== "cancel" && cancels.of(env, Infinity)) return;
            answers.push(env);
            see(env);
            if (answers.length >= expect) done();
          },
          end: () => done(),
        },
      );
      const timer = setTimeout(done, timeoutMs);
      try {
        await sendChecked(channel, act, body, { ...send, id });
        await finished;
      } finally {
        clearTimeout(timer);
        stop();
      }
      if (answers.length === 0) {
        throw new AgoraError(
          "AGORA_ERR_REQUEST_TIMEOUT",
          `no verified answer to ${act} ${id} on ${channel} within ${timeoutMs} ms`,
        );
      }
      return answers;
    },
    async status(msg) {
      const { config, infra } = await join();
      return traceMessage(config, infra, msg.id, { channel: msg.channel, sender: identity.name });
    },
    async agents() {
      const { config, infra, registry, controls } = await join();
      const { agents } = await readCards(infra.cards, (n) => registry.get(n) ?? registry.refresh(infra.keys, n), {
        config,
        killed: (n) => isKilled(config, controls.state, n),
      });
      return agents;
    },
    killed: () => {
      const j = joinedNow;
      return !!j && isKilled(j.config, j.controls.state, identity.name);
    },
    closed: () => ended,
    close,
    [Symbol.asyncDispose]: close,
  };
}

interface Joined {
  config: AgoraConfig;
  infra: Infrastructure;
  registry: KeyRegistry;
  verifier: Verifier;
  /** The signed controls, followed: who is killed. */
  controls: ControlFollower;
  /** Killed senders and send budgets, as the hosts judge them. */
  standing: SenderStanding;
  /** This agent's own send budget. */
  budget: SendBudget;
  /** Cancelled conversations, followed: their later acts are dropped. */
  cancels: CancelledConversations;
}

/** Bind to the deployment: its config, the stream and buckets, the keys (pinned from config, first-seen from KV). */
async function joinDeployment(
  nc: NatsConnection,
  identity: Identity,
  given: AgoraConfig | string | undefined,
  ownLimit: number | undefined,
): Promise<Joined> {
  const config = typeof given === "object" ? given : loadConfig(given);
  const infra = await openInfrastructure(nc, config, { waitMs: 5000 });
  const registry = new KeyRegistry();
  registry.pin(identity.name, identity.publicKey);
  for (const e of config.external) if (e.publicKey) registry.pin(e.name, e.publicKey);
  await registry.follow(infra.keys);
  const verifier = new Verifier(config, registry, (name) => registry.refresh(infra.keys, name));
  const controls = new ControlFollower(nc, infra.control, registry, config.controllers, undefined, () => {});
  try {
    await controls.start();
  } catch (err) {
    registry.close();
    throw err;
  }
  const standing = new SenderStanding(config, controls.state);
  const cancels = new CancelledConversations(infra.convs);
  try {
    await cancels.start();
  } catch (err) {
    controls.close();
    registry.close();
    throw err;
  }
  const limits = [config.external.find((e) => e.name === identity.name)?.actsPerMinute, ownLimit];
  const limit = Math.min(...limits.filter((l) => l !== undefined));
  const budget = new SendBudget(() => (Number.isFinite(limit) ? limit : undefined));
  return { config, infra, registry, verifier, controls, standing, budget, cancels };
}
