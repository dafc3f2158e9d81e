// followBucket: replay a KV bucket's current values, then follow its updates —
// the one way every process keeps a view of a bucket (controls, agent status,
// leases). The watch exists before the bucket is counted, so nothing written in
// between is missed and a replay that ends early is noticed; an entry the
// handler cannot take is its own business, never the end of the watch.
import type { KV, KvEntry } from "@nats-io/kv";

/** A replay quiet this long (ms) is complete: what it had left expired before it was delivered. */
const REPLAY_IDLE_MS = 2000;

/** A followed bucket: ready once replayed, closed when the watch ends. */
export interface BucketFollower {
  /** Resolves once every value present at start has been handed over; rejects when the watch ends first. */
  readonly ready: Promise<void>;
  /** Stop following (closed() then resolves with undefined). */
  stop(): void;
  /** Resolves when the watch ends: undefined when stopped, else why it ended. */
  closed(): Promise<void | Error>;
}

/**
 * Hand every current entry of `kv`, then every update, to `onEntry` (deletes
 * included: `e.operation` says which). Resolves once the watch is set up; await
 * `ready` for the replay — it rejects rather than let a caller act on a partial view.
 */
export async function followBucket(
  kv: KV,
  onEntry: (e: KvEntry) => void,
  options: {
    /**
     * The bucket's entries expire (a TTL): one may vanish while being replayed, so no last entry
     * announces the end; then a replay quiet for a while counts as complete. Never for a bucket whose
     * partial view would be unsafe to act on (controls). @default false
     */
    expiring?: boolean;
  } = {},
): Promise<BucketFollower> {
  const watcher = await kv.watch(); // the last value of every key, then updates
  let stopped = false;
  let replayed = false;
  let markReady!: () => void;
  let failReady!: (err: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = () => {
      replayed = true;
      resolve();
    };
    failReady = reject;
  });
  ready.catch(() => {}); // a caller that never awaits it must not see an unhandled rejection
  let bucket = "a bucket";
  let lastEntry = Date.now();
  // An entry that expires (a TTL bucket) while being replayed never arrives, so no delta 0 may come:
  // a live watch that has been quiet for a while has handed over everything it had.
  const idle = setInterval(() => {
    if (replayed || !options.expiring) clearInterval(idle);
    else if (Date.now() - lastEntry >= REPLAY_IDLE_MS) {
      clearInterval(idle);
      markReady();
    }
  }, REPLAY_IDLE_MS / 4);
  idle.unref?.();
  const done = (async (): Promise<void | Error> => {
    let ended: Error | undefined;
    try {
      for await (const e of watcher) {
        try {
          onEntry(e);
        } catch {
          /* the handler refuses what it cannot take; the watch goes on */
        }
        lastEntry = Date.now();
        if (e.delta === 0) markReady();
      }
      if (!stopped) ended = new Error(`the watch of ${bucket} ended`);
    } catch (err) {
      ended = err instanceof Error ? err : new Error(String(err));
    }
    clearInterval(idle);
    if (!replayed) failReady(ended ?? new Error(`the watch of ${bucket} was stopped before it replayed`));
    return ended;
  })();
  try {
    const status = await kv.status(); // counted after the watch began: what it counts, the watch replays
    bucket = status.bucket;
    if (status.values === 0) markReady();
  } catch (err) {
    watcher.stop();
    throw err;
  }
  return {
    ready,
    stop() {
      stopped = true;
      watcher.stop();
    },
    closed: () => done,
  };
}
