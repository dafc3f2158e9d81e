// Presence renewals coalesce: a host starting 1,000 agents asks for a renewal
// after each start, and each renewal writes every card — one by one that was
// 1,000 × 1,000 writes and minutes of start-up.
import { describe, expect, it } from "vitest";
import type { KV } from "@nats-io/kv";
import type { AgentCard } from "../../protocol/cards.js";
import { CardHeartbeat } from "../../transport/presence.js";

describe("card heartbeat", () => {
  it("card heartbeat - renewals asked while one runs share one fresh renewal; each writes every card, in parallel", async () => {
    let puts = 0;
    let inFlight = 0;
    let widest = 0;
    const kv = {
      put: async () => {
        puts++;
        widest = Math.max(widest, ++inFlight);
        await new Promise((r) => setTimeout(r, 1));
        inFlight--;
        return 0;
      },
    } as unknown as KV;
    let cards = 0;
    let built = 0;
    let lastBuilt = 0;
    const beat = new CardHeartbeat(kv, 3_600_000, () => {
      built++;
      lastBuilt = cards;
      return Array.from({ length: cards }, (_, i) => ({ name: `a${i}` }) as AgentCard);
    });
    await beat.start();
    expect(built).toBe(1);
    const asks: Promise<void>[] = [];
    for (let i = 0; i < 1000; i++) {
      const n = ++cards; // an agent started
      // An ask is answered by a renewal that started after it: its card is among those written.
      asks.push(beat.now().then(() => expect(lastBuilt).toBeGreaterThanOrEqual(n)));
    }
    await Promise.all(asks);
    expect(built).toBeLessThanOrEqual(3); // not one renewal per ask
    expect(puts).toBeLessThanOrEqual(3000);
    expect(widest).toBeGreaterThan(1); // written in parallel
    const before = puts;
    cards = 5;
    await beat.now();
    expect(puts - before).toBe(5);
    await beat.stop();
  });
});
