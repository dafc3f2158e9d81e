// followBucket: replay a KV bucket's current values, then follow its updates —
// the one way every process keeps a view of a bucket (controls, agent status,
// keys, leases). The watch starts before the replay ends, so nothing written in
// between is missed; an entry the handler cannot take is its own business, never
// the end of the watch.
import type { KV, KvEntry } from "@nats-io/kv";

/** A followed bucket: ready once replayed, closed when the watch ends. */
export interface BucketFollower {
  /** Resolves once every value present at start has been handed over. */
  readonly ready: Promise<void>;
  /** Stop following (closed() then resolves with undefined). */
  stop(): void;
  /** Resolves when the watch ends: undefined when stopped, else why it ended. */
  closed(): Promise<void | Error>;
}

/**
 * Hand every current entry of `kv`, then every update, to `onEntry` (deletes
 * included: `e.operation` says which). Resolves once the watch is set up; await
 * `ready` for the replay.
 */
export async function followBucket(kv: KV, onEntry: (e: KvEntry) => void): Promise<BucketFollower> {
  const status = await kv.status();
  const watcher = await kv.watch(); // the last value of every key, then updates
  let stopped = false;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const done = (async (): Promise<void | Error> => {
    try {
      for await (const e of watcher) {
        try {
          onEntry(e);
        } catch {
          /* the handler refuses what it cannot take; the watch goes on */
        }
        if (e.delta === 0) markReady();
      }
      return stopped ? undefined : new Error(`the watch of ${status.bucket} ended`);
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    } finally {
      markReady();
    }
  })();
  if (status.values === 0) markReady();
  return {
    ready,
    stop() {
      stopped = true;
      watcher.stop();
    },
    closed: () => done,
  };
}
