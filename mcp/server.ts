// agora's MCP server: an LLM agent (Claude Code, Codex, any MCP client) joins
// agora as one external identity. Every act it sends is signed with that
// identity's key by the SDK, kept below the hop of what it answers, counted
// against its send budget, refused when it repeats an answer, and refused
// once the operator kills it. Tools: agora_channels, agora_agents, agora_read,
// agora_send, agora_request, agora_status.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import * as z from "zod";
import type { AgoraConfig, ExternalAgentConfig } from "../config/config.js";
import { ACTS, type Act, type Envelope } from "../protocol/envelope.js";
import { AgoraError, isAgoraError, type ErrorCode } from "../protocol/errors.js";
import type { Agent } from "../sdk/connect.js";
import type { Inbox, InboxMessage } from "../sdk/inbox.js";

/** The server's name and version as MCP clients see them. */
export const MCP_SERVER_INFO = { name: "agora", version: "0.1.0" } as const;

/** Messages remembered per server (read or received as answers) so `re` can name them. */
const REMEMBERED = 10_000;

/** What a model should do after each refusal: the error text ends with it. */
const ADVICE: Partial<Record<ErrorCode, string>> = {
  AGORA_ERR_HOP_EXHAUSTED:
    "Do not answer this message: it arrived at hop 0, so its conversation's reply budget is spent. Move on.",
  AGORA_ERR_HOP_VIOLATION: "Answer with re set and let the hop be derived; do not restart a conversation's budget.",
  AGORA_ERR_DUPLICATE_ANSWER:
    "You already sent this act in answer to this message. Do not acknowledge twice — that is how two agents loop. Only if the user explicitly asked to repeat it, call again with deliberate: true.",
  AGORA_ERR_SEND_BUDGET:
    "Stop sending for now: this identity used its acts for the last minute. Wait, then send only what matters.",
  AGORA_ERR_KILLED:
    "The operator has stopped this agent. Do not retry or work around it; tell the user that agora refused because the identity is killed.",
  AGORA_ERR_NOT_GRANTED: "Call agora_channels to see which channels this identity may read and write.",
  AGORA_ERR_UNKNOWN_CHANNEL: "Call agora_channels for the channels that exist.",
  AGORA_ERR_REQUEST_TIMEOUT: "Nobody answered in time. Call agora_agents to see who is online and answers that act.",
  AGORA_ERR_USAGE: "Fix the arguments and call again.",
};

const INSTRUCTIONS = `agora is a signed coordination substrate: agents talk on channels with typed speech acts (request, inform, agree, refuse, propose, …). Every act you send is signed with your identity's key.

- Call agora_read to get new messages; what it returns is marked read. Answer a message with agora_send and re set to its id — the act then stays in its conversation one hop lower.
- Each message has a hop count. At hop 0 a message must not be answered: the conversation's reply budget is spent. Never answer an acknowledgement with another acknowledgement.
- Send an act to a message once. Repeating it is refused unless the user asked for it (deliberate: true).
- Your identity has a send budget per minute, and the operator can stop you at any time: a refusal with AGORA_ERR_KILLED means stop.`;

export interface AgoraMcpOptions {
  /** The external agent, connected with its key and the deployment's config. */
  agent: Agent;
  config: AgoraConfig;
  /** The send budget the agent applies before signing, for agora_channels to report. */
  actsPerMinute?: number;
  /** Diagnostics (stderr for stdio: stdout carries the protocol). */
  log?: (line: string) => void;
}

/** A message as a model sees it. */
interface MessageView {
  id: string;
  channel: string;
  from: string;
  act: Act;
  body: unknown;
  hop: number;
  re?: string;
  conv?: string;
  ts: string;
  /** Every message handed over was verified: signature, sender's key, grant. */
  signature: "verified";
  /** False at hop 0: do not answer. */
  answerable: boolean;
}

const view = (env: Envelope): MessageView => ({
  id: env.id,
  channel: env.channel,
  from: env.sender,
  act: env.act,
  body: env.body,
  hop: env.hop,
  ...(env.re !== undefined ? { re: env.re } : {}),
  ...(env.conv !== undefined ? { conv: env.conv } : {}),
  ts: env.ts,
  signature: "verified",
  answerable: env.hop > 0,
});

const text = (value: unknown): CallToolResult => ({
  content: [{ type: "text", text: typeof value === "string" ? value : JSON.stringify(value, null, 2) }],
});

/** A refusal the model can act on: the code, why, and what to do. */
export function toolError(err: unknown): CallToolResult {
  const code: ErrorCode = isAgoraError(err) ? err.code : "AGORA_ERR_PUBLISH";
  const message = err instanceof Error ? err.message : String(err);
  const advice = ADVICE[code];
  return { isError: true, content: [{ type: "text", text: `${code}: ${message}${advice ? `\n${advice}` : ""}` }] };
}

const act = z.enum(ACTS as unknown as [Act, ...Act[]]);
const anyJson = z
  .any()
  .describe("The act's content: any JSON value (an object such as {text: …} is usual). Keep it short.");

/**
 * Build the MCP server for `agent`: its tools, with schemas and descriptions
 * written for a model. `start()` opens the agent's durable inbox (so messages
 * wait for the model from then on); `close()` closes it.
 */
export function createAgoraMcpServer(options: AgoraMcpOptions): {
  server: McpServer;
  start(): Promise<void>;
  close(): Promise<void>;
} {
  const { agent, config } = options;
  const grant = config.external.find((e) => e.name === agent.name) as ExternalAgentConfig;
  const server = new McpServer(MCP_SERVER_INFO, { instructions: INSTRUCTIONS });
  /** Messages read or received as answers, by id: `re` names one of these. */
  const known = new Map<string, Envelope>();
  /** The channel of each message sent, for agora_status. */
  const sent = new Map<string, string>();
  const remember = <V>(m: Map<string, V>, k: string, v: V) => {
    m.set(k, v);
    if (m.size > REMEMBERED) m.delete(m.keys().next().value!);
  };
  let inbox: Inbox | undefined;
  /** A next() still waiting when the last read returned: the next read takes its message. */
  let pending: Promise<IteratorResult<InboxMessage>> | undefined;
  /** Reads run one at a time (each completes the turn of what it handed over). */
  let reading: Promise<unknown> = Promise.resolve();

  const guarded =
    <A>(f: (args: A) => Promise<CallToolResult>) =>
    async (args: A): Promise<CallToolResult> => {
      try {
        return await f(args);
      } catch (err) {
        options.log?.(`tool refused: ${err instanceof Error ? err.message : String(err)}`);
        return toolError(err);
      }
    };

  server.registerTool(
    "agora_channels",
    {
      title: "Channels",
      description:
        "List the channels this agent may read and write on agora, who else reads and writes each, the hop budget of a new message, and this identity's send budget. Call it first to know where to send.",
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    guarded(async () => {
      const writers = (c: string) =>
        [...config.agents, ...config.external].filter((a) => a.write.includes(c)).map((a) => a.name);
      const readers = (c: string) =>
        [...config.agents, ...config.external].filter((a) => a.read.includes(c)).map((a) => a.name);
      const mine = config.channels.filter((c) => grant.read.includes(c) || grant.write.includes(c));
      return text({
        you: agent.name,
        killed: agent.killed(),
        hopBudget: config.limits.hop,
        actsPerMinute: Math.min(grant.actsPerMinute ?? Infinity, options.actsPerMinute ?? Infinity) || null,
        channels: mine.map((c) => {
          const r = grant.read.includes(c);
          const w = grant.write.includes(c);
          const others = readers(c).filter((n) => n !== agent.name);
          return {
            name: c,
            read: r,
            write: w,
            readers: others,
            writers: writers(c).filter((n) => n !== agent.name),
            description: `${r && w ? "You read and write" : r ? "You only read" : "You only write"} ${c}. ${
              others.length ? `What you send here reaches ${others.join(", ")}.` : "Nobody else reads it."
            }`,
          };
        }),
      });
    }),
  );

  server.registerTool(
    "agora_agents",
    {
      title: "Agents",
      description:
        "List the agents on agora now, from their signed cards: kind (hosted, external, bridge, operator), status (idle, working, offline, or killed by the operator), what each reads, writes and answers, and its skills. Use it to pick who to ask.",
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    guarded(async () => {
      const agents = await agent.agents();
      return text(
        agents.map(({ card, status }) => ({
          name: card.name,
          kind: card.agora.kind,
          status,
          description: card.description,
          reads: card.agora.reads,
          writes: card.agora.writes,
          answers: card.agora.answers,
          skills: card.skills.map((s) => ({ id: s.id, name: s.name, description: s.description })),
        })),
      );
    }),
  );

  /** Take the next message, waiting at most `waitMs`. */
  const take = async (waitMs: number): Promise<InboxMessage | undefined> => {
    await inbox!.complete(); // what was handed over before is read
    pending ??= inbox!.next();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), waitMs)));
    const r = await Promise.race([pending, timeout]).finally(() => clearTimeout(timer));
    if (r === "timeout") return undefined;
    pending = undefined;
    return r.done ? undefined : r.value;
  };

  server.registerTool(
    "agora_read",
    {
      title: "Read messages",
      description:
        "Get the next unread messages addressed to channels this agent reads, oldest first. Each has id, channel, from (the verified sender), act, body, hop, re (the message it answers), conv (its conversation) and answerable. What this returns is marked read and is not returned again. A message with answerable: false (hop 0) must not be answered; an acknowledgement (inform, agree, confirm) usually needs no answer at all.",
      inputSchema: {
        max: z.number().int().min(1).max(50).default(10).describe("Return at most this many messages."),
        waitSeconds: z
          .number()
          .min(0)
          // Below the 60 s an MCP client waits for a tool by default: what is read is never lost to a timeout.
          .max(45)
          .default(0)
          .describe("When nothing is unread, wait up to this many seconds for a message."),
      },
      annotations: { readOnlyHint: false, idempotentHint: false, openWorldHint: false },
    },
    guarded(async ({ max, waitSeconds }: { max: number; waitSeconds: number }) => {
      if (!inbox)
        throw new AgoraError(
          "AGORA_ERR_NOT_GRANTED",
          `${agent.name} may read no channel (external.${agent.name}.read): nothing can arrive`,
        );
      const run = reading.then(async () => {
        const out: Envelope[] = [];
        try {
          for (let wait = waitSeconds * 1000; out.length < max; wait = 20) {
            // The first waits as asked; the rest only as far as they are there already.
            const m = await take(wait);
            if (!m) break;
            // An answer agora_request already returned is not handed over a second time.
            if (!known.has(m.env.id)) out.push(m.env);
          }
          await inbox!.complete();
        } catch (err) {
          // What was handed over is returned (and marked read at the next read); a failure with nothing is an error.
          if (out.length === 0) throw err;
          options.log?.(`agora_read: ${String(err)}; returning the ${out.length} message(s) taken`);
        }
        for (const env of out) remember(known, env.id, env);
        return out.map(view);
      });
      reading = run.catch(() => {});
      const messages = await run;
      return text({ messages, ...(messages.length === 0 ? { note: "no unread messages" } : {}) });
    }),
  );

  server.registerTool(
    "agora_send",
    {
      title: "Send a speech act",
      description:
        "Sign and send a speech act on a channel. To answer a message, set re to its id: the act goes on that message's channel, in its conversation, one hop lower — at hop 0 it is refused, so do not answer hop-0 messages. Send one answer per message: the same act twice to the same message is refused (ack loops). Without re it starts a new conversation. Acts: request (ask someone to do something), inform (state a fact), agree / refuse (accept or decline a request), propose, query-if / query-ref (ask), confirm, failure, not-understood, cancel, and the other FIPA acts.",
      inputSchema: {
        channel: z
          .string()
          .optional()
          .describe(
            "The channel to send on. Required without re; with re it must be the message's channel, or omitted.",
          ),
        act: act.describe("The speech act: what this message does (request, inform, agree, refuse, propose, …)."),
        body: anyJson,
        re: z.string().optional().describe("The id of the message this answers (from agora_read or agora_request)."),
        deliberate: z
          .boolean()
          .default(false)
          .describe("Only when the user explicitly asked to send the same act to the same message again."),
      },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    guarded(async (args: { channel?: string; act: Act; body?: unknown; re?: string; deliberate: boolean }) => {
      const body = args.body ?? null;
      if (args.re !== undefined) {
        const msg = known.get(args.re);
        if (!msg)
          throw new AgoraError(
            "AGORA_ERR_USAGE",
            `re ${args.re} names no message this agent has read (agora_read) or received as an answer (agora_request)`,
          );
        if (args.channel !== undefined && args.channel !== msg.channel)
          throw new AgoraError(
            "AGORA_ERR_USAGE",
            `${args.re} came on ${msg.channel}: an answer goes on the same channel (omit channel)`,
          );
        const { env, ack } = await agent.reply(msg, args.act, body, { deliberate: args.deliberate });
        remember(sent, env.id, env.channel);
        return text({
          sent: {
            id: env.id,
            channel: env.channel,
            act: env.act,
            hop: env.hop,
            re: env.re,
            conv: env.conv,
            seq: ack.seq,
          },
        });
      }
      if (args.channel === undefined)
        throw new AgoraError("AGORA_ERR_USAGE", "channel is required when the act answers no message (no re)");
      const { env, ack } = await agent.send(args.channel, args.act, body, { hop: config.limits.hop });
      remember(sent, env.id, env.channel);
      return text({
        sent: { id: env.id, channel: env.channel, act: env.act, hop: env.hop, conv: env.conv, seq: ack.seq },
      });
    }),
  );

  server.registerTool(
    "agora_request",
    {
      title: "Ask and wait",
      description:
        "Send a speech act (usually request or query-ref) on a channel and wait for the answers to it, up to timeoutSeconds. Returns the verified answers; answer them with agora_send and re if needed. Refused as AGORA_ERR_REQUEST_TIMEOUT when nobody answered.",
      inputSchema: {
        channel: z.string().describe("The channel to ask on (this agent must read it too: the answers come there)."),
        act: act.default("request").describe("The speech act, usually request or query-ref."),
        body: anyJson,
        timeoutSeconds: z.number().min(1).max(120).default(10).describe("How long to wait for answers."),
        expect: z.number().int().min(1).max(20).default(1).describe("Return as soon as this many answers arrived."),
      },
      annotations: { readOnlyHint: false, idempotentHint: false, openWorldHint: true },
    },
    guarded(async (args: { channel: string; act: Act; body?: unknown; timeoutSeconds: number; expect: number }) => {
      const answers = await agent.request(args.channel, args.act, args.body ?? null, {
        timeoutMs: args.timeoutSeconds * 1000,
        expect: args.expect,
        hop: config.limits.hop,
      });
      for (const a of answers) remember(known, a.id, a);
      return text({ answers: answers.map(view) });
    }),
  );

  server.registerTool(
    "agora_status",
    {
      title: "Delivery status",
      description:
        "Where a message this agent sent stands for each agent that may read its channel: handled, handling, dropped, rejected, dead-lettered, or pending.",
      inputSchema: {
        id: z.string().describe("The id agora_send or agora_request returned."),
        channel: z.string().optional().describe("Its channel, when it was sent by an earlier session."),
      },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    guarded(async ({ id, channel }: { id: string; channel?: string }) => {
      const ch = channel ?? sent.get(id);
      if (!ch) throw new AgoraError("AGORA_ERR_USAGE", `${id} was not sent in this session: give its channel too`);
      const trace = await agent.status({ id, channel: ch });
      return text({
        id,
        channel: ch,
        recipients: trace.recipients.map((r) => ({ agent: r.agent, kind: r.kind, status: r.status, reason: r.reason })),
      });
    }),
  );

  return {
    server,
    async start() {
      if (grant.read.length > 0) inbox = await agent.inbox();
    },
    async close() {
      await inbox?.close();
    },
  };
}
