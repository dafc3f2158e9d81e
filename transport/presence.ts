// Presence: agents renew their signed cards in agora-cards every heartbeat;
// readers keep only cards their agent's key signed, and call a card offline
// once three heartbeats were missed.
import type { KeyObject } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { makeCard, parseCard, presenceOf, type AgentCard, type CardStatus } from "../protocol/cards.js";
import { signCard, verifyCard } from "../trust/cards.js";
import { keysOf } from "./kv-list.js";

/** Writes `cards()` now and every `everyMs` until stopped. */
export class CardHeartbeat {
  private timer?: NodeJS.Timeout;
  private beating?: Promise<void>;

  constructor(
    private readonly kv: KV,
    private readonly everyMs: number,
    private readonly cards: () => AgentCard[],
    private readonly log: (line: string) => void = () => {},
  ) {}

  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => void this.now(), this.everyMs);
    this.timer.unref();
  }

  /** Renew the cards now (e.g. an agent just started), unless a renewal is under way. */
  now(): Promise<void> {
    return (this.beating ??= this.beat().finally(() => (this.beating = undefined)));
  }

  private async beat(): Promise<void> {
    for (const card of this.cards()) {
      await this.kv
        .put(card.name, JSON.stringify(card))
        .catch((err) => this.log(`card of ${card.name}: ${String(err)}`));
    }
  }

  /** Stop renewing; `last` (e.g. the cards saying offline) is written once more. */
  async stop(last: AgentCard[] = []): Promise<void> {
    clearInterval(this.timer);
    await this.beating;
    for (const card of last) await this.kv.put(card.name, JSON.stringify(card)).catch(() => {});
  }
}

/** A verified card and where its agent is now. */
export interface Presence {
  card: AgentCard;
  status: CardStatus;
}

/**
 * Every card in the bucket that parses and is signed by its agent's key, with
 * its presence now; the names of the cards refused (junk or a wrong signature).
 */
export async function readCards(
  kv: KV,
  keyOf: (name: string) => KeyObject | undefined | Promise<KeyObject | undefined>,
  now = Date.now(),
): Promise<{ agents: Presence[]; refused: string[] }> {
  const agents: Presence[] = [];
  const refused: string[] = [];
  for (const name of (await keysOf(kv)).sort()) {
    const entry = await kv.get(name).catch(() => null);
    if (entry?.operation !== "PUT") continue;
    const card = parseCard(entry.value);
    if (!card || card.name !== name || !verifyCard(await keyOf(name), card)) {
      refused.push(name);
      continue;
    }
    agents.push({ card, status: presenceOf(card, now) });
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
