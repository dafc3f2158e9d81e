// timeSlice: a loop over messages that are already buffered runs as one task —
// every `await` on a settled promise is a microtask, so the event loop gets no
// turn until the batch is done. A handler without I/O of its own (verify, sign,
// append) would then hold the loop for hundreds of ms, and the kill switch's
// control acks, the gateway's requests and every other connection wait behind it.
import { setImmediate as nextTurn } from "node:timers/promises";

/** The longest a loop may keep the event loop before it yields a turn, in ms. */
export const SLICE_MS = 2;

/**
 * Returns a checkpoint for a loop: call it after each item; once `ms` have
 * passed since the last turn it returns a promise that resolves on the next
 * turn of the event loop (await it), otherwise undefined.
 */
export function timeSlice(ms = SLICE_MS): () => Promise<void> | undefined {
  let since = performance.now();
  return () => {
    if (performance.now() - since <= ms) return undefined;
    return nextTurn().then(() => {
      since = performance.now();
    });
  };
}
