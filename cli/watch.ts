// agora watch: print a channel's envelopes live, each with its signature status.
import { loadConfig } from "../config/config.js";
import { startTrust } from "../transport/session.js";
import { assertName } from "../protocol/names.js";
import { channelSubject, watchConsumerName } from "../protocol/subjects.js";
import { openWatchConsumer } from "../transport/consumer.js";
import { openInfrastructure } from "../transport/infrastructure.js";
import type { Verdict } from "../trust/verifier.js";
import { CONFIG_HELP, CONFIG_OPTION, untilSignal, usageError, type Command } from "./command.js";
import { connectAs } from "./nats-url.js";
import { natsUrlOf } from "../config/paths.js";
import { STREAM } from "../protocol/subjects.js";

/** One line per message: seq, sender → channel, act, hop, id, re, signature status, body. */
export function formatWatchLine(seq: number, v: Verdict): string {
  const env = v.env;
  const status = v.ok ? "sig ok" : `REJECTED ${v.code}`;
  if (!env) return `#${seq}  ${status}: ${v.ok ? "" : v.reason}`;
  const body = JSON.stringify(env.body);
  return `#${seq}  ${env.ts}  ${env.sender} → ${env.channel}  ${env.act}  hop=${env.hop}  id=${env.id}${env.re ? `  re=${env.re}` : ""}  [${status}]  ${body.length > 200 ? `${body.slice(0, 200)}…` : body}`;
}

export const watch: Command = {
  name: "watch",
  usage: "watch <channel> [--all] [--count N] [--json]",
  summary: "Print the envelopes on <channel> as they arrive, with their signature status.",
  help: `options:
${CONFIG_HELP}
      --all           start from the first message kept in the stream (default: new ones)
      --count N       exit after N messages
      --json          one JSON object per line: {seq, ok, code?, reason?, envelope?}`,
  options: { ...CONFIG_OPTION, all: { type: "boolean" }, count: { type: "string" }, json: { type: "boolean" } },
  async run({ values, positionals }) {
    if (positionals.length !== 1) throw usageError(watch, "watch needs exactly one <channel>");
    const channel = positionals[0]!;
    assertName(channel, "channel");
    const config = loadConfig(values.config as string | undefined);
    const limit = values.count === undefined ? Infinity : Number(values.count);
    const nc = await connectAs(config, config.host.name, "agora-watch");
    const infra = await openInfrastructure(nc, config, { waitMs: 3000 });
    const { registry, verifier } = await startTrust(config, infra);
    // A consumer this identity owns, with one filter subject (nats-server 2.9 has no filter_subjects).
    const consumer = await openWatchConsumer(infra, STREAM, watchConsumerName(config.host.name, channel), {
      filter: channelSubject(channel),
      deliver: values.all ? "all" : "new",
    });
    const messages = await consumer.consume();
    if (!values.json) console.error(`watching ${channel} on ${natsUrlOf(config)} (Ctrl-C stops)`);
    void untilSignal().then(() => messages.stop());
    let n = 0;
    for await (const m of messages) {
      const v = await verifier.verify(m.data, m.subject);
      if (values.json) {
        console.log(
          JSON.stringify({
            seq: m.seq,
            ok: v.ok,
            ...(v.ok ? {} : { code: v.code, reason: v.reason }),
            envelope: v.env,
          }),
        );
      } else console.log(formatWatchLine(m.seq, v));
      if (++n >= limit) break;
    }
    messages.stop();
    registry.close();
    await nc.drain().catch(() => {});
    return 0;
  },
};
