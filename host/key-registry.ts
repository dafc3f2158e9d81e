// KeyRegistry: who owns which public key — from config and the agora-keys KV bucket.
import type { KeyObject } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { AgoraError } from "./errors.js";
import { isName } from "./names.js";
import { isPublicKey, publicKeyObject } from "./signing.js";

export class KeyRegistry {
  private readonly keys = new Map<string, { raw: string; object: KeyObject }>();
  private stopWatch?: () => void;

  /** Register `name` → `raw` locally (no KV write). A different key for a known name is refused. */
  add(name: string, raw: string): void {
    if (!isName(name) || !isPublicKey(raw)) return;
    const existing = this.keys.get(name);
    if (existing?.raw === raw) return;
    this.keys.set(name, { raw, object: publicKeyObject(raw) });
  }

  /** Fetch `name` from the bucket now (a key registered a moment ago may not have been watched yet). */
  async refresh(kv: KV, name: string): Promise<KeyObject | undefined> {
    if (!isName(name)) return undefined;
    const entry = await kv.get(name).catch(() => null);
    if (entry && entry.operation === "PUT") this.add(name, entry.string());
    return this.get(name);
  }

  get(name: string): KeyObject | undefined {
    return this.keys.get(name)?.object;
  }

  raw(name: string): string | undefined {
    return this.keys.get(name)?.raw;
  }

  names(): string[] {
    return [...this.keys.keys()].sort();
  }

  /**
   * Publish `name`'s public key to KV. First registration wins: a different
   * key under a taken name is refused (AGORA_ERR_KEY_EXISTS) unless `force`.
   */
  static async publish(kv: KV, name: string, raw: string, options: { force?: boolean } = {}): Promise<void> {
    if (!isPublicKey(raw)) throw new AgoraError("AGORA_ERR_KEY_INVALID", `public key of ${name} is malformed`);
    const entry = await kv.get(name);
    const current = entry && entry.operation === "PUT" ? entry.string() : undefined;
    if (current === raw) return;
    if (current !== undefined && !options.force) {
      throw new AgoraError(
        "AGORA_ERR_KEY_EXISTS",
        `${name} is already registered with another public key; revoke it first (agora keys gen ${name} --force publishes over it)`,
      );
    }
    await kv.put(name, raw);
  }

  /** Load every key in the bucket, then follow updates until close(). */
  async follow(kv: KV): Promise<void> {
    const watcher = await kv.watch();
    this.stopWatch = () => watcher.stop();
    let ready!: () => void;
    const initial = new Promise<void>((resolve) => (ready = resolve));
    // The watcher first replays current values, then signals with an entry whose `delta` is 0.
    void (async () => {
      for await (const e of watcher) {
        if (e.operation === "PUT") this.add(e.key, e.string());
        else this.keys.delete(e.key);
        if (e.delta === 0) ready();
      }
      ready();
    })();
    const status = await kv.status();
    if (status.values === 0) ready();
    await initial;
  }

  close(): void {
    this.stopWatch?.();
  }
}
