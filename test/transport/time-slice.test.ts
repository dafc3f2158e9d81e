// A loop over messages already buffered must give the event loop a turn every
// few ms: else a backlog (the recorder's, the console's) runs as one task and
// the kill switch's acks wait behind it.
import { describe, expect, it } from "vitest";
import type { Consumer, JsMsg } from "@nats-io/jetstream";
import { pullLoop } from "../../transport/pull-loop.js";
import { SLICE_MS, timeSlice } from "../../transport/time-slice.js";

/** Busy-wait `ms`: a handler with no I/O of its own (verify, sign, append). */
const spin = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

/** The longest gap between ticks of a 1 ms timer while `work` runs. */
async function longestStall(work: () => Promise<void>): Promise<number> {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 1);
  await work();
  await new Promise((r) => setTimeout(r, 5)); // the tick after the last stall is counted too
  clearInterval(timer);
  return worst;
}

describe("time slices", () => {
  it("time slice - a loop of synchronous work yields a turn at least every few ms", async () => {
    const stall = await longestStall(async () => {
      const turn = timeSlice();
      for (let i = 0; i < 200; i++) {
        spin(0.5);
        await turn();
      }
    });
    expect(stall).toBeLessThan(SLICE_MS + 40); // 100 ms of work, never one task
  });

  it("time slice - pullLoop hands a buffered batch to a synchronous handler without holding the loop", async () => {
    let pulls = 0;
    const batch = Array.from({ length: 300 }, (_, seq) => ({ seq, nak() {} }) as unknown as JsMsg);
    const consumer = {
      fetch: async () => {
        pulls++;
        return (async function* () {
          yield* batch;
        })();
      },
    } as unknown as Consumer;
    let handled = 0;
    const stall = await longestStall(() =>
      pullLoop(
        consumer,
        async () => {
          spin(0.5);
          handled++;
        },
        { closing: () => pulls > 1 && handled >= batch.length },
      ),
    );
    expect(handled).toBe(batch.length);
    expect(stall).toBeLessThan(SLICE_MS + 40); // the 150 ms batch was split into turns
  });
});
