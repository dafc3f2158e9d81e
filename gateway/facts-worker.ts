// Worker-thread entry: facts queries read and parse YAML files synchronously —
// here, never on the gateway's event loop (the kill switch runs there).
import { parentPort } from "node:worker_threads";
import { findFact, recentFacts } from "./facts-tail.js";
import { traceFacts } from "../facts/trace.js";
import { conversationFacts } from "../facts/conversations.js";
import type { FactsRequest, FactsResponse } from "./facts-queries.js";

parentPort!.on("message", (req: FactsRequest) => {
  let res: FactsResponse;
  try {
    const result =
      req.kind === "recent"
        ? recentFacts(req.dir, { channel: req.channel, limit: req.limit })
        : req.kind === "trace"
          ? traceFacts(req.dir, req.envelopeId)
          : req.kind === "convs"
            ? conversationFacts(req.dir, { conv: req.conv, all: req.all, limit: req.limit })
            : findFact(req.dir, req.factId);
    // Serialized here too: the event loop only passes the text on.
    res = { id: req.id, ok: true, json: result === undefined ? undefined : JSON.stringify(result) };
  } catch (err) {
    res = {
      id: req.id,
      ok: false,
      error: { code: "AGORA_ERR_FACTS_FORMAT", message: String((err as Error)?.message ?? err).slice(0, 500) },
    };
  }
  parentPort!.postMessage(res);
});
