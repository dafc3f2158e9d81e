import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { startAgora, until } from "../helpers/agora.js";
import { AGENTS } from "../helpers/paths.js";

describe("host", () => {
  it("host - responder agrees to a request", async () => {
    await using a = await startAgora({
      channels: ["build-coord"],
      agents: { responder: { component: join(AGENTS, "responder.wasm"), read: ["build-coord"], write: ["build-coord"] } },
      external: { maintainer: { write: ["build-coord"] } },
    });
    const host = await a.startHost();
    const events: string[] = [];
    void (async () => { for await (const e of host.events.subscribe()) events.push(e.type); })();
    const m = await a.client("maintainer");
    const { env } = await m.send("build-coord", "request", { please: "build" });
    await until(() => host.counters.emitted >= 1, 10_000, "reply");
    expect(host.handled()).toEqual({ responder: 1 });
    expect(env.id).toBeTruthy();
    console.log(events, host.counters);
  });
});
