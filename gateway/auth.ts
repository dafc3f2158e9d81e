// Gateway auth: viewer and operator bearer tokens, compared in constant time, never logged.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AgoraConfig } from "../config/config.js";

export type Role = "viewer" | "operator";

export interface Tokens {
  viewer: string;
  operator: string;
  /** True when they were generated (and saved) rather than configured. */
  generated: boolean;
}

/** Where generated tokens are kept (mode 0600) so they survive restarts. */
export function tokensFile(config: AgoraConfig): string {
  return join(config.data, "gateway-tokens.json");
}

/**
 * Tokens from config / AGORA_VIEWER_TOKEN / AGORA_OPERATOR_TOKEN; when absent,
 * random ones are generated once and saved under the data directory.
 */
export function resolveTokens(config: AgoraConfig): Tokens {
  const { viewerToken, operatorToken } = config.gateway;
  if (viewerToken && operatorToken) return { viewer: viewerToken, operator: operatorToken, generated: false };
  const file = tokensFile(config);
  let saved: Partial<Tokens> = {};
  if (existsSync(file)) {
    try {
      saved = JSON.parse(readFileSync(file, "utf8")) as Partial<Tokens>;
    } catch {
      saved = {};
    }
  }
  const tokens = {
    viewer: viewerToken ?? saved.viewer ?? randomBytes(24).toString("base64url"),
    operator: operatorToken ?? saved.operator ?? randomBytes(24).toString("base64url"),
  };
  if (tokens.viewer !== saved.viewer || tokens.operator !== saved.operator) {
    mkdirSync(config.data, { recursive: true });
    writeFileSync(file, `${JSON.stringify(tokens)}\n`, { mode: 0o600 });
  }
  return { ...tokens, generated: true };
}

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();

/** Constant-time: both sides are hashed to equal length before timingSafeEqual. */
export function tokenEquals(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** The role a presented token grants, or undefined. Checks both tokens so timing does not reveal which matched. */
export function roleOf(token: string | undefined, tokens: Tokens): Role | undefined {
  if (!token) return undefined;
  const isOperator = tokenEquals(token, tokens.operator);
  const isViewer = tokenEquals(token, tokens.viewer);
  return isOperator ? "operator" : isViewer ? "viewer" : undefined;
}

/** The bearer token of a request: `Authorization: Bearer …`, else `?token=` (browsers' WebSocket cannot set headers). */
export function presentedToken(
  headers: Record<string, string | string[] | undefined>,
  query: unknown,
): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === "string" && auth.startsWith("Bearer ")) return auth.slice(7).trim();
  const q = (query as { token?: unknown } | undefined)?.token;
  return typeof q === "string" ? q : undefined;
}
