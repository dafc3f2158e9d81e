// InfraCheck: whether agora's streams and buckets are all there — for /readyz.
// Cached briefly, so an unauthenticated prober cannot turn readiness checks into
// a flood of JetStream API calls.
import type { JetStreamManager } from "@nats-io/jetstream";
import { REQUIRED_STREAMS } from "../protocol/subjects.js";
import { isNotFound } from "../transport/jetstream-errors.js";

/** How long a result is reused. @default 2000 */
export const INFRA_CHECK_TTL_MS = 2000;

export class InfraCheck {
  private last?: { at: number; missing: Promise<string[]> };

  constructor(private readonly jsm: JetStreamManager) {}

  /** The required streams that do not exist (empty when all do); NATS trouble reports them all as unknown. */
  missing(now = Date.now()): Promise<string[]> {
    if (!this.last || now - this.last.at >= INFRA_CHECK_TTL_MS) this.last = { at: now, missing: this.probe() };
    return this.last.missing;
  }

  private async probe(): Promise<string[]> {
    const results = await Promise.all(
      REQUIRED_STREAMS.map(async (name) => {
        try {
          await this.jsm.streams.info(name);
          return undefined;
        } catch (err) {
          return isNotFound(err) ? name : `${name} (no answer)`;
        }
      }),
    );
    return results.filter((r): r is string => r !== undefined);
  }
}
