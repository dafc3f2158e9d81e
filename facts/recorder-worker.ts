// The recorder's worker thread: a Recorder with its own NATS connection and
// event loop, so verifying and signing facts takes no time from the host's.
// Driven by RecorderThread (recorder-thread.ts) over the messages below.
import { parentPort } from "node:worker_threads";
import type { AgoraConfig } from "../config/config.js";
import { connectNats } from "../transport/connect.js";
import { KeyStore } from "../trust/key-store.js";
import { RECORDER_IDENTITY } from "../protocol/names.js";
import { Recorder } from "./recorder.js";

/** From RecorderThread. */
export type ToRecorder =
  | { type: "start"; config: AgoraConfig; url: string }
  | { type: "waitFor"; call: number; seq: number; timeoutMs: number }
  | { type: "close" };

/** To RecorderThread. */
export type FromRecorder =
  | { type: "started"; lastSeq: number }
  | { type: "start_failed"; message: string; code?: string }
  | { type: "progress"; lastSeq: number; recorded: number }
  | { type: "reached"; call: number; error?: string }
  | { type: "log"; line: string }
  | { type: "stopped"; error?: string };

/** How often the thread tells where it is. */
const PROGRESS_MS = 100;

const port = parentPort!;
const post = (m: FromRecorder) => port.postMessage(m);
let recorder: Recorder | undefined;
let progress: NodeJS.Timeout | undefined;
let last = -1;

function report(): void {
  if (!recorder || recorder.facts.lastSeq === last) return;
  last = recorder.facts.lastSeq;
  post({ type: "progress", lastSeq: last, recorded: recorder.recorded });
}

async function start(config: AgoraConfig, url: string): Promise<void> {
  const identity = config.nats.auth === "nkey" ? new KeyStore(config.keysDir).load(RECORDER_IDENTITY) : undefined;
  const nc = await connectNats({ url, name: `agora-${RECORDER_IDENTITY}`, identity });
  try {
    recorder = await Recorder.start({ config, nc, log: (line) => post({ type: "log", line }) });
  } catch (err) {
    await nc.close();
    throw err;
  }
  post({ type: "started", lastSeq: recorder.facts.lastSeq });
  progress = setInterval(report, PROGRESS_MS);
  const r = recorder;
  void r.closed().then(async (err) => {
    clearInterval(progress);
    report();
    await nc.drain().catch(() => {});
    post({ type: "stopped", ...(err ? { error: err.message } : {}) });
    port.close();
  });
}

port.on("message", (m: ToRecorder) => {
  if (m.type === "start")
    start(m.config, m.url).catch((err: unknown) =>
      post({
        type: "start_failed",
        message: err instanceof Error ? err.message : String(err),
        code: (err as { code?: string }).code,
      }),
    );
  else if (m.type === "waitFor")
    recorder!.waitFor(m.seq, m.timeoutMs).then(
      () => (report(), post({ type: "reached", call: m.call })),
      (err: unknown) => post({ type: "reached", call: m.call, error: String(err) }),
    );
  else if (m.type === "close") void recorder?.close();
});
