// The hop budget does not rest on the client's good will: an answer (re) to a
// message a verifier knows must travel below that message's hop. A hand-written
// client answering at full hop is refused by the host, by an SDK inbox and by
// the recorder (a fact with AGORA_ERR_HOP_VIOLATION) — and a proper answer passes.
import { describe, expect, it } from "vitest";
import type { HostEvent } from "../../protocol/events.js";
import { connect, type InboxRejection } from "../../sdk/index.js";
import { collectEvents, readFacts, startAgora, TOKENS, until } from "../helpers/agora.js";
import { agentWasm } from "../helpers/paths.js";

describe("controls - hop violation", () => {
  it("controls - an answer at or above its message's hop is refused everywhere and recorded; below it passes", async () => {
    await using a = await startAgora({
      channels: ["work"],
      agents: { responder: { component: agentWasm("responder"), read: ["work"], write: ["work"] } },
      external: {
        maintainer: { read: ["work"], write: ["work"] },
        listener: { read: ["work"] },
        operator: { write: ["work"] },
      },
    });
    const g = await a.startGateway();
    await a.startRecorder();
    const host = await a.startHost();
    const events: HostEvent[] = [];
    collectEvents(host, events);
    const rejections: InboxRejection[] = [];
    await using listener = await connect({ name: "listener", config: a.config, servers: a.nats.url });
    const inbox = await listener.inbox({ onRejected: (r) => rejections.push(r) });
    const maintainer = await a.client("maintainer");
    // The responder's agree comes at hop 2.
    const request = await maintainer.send("work", "request", { task: "x" }, { hop: 3 });
    await until(() => events.some((e) => e.type === "emitted" && e.re === request.env.id), 10_000, "the agree");
    const agree = events.find(
      (e): e is Extract<HostEvent, { type: "emitted" }> => e.type === "emitted" && e.re === request.env.id,
    )!;
    expect(agree.hop).toBe(2);
    // Answering the agree at hop 3 would give the cascade a fresh budget: refused.
    const cheat = await maintainer.send("work", "request", { again: true }, { re: agree.id, hop: 3 });
    const fair = await maintainer.send("work", "request", { again: true }, { re: agree.id, hop: 1 });
    await until(
      () =>
        events.some((e) => e.type === "rejected" && e.id === cheat.env.id) &&
        events.some((e) => e.type === "delivered" && e.id === fair.env.id),
      10_000,
      "the host's verdicts",
    );
    expect(events.find((e) => e.type === "rejected" && e.id === cheat.env.id)).toMatchObject({
      code: "AGORA_ERR_HOP_VIOLATION",
    });
    expect(events.some((e) => e.type === "delivered" && e.id === cheat.env.id)).toBe(false);
    // The SDK inbox refuses it too.
    const got: string[] = [];
    for await (const m of inbox) {
      got.push(m.env.id);
      if (m.env.id === fair.env.id) {
        await inbox.complete();
        break;
      }
    }
    expect(got).not.toContain(cheat.env.id);
    expect(rejections.find((r) => r.id === cheat.env.id)?.code).toBe("AGORA_ERR_HOP_VIOLATION");
    // The console's inject answers one hop below by default, and refuses to go at or above.
    const op = { authorization: `Bearer ${TOKENS.operator}` };
    const high = await g.app.inject({
      method: "POST",
      url: "/api/inject",
      headers: op,
      payload: { channel: "work", act: "inform", body: {}, re: agree.id, hop: 2 },
    });
    expect(high.statusCode).toBe(409);
    expect(high.json()).toMatchObject({ code: "AGORA_ERR_HOP_VIOLATION" });
    const below = await g.app.inject({
      method: "POST",
      url: "/api/inject",
      headers: op,
      payload: { channel: "work", act: "inform", body: {}, re: agree.id },
    });
    expect(below.statusCode).toBe(200);
    expect(below.json()).toMatchObject({ envelope: { hop: 1, re: agree.id } });
    // And the record says so.
    await a.settleFacts();
    const fact = readFacts(a.config.factsDir).find(
      (f) => f.type === "rejected" && f.fields["envelope-id"] === cheat.env.id,
    );
    expect(fact?.fields.code).toBe("AGORA_ERR_HOP_VIOLATION");
  });
});
