// RecorderThread: the facts recorder on its own thread (recorder-worker.ts) —
// how `agora up` and `agora host` run it, so recording uses another core than
// the host's message path. The same surface as a Recorder, seen from outside.
import type { Worker } from "node:worker_threads";
import type { AgoraConfig } from "../config/config.js";
import { AgoraError, type ErrorCode } from "../protocol/errors.js";
import { startModuleWorker } from "../transport/start-worker.js";
import type { FromRecorder, ToRecorder } from "./recorder-worker.js";

export interface RecorderThreadOptions {
  config: AgoraConfig;
  /** NATS to record from; the thread logs in as the recorder. */
  url: string;
  log?: (line: string) => void;
}

export class RecorderThread {
  /** Stream sequence of the last fact on disk, as the thread last told (within 100 ms). */
  lastSeq = 0;
  /** Facts written by the thread. */
  recorded = 0;
  private readonly worker: Worker;
  private readonly calls = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private nextCall = 0;
  private readonly stopped: Promise<void | Error>;

  private constructor(worker: Worker, log?: (line: string) => void) {
    this.worker = worker;
    let stop!: (err: void | Error) => void;
    this.stopped = new Promise((r) => (stop = r));
    worker.on("message", (m: FromRecorder) => {
      if (m.type === "progress") ({ lastSeq: this.lastSeq, recorded: this.recorded } = m);
      else if (m.type === "log") log?.(m.line);
      else if (m.type === "reached") {
        const call = this.calls.get(m.call);
        this.calls.delete(m.call);
        if (m.error) call?.reject(new Error(m.error));
        else call?.resolve();
      } else if (m.type === "stopped") stop(m.error ? new Error(m.error) : undefined);
    });
    worker.on("error", (err) => stop(err));
    worker.on("exit", () => stop(new Error("the recorder thread exited")));
  }

  /** Start recording on a new thread; resolves once it consumes (throws what stopped it from starting). */
  static async start(options: RecorderThreadOptions): Promise<RecorderThread> {
    const worker = startModuleWorker(import.meta.url, "recorder-worker");
    const thread = new RecorderThread(worker, options.log);
    await new Promise<void>((resolve, reject) => {
      const first = (m: FromRecorder) => {
        if (m.type === "started") {
          thread.lastSeq = m.lastSeq;
          resolve();
        } else if (m.type === "start_failed") {
          void worker.terminate();
          reject(
            m.code
              ? new AgoraError(m.code as ErrorCode, m.message)
              : new Error(`recorder failed to start: ${m.message}`),
          );
        } else return;
        worker.off("message", first);
      };
      worker.on("message", first);
      worker.once("error", reject);
      worker.postMessage({ type: "start", config: options.config, url: options.url } satisfies ToRecorder);
    });
    return thread;
  }

  /** Resolves once the fact for stream sequence `seq` is on disk. */
  waitFor(seq: number, timeoutMs = 10_000): Promise<void> {
    if (this.lastSeq >= seq) return Promise.resolve();
    const call = this.nextCall++;
    return new Promise((resolve, reject) => {
      this.calls.set(call, { resolve, reject });
      this.worker.postMessage({ type: "waitFor", call, seq, timeoutMs } satisfies ToRecorder);
    });
  }

  /** Resolves when recording ends: undefined after close(), else why it stopped (it resumes there when restarted). */
  closed(): Promise<void | Error> {
    return this.stopped;
  }

  /** Stop recording (the message in hand is finished) and end the thread. */
  async close(): Promise<void> {
    this.worker.postMessage({ type: "close" } satisfies ToRecorder);
    await this.stopped;
    await this.worker.terminate();
  }
}
