// FactsQueries: the console's facts queries, answered by one worker thread so
// that reading and parsing large facts files never blocks the event loop the
// kill switch runs on. Queries queue in order; beyond a bound they are refused
// (429) instead of piling up.
import type { Worker } from "node:worker_threads";
import { startModuleWorker } from "../transport/start-worker.js";
import { AgoraError, fromWireError, type WireError } from "../protocol/errors.js";

export type FactsRequest =
  | { id: number; kind: "recent"; dir: string; channel?: string; limit: number }
  | { id: number; kind: "find"; dir: string; factId: string }
  | { id: number; kind: "trace"; dir: string; envelopeId: string }
  | { id: number; kind: "convs"; dir: string; conv?: string; all?: boolean; limit: number };
/** A result as JSON text (undefined: no such fact), serialized in the worker. */
export type FactsResponse =
  { id: number; ok: true; json: string | undefined } | { id: number; ok: false; error: WireError };

/** Queries waiting or running at once; more are refused with AGORA_ERR_RATE_LIMITED. @default 8 */
export const DEFAULT_MAX_PENDING_QUERIES = 8;

type Pending = { resolve: (r: FactsResponse) => void };
/** A request before it is numbered. */
type Query = FactsRequest extends infer R ? (R extends unknown ? Omit<R, "id"> : never) : never;

export class FactsQueries {
  private worker?: Worker;
  private readonly pending = new Map<number, Pending>();
  private next = 1;

  constructor(
    private readonly dir: string,
    private readonly maxPending = DEFAULT_MAX_PENDING_QUERIES,
  ) {}

  /** The last `limit` facts (of one channel), oldest first, as a JSON array's text. */
  async recent(options: { channel?: string; limit: number }): Promise<string> {
    return (await this.ask({ kind: "recent", dir: this.dir, ...options })) ?? "[]";
  }

  /** The fact with this id as JSON text, or undefined. */
  find(factId: string): Promise<string | undefined> {
    return this.ask({ kind: "find", dir: this.dir, factId });
  }

  /** The facts naming an envelope id (the message, decisions about it, answers to it), as a JSON array's text. */
  async trace(envelopeId: string): Promise<string> {
    return (await this.ask({ kind: "trace", dir: this.dir, envelopeId })) ?? "[]";
  }

  /** Conversations, most recently active first (ConversationFacts[]), or one with its acts, as JSON text. */
  async conversations(query: { conv?: string; all?: boolean; limit: number }): Promise<string> {
    return (await this.ask({ kind: "convs", dir: this.dir, ...query })) ?? "[]";
  }

  private start(): Worker {
    const w = startModuleWorker(import.meta.url, "facts-worker");
    w.unref();
    w.on("message", (res: FactsResponse) => {
      this.pending.get(res.id)?.resolve(res);
      this.pending.delete(res.id);
    });
    const fail = (why: string) => {
      if (this.worker !== w) return;
      this.worker = undefined; // the next query starts a fresh worker
      for (const [id, p] of this.pending)
        p.resolve({ id, ok: false, error: { code: "AGORA_ERR_FACTS_FORMAT", message: why } });
      this.pending.clear();
    };
    w.on("error", (err) => fail(`facts worker failed: ${err.message}`));
    w.on("exit", (code) => fail(`facts worker exited (${code})`));
    return w;
  }

  private async ask(req: Query): Promise<string | undefined> {
    if (this.pending.size >= this.maxPending) {
      throw new AgoraError(
        "AGORA_ERR_RATE_LIMITED",
        `${this.pending.size} facts queries are already running; try again shortly`,
      );
    }
    this.worker ??= this.start();
    const id = this.next++;
    const res = await new Promise<FactsResponse>((resolve) => {
      this.pending.set(id, { resolve });
      this.worker!.postMessage({ ...req, id } as FactsRequest);
    });
    if (!res.ok) throw fromWireError(res.error);
    return res.json;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    await w?.terminate();
  }
}
