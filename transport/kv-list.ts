// Listing a bucket without a consumer.
import { Bucket, type KV } from "@nats-io/kv";
import { kvSubject } from "../protocol/subjects.js";

/**
 * The keys of a bucket (those matching `filter`) from one stream-info request (its subjects), then read by
 * direct get — no consumer. kv.keys() creates an ordered consumer, which on a
 * cluster is slow to create, and waits out a 30 s heartbeat when an entry expires
 * (this is a TTL bucket) while it lists.
 */
export async function keysOf(kv: KV, filter = ">"): Promise<string[]> {
  if (!(kv instanceof Bucket)) {
    const keys: string[] = [];
    for await (const k of await kv.keys(filter)) keys.push(k);
    return keys;
  }
  const prefix = kvSubject(kv.bucket, "");
  const info = await kv.jsm.streams.info(kv.stream, { subjects_filter: kvSubject(kv.bucket, filter) });
  return Object.keys(info.state.subjects ?? {}).map((s) => s.slice(prefix.length));
}
