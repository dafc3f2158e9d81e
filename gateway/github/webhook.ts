// GitHub webhooks in: signature check and mapping of events to speech acts.
import { createHmac, timingSafeEqual } from "node:crypto";
import type { Act } from "../../protocol/envelope.js";
import { AgoraError } from "../../protocol/errors.js";

/** The hidden marker the bridge puts in every comment it posts. */
export const BRIDGE_MARKER = "<!-- agora-bridge:v1";

/** Check `X-Hub-Signature-256: sha256=<hex>` over the raw body, in constant time. */
export function verifyWebhookSignature(raw: Buffer, header: string | undefined, secret: string): boolean {
  if (!header || !header.startsWith("sha256=")) return false;
  const given = Buffer.from(header.slice(7), "hex");
  const expected = createHmac("sha256", secret).update(raw).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Sign a body the way GitHub does (tests and tools). */
export function signWebhook(raw: Buffer | string, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(raw).digest("hex")}`;
}

/** Issue and comment text beyond this is cut (an envelope must stay under 64 KiB). */
export const MAX_TEXT_CHARS = 16_000;

function clip(text: string): string {
  return text.length > MAX_TEXT_CHARS
    ? `${text.slice(0, MAX_TEXT_CHARS)}… [cut at ${MAX_TEXT_CHARS} characters]`
    : text;
}

const COMMANDS: Record<string, Act> = {
  "/propose": "propose",
  "/agree": "agree",
  "/refuse": "refuse",
  "/cancel": "cancel",
};

/** What a webhook becomes: a speech act about one issue, or nothing. */
export type Inbound =
  | { kind: "act"; repo: string; issue: number; act: Act; body: Record<string, unknown>; opening: boolean }
  | { kind: "ignored"; why: string };

interface Payload {
  action?: string;
  repository?: { full_name?: string };
  issue?: {
    number?: number;
    title?: string;
    body?: string | null;
    html_url?: string;
    user?: { login?: string };
    labels?: { name?: string }[];
  };
  comment?: { body?: string; html_url?: string; user?: { login?: string }; id?: number };
  label?: { name?: string };
  sender?: { login?: string };
}

/** Map a verified webhook (`X-GitHub-Event` + JSON) to a speech act. */
/** A text field of a payload: absent → undefined, text → itself, anything else → AGORA_ERR_WEBHOOK_PAYLOAD. */
function text(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  throw new AgoraError("AGORA_ERR_WEBHOOK_PAYLOAD", `${field} is not text`);
}

/** The payload with every field the bridge reads checked to be what GitHub sends (text, or an integer issue number). */
function checked(p: Payload): Payload {
  if (typeof p !== "object" || p === null || Array.isArray(p))
    throw new AgoraError("AGORA_ERR_WEBHOOK_PAYLOAD", "payload is not an object");
  const obj = (v: unknown, field: string) => {
    if (v !== undefined && v !== null && (typeof v !== "object" || Array.isArray(v)))
      throw new AgoraError("AGORA_ERR_WEBHOOK_PAYLOAD", `${field} is not an object`);
  };
  obj(p.repository, "repository");
  obj(p.issue, "issue");
  obj(p.comment, "comment");
  obj(p.sender, "sender");
  obj(p.label, "label");
  text(p.action, "action");
  text(p.repository?.full_name, "repository.full_name");
  if (p.issue?.number !== undefined && !Number.isSafeInteger(p.issue.number))
    throw new AgoraError("AGORA_ERR_WEBHOOK_PAYLOAD", "issue.number is not an integer");
  for (const [v, f] of [
    [p.issue?.title, "issue.title"],
    [p.issue?.body, "issue.body"],
    [p.issue?.html_url, "issue.html_url"],
    [p.issue?.user?.login, "issue.user.login"],
    [p.comment?.body, "comment.body"],
    [p.comment?.html_url, "comment.html_url"],
    [p.comment?.user?.login, "comment.user.login"],
    [p.label?.name, "label.name"],
    [p.sender?.login, "sender.login"],
  ] as const)
    text(v, f);
  return p;
}

export function mapWebhook(event: string | undefined, untrusted: Payload, botLogin: string | undefined): Inbound {
  const payload = checked(untrusted);
  const repo = payload.repository?.full_name;
  const issue = payload.issue?.number;
  if (!repo || typeof issue !== "number")
    return { kind: "ignored", why: `no repository/issue in ${event ?? "?"} event` };
  const base = { repo, issue, title: clip(payload.issue?.title ?? "").slice(0, 1000), url: payload.issue?.html_url };
  if (event === "issues") {
    const action = payload.action ?? "";
    // Our own label (or edit) comes back as an issues event: never re-ingest it.
    if (botLogin && payload.sender?.login === botLogin)
      return { kind: "ignored", why: "issue event caused by the bridge itself" };
    if (!["opened", "edited", "closed", "labeled"].includes(action))
      return { kind: "ignored", why: `issues.${action} is not bridged` };
    const author = payload.sender?.login ?? payload.issue?.user?.login;
    const body = {
      ...base,
      action,
      author,
      text: clip(payload.issue?.body ?? ""),
      ...(action === "labeled" ? { label: payload.label?.name } : {}),
    };
    return {
      kind: "act",
      repo,
      issue,
      act: action === "opened" ? "request" : "inform",
      body,
      opening: action === "opened",
    };
  }
  if (event === "issue_comment") {
    if (payload.action !== "created") return { kind: "ignored", why: `issue_comment.${payload.action} is not bridged` };
    const text = payload.comment?.body ?? "";
    const author = payload.comment?.user?.login;
    // Loop-proof: never re-ingest our own comments — by author, and by the hidden marker.
    if (botLogin && author === botLogin) return { kind: "ignored", why: "comment by the bridge itself" };
    if (text.includes(BRIDGE_MARKER)) return { kind: "ignored", why: "comment carries the bridge marker" };
    const first = text.trimStart().split(/\s/, 1)[0]!.toLowerCase();
    const command = COMMANDS[first];
    const rest = command ? text.trimStart().slice(first.length).trim() : text;
    return {
      kind: "act",
      repo,
      issue,
      act: command ?? "inform",
      body: { ...base, author, text: clip(rest), commentUrl: payload.comment?.html_url },
      opening: false,
    };
  }
  return { kind: "ignored", why: `event ${event ?? "(none)"} is not bridged` };
}

/** A GitHub delivery GUID as an envelope id (`gh-<guid>`), or an error. */
export function deliveryId(header: string | undefined): string {
  if (!header || !/^[A-Za-z0-9-]{1,60}$/.test(header))
    throw new AgoraError("AGORA_ERR_WEBHOOK_PAYLOAD", "X-GitHub-Delivery is missing or malformed");
  return `gh-${header}`;
}
