// Agent cards: who is on agora, what each reads, writes and answers, and
// whether it is there. Shaped like an A2A Agent Card (name, description,
// version, skills with ids and descriptions) so A2A tooling can read one, with
// agora's own fields under `agora`; signed by the agent's key (the host signs
// with its hosted agents' keys) and verified by every reader.
import { ACTS, type Act } from "./envelope.js";
import { canonicalize } from "./jcs.js";
import { isName } from "./names.js";

export const CARD_KINDS = ["hosted", "external", "bridge", "operator"] as const;
export type CardKind = (typeof CARD_KINDS)[number];
export const CARD_STATUSES = ["idle", "working", "offline"] as const;
export type CardStatus = (typeof CARD_STATUSES)[number];

/** A card is offline once this many heartbeats were missed. */
export const HEARTBEATS_MISSED = 3;
/** Cards are at most this large (bytes of JSON). */
export const MAX_CARD_BYTES = 16 * 1024;

export interface CardSkill {
  id: string;
  name: string;
  description: string;
  tags?: string[];
}

export interface AgentCard {
  /** A2A: the agent's name, a description, a version and its skills. */
  name: string;
  description: string;
  version: string;
  skills: CardSkill[];
  defaultInputModes: string[];
  defaultOutputModes: string[];
  agora: {
    v: 1;
    kind: CardKind;
    reads: string[];
    writes: string[];
    /** The acts it answers (e.g. request, propose). */
    answers: Act[];
    status: CardStatus;
    /** When it was last heard of (ISO 8601). */
    lastSeen: string;
    /** How often it renews this card. */
    heartbeatMs: number;
    /** The host running it (hosted agents). */
    host?: string;
  };
  /** base64url Ed25519 signature by the agent's key over cardSigningInput(). */
  sig: string;
}

export type UnsignedCard = Omit<AgentCard, "sig">;

/** The bytes a card's signature covers. */
export function cardSigningInput(card: UnsignedCard): Uint8Array {
  const { sig: _sig, ...rest } = card as AgentCard;
  return Buffer.from(`agora-card-v1\n${canonicalize(rest)}`, "utf8");
}

/** A card as the agent's heartbeat describes it. */
export function makeCard(fields: {
  name: string;
  kind: CardKind;
  description?: string;
  skills?: CardSkill[];
  reads?: readonly string[];
  writes?: readonly string[];
  answers?: readonly Act[];
  status?: CardStatus;
  heartbeatMs: number;
  host?: string;
  now?: Date;
}): UnsignedCard {
  return {
    name: fields.name,
    description: fields.description ?? "",
    version: "1",
    skills: fields.skills ?? [],
    defaultInputModes: ["application/json"],
    defaultOutputModes: ["application/json"],
    agora: {
      v: 1,
      kind: fields.kind,
      reads: [...(fields.reads ?? [])],
      writes: [...(fields.writes ?? [])],
      answers: [...(fields.answers ?? [])],
      status: fields.status ?? "idle",
      lastSeen: (fields.now ?? new Date()).toISOString(),
      heartbeatMs: fields.heartbeatMs,
      ...(fields.host ? { host: fields.host } : {}),
    },
  };
}

const str = (v: unknown, max = 1000): v is string => typeof v === "string" && v.length <= max;
const strings = (v: unknown, ok: (s: unknown) => boolean = (s) => str(s, 200)): v is string[] =>
  Array.isArray(v) && v.length <= 256 && v.every(ok);

/** A stored card, checked field by field; undefined when it is not one (never throws). */
export function parseCard(value: string | Uint8Array): AgentCard | undefined {
  try {
    const text = typeof value === "string" ? value : Buffer.from(value).toString("utf8");
    if (text.length > MAX_CARD_BYTES) return undefined;
    const c = JSON.parse(text) as AgentCard;
    const a = c?.agora;
    const skillOk = (s: unknown) => {
      const k = s as CardSkill;
      return (
        !!k && str(k.id, 200) && str(k.name, 200) && str(k.description) && (k.tags === undefined || strings(k.tags))
      );
    };
    if (
      !isName(c.name) ||
      !str(c.description) ||
      !str(c.version, 50) ||
      !strings(c.skills, skillOk) ||
      !strings(c.defaultInputModes) ||
      !strings(c.defaultOutputModes) ||
      !a ||
      a.v !== 1 ||
      !CARD_KINDS.includes(a.kind) ||
      !strings(a.reads, isName) ||
      !strings(a.writes, isName) ||
      !strings(a.answers, (s) => (ACTS as readonly unknown[]).includes(s)) ||
      !CARD_STATUSES.includes(a.status) ||
      !str(a.lastSeen, 40) ||
      Number.isNaN(Date.parse(a.lastSeen)) ||
      !Number.isInteger(a.heartbeatMs) ||
      a.heartbeatMs <= 0 ||
      (a.host !== undefined && !isName(a.host)) ||
      !str(c.sig, 100)
    )
      return undefined;
    // Only the known fields go on (so the signature check covers exactly them): anything else fails it.
    const card: AgentCard = {
      name: c.name,
      description: c.description,
      version: c.version,
      skills: c.skills.map((k) => ({
        id: k.id,
        name: k.name,
        description: k.description,
        ...(k.tags ? { tags: [...k.tags] } : {}),
      })),
      defaultInputModes: [...c.defaultInputModes],
      defaultOutputModes: [...c.defaultOutputModes],
      agora: {
        v: 1,
        kind: a.kind,
        reads: [...a.reads],
        writes: [...a.writes],
        answers: [...a.answers],
        status: a.status,
        lastSeen: a.lastSeen,
        heartbeatMs: a.heartbeatMs,
        ...(a.host !== undefined ? { host: a.host } : {}),
      },
      sig: c.sig,
    };
    return card;
  } catch {
    return undefined;
  }
}

/**
 * Where the agent is now: its own status, or offline once HEARTBEATS_MISSED
 * heartbeats were missed — or when its lastSeen lies further ahead than that
 * (a clock far off, or a card written to stay "online").
 */
export function presenceOf(card: AgentCard, now = Date.now()): CardStatus {
  const age = now - Date.parse(card.agora.lastSeen);
  if (Math.abs(age) > HEARTBEATS_MISSED * card.agora.heartbeatMs) return "offline";
  return card.agora.status;
}
