// Guest-side types for the agora:agent world (wit/agora.wit), for agents
// written in TypeScript. Hand-written: `jco guest-types` cannot read WIT from
// disk on Node 20 (its bundled wasm-tools lacks a filesystem preopen).

declare module "agora:agent/types" {
  /** The 22 FIPA-ACL performatives. */
  export type Act =
    | "accept-proposal"
    | "agree"
    | "cancel"
    | "cfp"
    | "confirm"
    | "disconfirm"
    | "failure"
    | "inform"
    | "inform-if"
    | "inform-ref"
    | "not-understood"
    | "propagate"
    | "propose"
    | "proxy"
    | "query-if"
    | "query-ref"
    | "refuse"
    | "reject-proposal"
    | "request"
    | "request-when"
    | "request-whenever"
    | "subscribe";

  /** A verified envelope; `body` is JSON text. */
  export interface Envelope {
    v: number;
    id: string;
    channel: string;
    sender: string;
    act: Act;
    body: string;
    hop: number;
    ts: string;
    re: string | null;
    conv: string | null;
    sig: string;
  }
}

declare module "agora:agent/channels" {
  import type { Act } from "agora:agent/types";

  /** A channel this agent may write. */
  export class Channel {
    name(): string;
    /** Throws an `AGORA_ERR_…` string when the send is refused. */
    send(act: Act, body: string, re: string | null): void;
  }

  /** Handles for every channel this agent may write. */
  export function writable(): Channel[];
  /** A handle for `name`; throws an `AGORA_ERR_…` string when not granted. */
  export function open(name: string): Channel;
}

declare module "agora:agent/state" {
  export function get(key: string): string | null;
  /** Throws an `AGORA_ERR_…` string when the key or value is refused. */
  export function set(key: string, value: string): void;
  function _delete(key: string): void;
  export { _delete as delete };
}

declare module "agora:agent/timers" {
  /** Wake this agent `ms` after this call's host time with `tag`; throws an `AGORA_ERR_…` string when refused. */
  export function after(ms: number, tag: string): void;
  /** Cancel the timer `tag`, if any. */
  export function cancel(tag: string): void;
  /** The host's time when this call started (ms since the epoch), as a bigint (WIT u64). */
  export function now(): bigint;
}
