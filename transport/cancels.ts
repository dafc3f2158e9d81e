// CancelledConversations: every reader's view of agora-convs, the conversations
// the recorder saw cancelled by their initiator or an operator. A reader drops
// their later acts (one Map lookup a message); the cancel itself is delivered.
import type { KV } from "@nats-io/kv";
import type { Envelope } from "../protocol/envelope.js";
import { parseCancel, type CancelRecord } from "../protocol/records.js";
import { followBucket, type BucketFollower } from "./kv-follow.js";
import { MARKER_TTL_MS } from "../config/defaults.js";

export class CancelledConversations {
  private readonly cancels = new Map<string, CancelRecord>();
  private follower?: BucketFollower;

  constructor(
    private readonly kv: KV,
    /** Hears of an entry that is not a cancel record (it is ignored). */
    private readonly refused: (key: string, reason: string) => void = () => {},
    /** How long a record lives in agora-convs (its bucket's TTL). */
    private readonly ttlMs = MARKER_TTL_MS,
  ) {}

  /** Follow the bucket; resolves once its current entries are in. */
  async start(): Promise<void> {
    this.follower = await followBucket(
      this.kv,
      (e) => {
        if (e.operation !== "PUT") {
          this.cancels.delete(e.key);
          return;
        }
        const c = parseCancel(e.value);
        if (c && c.conv === e.key) this.cancels.set(c.conv, c);
        else this.refused(e.key, `agora-convs ${e.key} is not a cancel record; ignored`);
      },
      { expiring: true },
    );
    await this.follower.ready;
  }

  /**
   * The cancel that ended `env`'s conversation before the stream stored it (at `seq`), if one did: never
   * the cancel itself, nor what came before it. A cancel is in force as long as its record lives in KV
   * (`ttlMs` from its time: an expiry sends no watch event, so each reader ages it out itself).
   */
  of(env: Pick<Envelope, "id" | "conv">, seq: number, now = Date.now()): CancelRecord | undefined {
    if (env.conv === undefined) return undefined;
    const c = this.cancels.get(env.conv);
    if (!c) return undefined;
    if (now - Date.parse(c.ts) > this.ttlMs) {
      this.cancels.delete(env.conv);
      return undefined;
    }
    return c.seq < seq ? c : undefined;
  }

  /** Resolves when the watch ends: undefined when stopped, else why. */
  closed(): Promise<void | Error> {
    return this.follower?.closed() ?? Promise.resolve();
  }

  stop(): void {
    this.follower?.stop();
  }
}
