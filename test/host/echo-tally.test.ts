import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { EchoTally } from "../../host/echo-tally.js";
import type { HostEventOf } from "../../protocol/events.js";

const echo = (agent: string, channel: string, seq: number): HostEventOf<"echo_dropped"> => ({
  type: "echo_dropped",
  agent,
  channel,
  seq,
  id: `id-${seq}`,
});

describe("echo tally", () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it("host - self-echo drops are recorded as one event per agent, channel and window, counting every drop", () => {
    const recorded: HostEventOf<"echo_dropped">[] = [];
    const tally = new EchoTally((e) => recorded.push(e), 1000);
    const t0 = Date.parse("2026-12-02T10:00:00Z");
    tally.add(echo("a", "work", 7), t0);
    tally.add(echo("a", "work", 5), t0 + 1); // arrived late: still the window's first
    tally.add(echo("a", "other", 6), t0 + 2);
    tally.add(echo("b", "work", 9), t0 + 3);
    tally.add(echo("a", "work", 11), t0 + 4);
    expect(recorded).toEqual([]);
    vi.advanceTimersByTime(1000);
    expect(recorded).toEqual([
      {
        type: "echo_dropped",
        agent: "a",
        channel: "work",
        seq: 5,
        id: "id-5",
        count: 3,
        lastSeq: 11,
        window: "2026-12-02T10:00:00.000Z",
      },
      {
        type: "echo_dropped",
        agent: "a",
        channel: "other",
        seq: 6,
        id: "id-6",
        count: 1,
        lastSeq: 6,
        window: "2026-12-02T10:00:00.002Z",
      },
      {
        type: "echo_dropped",
        agent: "b",
        channel: "work",
        seq: 9,
        id: "id-9",
        count: 1,
        lastSeq: 9,
        window: "2026-12-02T10:00:00.003Z",
      },
    ]);
    // A new window opens with the next drop; flush() (the host closing) records it at once.
    tally.add(echo("a", "work", 12), t0 + 2000);
    tally.flush();
    expect(recorded.at(-1)).toMatchObject({ agent: "a", seq: 12, count: 1, lastSeq: 12 });
    vi.advanceTimersByTime(5000);
    expect(recorded).toHaveLength(4);
  });
});
