// Conversation lifecycle and cancel: a contract net's conversation moves
// requested → cfp → proposals; a cancel from someone who did not open it changes
// nothing; its requester's cancel ends it — the manager stops, every reader (the
// hosts, the SDK) drops the later acts, and the facts show each as cancelled.
// An operator cancels any conversation. `agora convs` and /api/convs tell it.
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import type { HostEvent } from "../../protocol/events.js";
import { verifyFacts } from "../../facts/verify.js";
import { conversationFacts } from "../../facts/conversations.js";
import { connect } from "../../sdk/index.js";
import { parseCancel } from "../../protocol/records.js";
import { collectEvents, readFacts, startAgora, TOKENS, until, type TestAgora } from "../helpers/agora.js";
import { agentWasm, ROOT } from "../helpers/paths.js";
import { CLI_ARGS } from "../helpers/cli.js";

const spec = {
  channels: ["net", "cfg-a"],
  agents: {
    manager: { component: agentWasm("contract-net"), read: ["net"], write: ["net"] },
    "bidder-a": { component: agentWasm("bidder"), read: ["net", "cfg-a"], write: ["net"] },
  },
  external: {
    buyer: { write: ["net"], read: ["net"] },
    mallory: { write: ["net"] },
    late: { write: ["net"], read: ["net"] },
    ops: { write: ["cfg-a"] },
    operator: { write: ["net"] },
    stingy: { write: ["net"], actsPerMinute: 2 },
  },
};

const conv = (a: TestAgora, id: string) => conversationFacts(a.config.factsDir, { conv: id })[0];

describe("conversations", () => {
  it("conversations - only its initiator or an operator can cancel; then every reader drops its later acts, recorded as cancelled", async () => {
    await using a = await startAgora(spec);
    await a.startRecorder();
    const events: HostEvent[] = [];
    collectEvents(await a.startHost(), events);
    const ops = await a.client("ops");
    await ops.send("cfg-a", "inform", { bidderCost: 7, bidder: "bidder-a" });
    await until(
      () => events.some((e) => e.type === "delivered" && e.agent === "bidder-a"),
      10_000,
      "the bidder's cost",
    );

    const buyer = await a.client("buyer");
    const { env: request } = await buyer.send("net", "request", { task: "paint", deadlineMs: 60_000 }, { hop: 6 });
    const cfpEmitted = () =>
      events.find((e): e is Extract<HostEvent, { type: "emitted" }> => e.type === "emitted" && e.act === "cfp");
    await until(() => events.some((e) => e.type === "emitted" && e.act === "propose"), 10_000, "bidder-a's proposal");
    await a.settleFacts();
    expect(conv(a, request.id)).toMatchObject({ state: "proposals", initiator: "buyer" });

    // Anyone else's cancel is said and recorded, and ends nothing.
    const mallory = await a.client("mallory");
    const { env: forged } = await mallory.send("net", "cancel", { reason: "mine now" }, { conv: request.id });
    await a.settleFacts();
    const forgedFact = readFacts(a.config.factsDir).find((f) => f.fields["envelope-id"] === forged.id)!;
    expect(forgedFact.tags).toContain("cancel-refused");
    expect(await a.infra.convs.get(request.id)).toBeNull();
    expect(conv(a, request.id)!.state).toBe("proposals");

    // A conv first used as a label (like the bridge's issue-<n>) cannot be claimed by using it first.
    await mallory.send("net", "inform", { mine: true }, { conv: "issue-7" });
    // Nor by sending, once it is in use, a message with the label as its id.
    await mallory.send("net", "inform", { opening: true }, { id: "issue-7" });
    const { env: claimed } = await mallory.send("net", "cancel", {}, { conv: "issue-7" });
    await a.settleFacts();
    expect(readFacts(a.config.factsDir).find((f) => f.fields["envelope-id"] === claimed.id)!.tags).toContain(
      "cancel-refused",
    );
    expect(await a.infra.convs.get("issue-7")).toBeNull();

    // Nor by its own initiator's cancel beyond its send budget: every reader dropped it.
    const stingy = await a.client("stingy");
    const { env: opening } = await stingy.send("net", "inform", { open: true });
    await stingy.send("net", "inform", { more: true }, { conv: opening.id });
    const { env: overBudget } = await stingy.send("net", "cancel", {}, { conv: opening.id });
    await a.settleFacts();
    expect(readFacts(a.config.factsDir).find((f) => f.fields["envelope-id"] === overBudget.id)!.tags).toEqual(
      expect.arrayContaining(["over-budget", "cancel-refused"]),
    );
    expect(await a.infra.convs.get(opening.id)).toBeNull();

    // The requester's cancel: recorded in agora-convs; the manager gets it and stops its timers.
    const { env: cancel } = await buyer.send("net", "cancel", { reason: "changed my mind" }, { conv: request.id });
    await until(async () => (await a.infra.convs.get(request.id)) !== null, 10_000, "the cancel recorded");
    const record = parseCancel((await a.infra.convs.get(request.id))!.value)!;
    expect(record).toMatchObject({ conv: request.id, id: cancel.id, by: "buyer", initiator: "buyer" });
    await until(
      () => events.some((e) => e.type === "delivered" && e.agent === "manager" && e.id === cancel.id),
      10_000,
      "the cancel delivered to the manager",
    );
    await until(() => events.some((e) => e.type === "timer_cancelled" && e.agent === "manager"), 10_000, "timer off");

    // A late proposal in the conversation: the manager's host drops it, the SDK refuses to send one.
    const late = await connect({ name: "late", keysDir: a.config.keysDir, servers: a.nats.url, config: a.config });
    try {
      expect(late.conversation(request.id)).toBeUndefined(); // it took no part
      await expect(late.send("net", "propose", { cost: 1 }, { conv: request.id })).rejects.toMatchObject({
        code: "AGORA_ERR_CANCELLED",
      });
    } finally {
      await late.close();
    }
    const lateRaw = await a.client("late");
    const { env: lateBid } = await lateRaw.send(
      "net",
      "propose",
      { cost: 1 },
      { conv: request.id, re: cfpEmitted()!.id },
    );
    await until(
      () => events.some((e) => e.type === "cancelled_dropped" && e.id === lateBid.id && e.agent === "manager"),
      10_000,
      "the late proposal dropped",
    );
    expect(events.some((e) => e.type === "delivered" && e.id === lateBid.id)).toBe(false);
    await a.settleFacts();
    const facts = readFacts(a.config.factsDir);
    const lateFact = facts.find((f) => f.type === "speech-act" && f.fields["envelope-id"] === lateBid.id)!;
    expect(lateFact).toMatchObject({ status: "cancelled", fields: { "cancelled-by": cancel.id } });
    expect(facts.some((f) => f.type === "cancelled-dropped" && f.fields["envelope-id"] === lateBid.id)).toBe(true);
    const c = conv(a, request.id)!;
    expect(c).toMatchObject({ state: "cancelled", cancelledBy: cancel.id, initiator: "buyer" });
    expect(c.dropped).toBeGreaterThanOrEqual(1);
    // The manager never awarded anything: no accept, no answer to the request.
    expect(facts.some((f) => f.fields.act === "accept-proposal")).toBe(false);

    // agora convs says the same.
    const file = join(a.dir, "agora.json");
    writeFileSync(file, JSON.stringify({ data: a.config.data, ...spec, channels: { net: null, "cfg-a": null } }));
    const cli = await promisify(execFile)(process.execPath, [...CLI_ARGS, "convs", request.id, "--config", file], {
      cwd: ROOT,
      timeout: 30_000,
    });
    expect(cli.stdout).toMatch(new RegExp(`^${request.id}: cancelled; opened by buyer`));
    expect(cli.stdout).toMatch(/late → net: propose .*\[cancelled\]/);

    // An operator cancels any conversation, through the console's inject; /api/convs shows it.
    const gw = await a.startGateway();
    const { env: other } = await buyer.send("net", "request", { task: "sand", deadlineMs: 60_000 }, { hop: 6 });
    const injected = await gw.app.inject({
      method: "POST",
      url: "/api/inject",
      headers: { authorization: `Bearer ${TOKENS.operator}` },
      payload: { channel: "net", act: "cancel", body: { reason: "operator" }, conv: other.id },
    });
    expect(injected.statusCode).toBe(200);
    await until(async () => (await a.infra.convs.get(other.id)) !== null, 10_000, "the operator's cancel recorded");
    await a.settleFacts();
    const listed = await gw.app.inject({ url: "/api/convs", headers: { authorization: `Bearer ${TOKENS.viewer}` } });
    const byId = new Map((listed.json() as { conv: string; state: string }[]).map((x) => [x.conv, x.state]));
    expect(byId.get(request.id)).toBe("cancelled");
    expect(byId.get(other.id)).toBe("cancelled");
    const one = await gw.app.inject({
      url: `/api/convs/${other.id}`,
      headers: { authorization: `Bearer ${TOKENS.viewer}` },
    });
    expect(one.json()).toMatchObject({ conv: other.id, state: "cancelled", initiator: "buyer" });
    expect(verifyFacts(a.config.factsDir).problems).toEqual([]);
  });
});
