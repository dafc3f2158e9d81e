// Retention: the stream and the dead letters are bounded in age and bytes, so junk
// cannot grow the disk without limit; past a limit the oldest messages go first.
import { nanos } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config/config.js";
import { DLQ_STREAM, STREAM } from "../../protocol/subjects.js";
import { connectNats } from "../../transport/connect.js";
import { openInfrastructure } from "../../transport/infrastructure.js";
import { startNats } from "../helpers/nats-server.js";

describe("retention", () => {
  it("retention - the stream has age and size limits by default; a flood of junk stays within them, oldest first", async () => {
    await using nats = await startNats();
    const nc = await connectNats({ url: nats.url, name: "retention" });
    try {
      const defaults = parseConfig({}, { baseDir: "/tmp", env: {} });
      let infra = await openInfrastructure(nc, defaults, { create: true });
      const info = await infra.jsm.streams.info(STREAM);
      expect(info.config.max_age).toBe(nanos(168 * 3_600_000));
      expect(info.config.max_bytes).toBe(1024 * 1024 * 1024);
      expect((await infra.jsm.streams.info(DLQ_STREAM)).config.max_age).toBe(nanos(720 * 3_600_000));

      // An existing stream is brought to the configured limits at the next start.
      const small = parseConfig({ limits: { streamMaxBytes: 1024 * 1024 } }, { baseDir: "/tmp", env: {} });
      infra = await openInfrastructure(nc, small, { create: true });
      const junk = "x".repeat(1000);
      for (let i = 0; i < 3000; i++) await infra.js.publish("agora.ch.flood", junk);
      const state = (await infra.jsm.streams.info(STREAM)).state;
      console.log(
        `retention: 3,000 × 1 KB junk into a 1 MiB stream → ${state.messages} messages, ${state.bytes} bytes, first seq ${state.first_seq}`,
      );
      expect(state.bytes).toBeLessThanOrEqual(1024 * 1024);
      expect(state.first_seq).toBeGreaterThan(1);
      expect(state.last_seq).toBe(3000);
    } finally {
      await nc.drain();
    }
  });

  it("retention - a stream that would forget messages inside their duplicate window or age limit is refused", () => {
    expect(() => parseConfig({ limits: { streamMaxAge: "1h" } }, { baseDir: "/tmp", env: {} })).toThrow(
      /limits.streamMaxAge/,
    );
    expect(() =>
      parseConfig(
        { limits: { streamMaxAge: "2h", maxMessageAge: "1h", dedupWindow: "10m" } },
        { baseDir: "/tmp", env: {} },
      ),
    ).not.toThrow();
  });
});
