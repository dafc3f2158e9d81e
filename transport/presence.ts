// Presence: agents renew their signed cards in agora-cards every heartbeat;
// readers keep only cards their agent's key signed, and call a card offline
// once three heartbeats were missed.
import type { KeyObject } from "node:crypto";
import type { KV } from "@nats-io/kv";
import type { AgoraConfig } from "../config/config.js";
import { makeCard, parseCard, presenceOf, type AgentCard, type CardStatus } from "../protocol/cards.js";
import { signCard, verifyCard } from "../trust/cards.js";
import { keysOf } from "./kv-list.js";

/**
 * A card's claims against the deployment's config: a hosted card names a hosted
 * agent and its grants, an external one an external agent's; an operator card
 * the gateway identity. Without a config, the signature alone vouches.
 */
function claimsHold(card: AgentCard, config: AgoraConfig | undefined): boolean {
  if (!config) return true;
  const a = card.agora;
  const same = (x: readonly string[], y: readonly string[]) => x.length === y.length && x.every((c) => y.includes(c));
  const grant =
    a.kind === "hosted"
      ? config.agents.find((g) => g.name === card.name)
      : config.external.find((g) => g.name === card.name);
  if (a.kind === "operator") return card.name === config.gateway.identity && (!grant || same(a.writes, grant.write));
  if (a.kind === "bridge" && card.name !== config.github?.identity) return false;
  return (
    !!grant &&
    same(a.reads, grant.read) &&
    same(a.writes, grant.write) &&
    (a.kind === "hosted") === !!config.agents.find((g) => g.name === card.name)
  );
}

/** Card writes in flight at once: a host with thousands of agents renews them in parallel, not one by one. */
const PUTS_IN_FLIGHT = 64;

/** Writes `cards()` now and every `everyMs` until stopped. */
export class CardHeartbeat {
  private timer?: NodeJS.Timeout;
  private beating?: Promise<void>;
  /** A renewal asked for while one runs: it starts when that one ends, and later asks join it. */
  private queued?: Promise<void>;

  constructor(
    private readonly kv: KV,
    private readonly everyMs: number,
    private readonly cards: () => AgentCard[],
    private readonly log: (line: string) => void = () => {},
  ) {}

  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => {
      if (!this.beating) void this.now();
    }, this.everyMs);
    this.timer.unref();
  }

  /**
   * Renew the cards now (e.g. an agent was just killed). A renewal under way is
   * followed by one fresh renewal, which every ask made meanwhile shares — so
   * 1,000 agents starting make two renewals, not 1,000.
   */
  now(): Promise<void> {
    if (this.queued) return this.queued;
    const before = this.beating;
    const mine: Promise<void> = (before ?? Promise.resolve())
      .then(() => {
        if (this.queued === mine) this.queued = undefined; // asks from here on need another renewal
        return this.beat();
      })
      .finally(() => {
        if (this.beating === mine) this.beating = undefined;
      });
    if (before) this.queued = mine;
    this.beating = mine;
    return mine;
  }

  private async beat(): Promise<void> {
    const cards = this.cards();
    for (let i = 0; i < cards.length; i += PUTS_IN_FLIGHT)
      await Promise.all(
        cards
          .slice(i, i + PUTS_IN_FLIGHT)
          .map((card) =>
            this.kv
              .put(card.name, JSON.stringify(card))
              .catch((err) => this.log(`card of ${card.name}: ${String(err)}`)),
          ),
      );
  }

  /** Stop renewing; `last` (e.g. the cards saying offline) is written once more. */
  async stop(last: AgentCard[] = []): Promise<void> {
    clearInterval(this.timer);
    await this.beating;
    for (const card of last) await this.kv.put(card.name, JSON.stringify(card)).catch(() => {});
  }
}

/** A verified card and where its agent is now: its presence, or killed by the operator. */
export interface Presence {
  card: AgentCard;
  status: CardStatus | "killed";
}

/**
 * Every card in the bucket that parses and is signed by its agent's key, with
 * its presence now; the names of the cards refused (junk or a wrong signature).
 */
export async function readCards(
  kv: KV,
  keyOf: (name: string) => KeyObject | undefined | Promise<KeyObject | undefined>,
  options: {
    /** Check each card's claims (kind, reads, writes) against the deployment's config. */
    config?: AgoraConfig;
    /** Whether the operator killed an identity: its status is "killed" whatever its card says. */
    killed?: (name: string) => boolean;
    now?: number;
  } = {},
): Promise<{ agents: Presence[]; refused: string[] }> {
  const { config, killed, now = Date.now() } = options;
  const agents: Presence[] = [];
  const refused: string[] = [];
  for (const name of (await keysOf(kv)).sort()) {
    const entry = await kv.get(name).catch(() => null);
    if (entry?.operation !== "PUT") continue;
    const card = parseCard(entry.value);
    let ok: boolean;
    try {
      ok = !!card && card.name === name && verifyCard(await keyOf(name), card) && claimsHold(card, config);
    } catch {
      ok = false; // one bad card never breaks the list
    }
    if (!ok) {
      refused.push(name);
      continue;
    }
    agents.push({ card: card!, status: killed?.(name) ? "killed" : presenceOf(card!, now) });
  }
  return { agents, refused };
}

/** The fields of one identity's card (its name and heartbeat are added). */
export type CardFields = Omit<Parameters<typeof makeCard>[0], "name" | "heartbeatMs" | "now">;

/** Keep `identity`'s card fresh every `everyMs`; stop() marks it offline. */
export async function startHeartbeat(
  kv: KV,
  identity: { name: string; privateKey: KeyObject },
  fields: CardFields | (() => CardFields),
  everyMs: number,
  log?: (line: string) => void,
): Promise<{ stop(): Promise<void> }> {
  const card = (status?: CardStatus) => {
    const f = typeof fields === "function" ? fields() : fields;
    return signCard(
      identity.privateKey,
      makeCard({ ...f, ...(status ? { status } : {}), name: identity.name, heartbeatMs: everyMs }),
    );
  };
  const beat = new CardHeartbeat(kv, everyMs, () => [card()], log);
  await beat.start();
  return { stop: () => beat.stop([card("offline")]) };
}
