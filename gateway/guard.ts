// The gateway's guards beside the tokens: which Host names it answers (a
// DNS-rebinding page cannot reach it under another name), which Origins may
// open the watch, the headers every answer carries, and the throttle on failed
// sign-ins per address.

/** Headers on every answer: no framing, no sniffing, no referrer, only our own scripts. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

/** The host name of a Host header (`[::1]:8080` → `::1`, `Example.com:80` → `example.com`), or undefined. */
export function hostName(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const h = header.trim().toLowerCase();
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    return end > 0 ? h.slice(1, end) : undefined;
  }
  const colon = h.indexOf(":");
  return colon === -1 ? h : h.indexOf(":", colon + 1) === -1 ? h.slice(0, colon) : h; // a bare IPv6 address has several
}

/** True when an Origin header names one of the allowed hosts (a browser page served by this gateway). */
export function originAllowed(origin: string, allowed: readonly string[]): boolean {
  try {
    const url = new URL(origin);
    return (url.protocol === "http:" || url.protocol === "https:") && allowed.includes(hostName(url.host) ?? "");
  } catch {
    return false;
  }
}

/** A window of failed sign-ins from one address, when it ends. */
export interface SignInFailures {
  address: string;
  /** Failed sign-ins, and refusals while blocked, in the window. */
  count: number;
  /** Epoch ms the window began. */
  since: number;
}

/**
 * Failed sign-ins per address in a fixed window; past the limit the address is
 * refused until the window ends. Each window that saw failures is handed to
 * `ended` once (for one fact per address and minute, not one per attempt).
 */
export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; since: number }>();

  constructor(
    private readonly max: number,
    private readonly windowMs = 60_000,
    private readonly ended: (w: SignInFailures) => void = () => {},
    /** Addresses remembered at most (the oldest are ended first). */
    private readonly capacity = 10_000,
  ) {}

  /** Whether `address` is refused now (a refusal counts as a failure of the window). */
  blocked(address: string, now = Date.now()): boolean {
    const f = this.failures.get(address);
    if (!f) return false;
    if (now - f.since >= this.windowMs) {
      this.end(address);
      return false;
    }
    if (f.count < this.max) return false;
    f.count++;
    return true;
  }

  /** Count a failed sign-in from `address`. */
  failed(address: string, now = Date.now()): void {
    const f = this.failures.get(address);
    if (f && now - f.since < this.windowMs) {
      f.count++;
      return;
    }
    if (f) this.end(address);
    this.failures.set(address, { count: 1, since: now });
    if (this.failures.size > this.capacity) this.end(this.failures.keys().next().value!);
  }

  /** End every window older than the window length (all of them with `now = Infinity`). */
  sweep(now = Date.now()): void {
    for (const [address, f] of [...this.failures]) if (now - f.since >= this.windowMs) this.end(address);
  }

  private end(address: string): void {
    const f = this.failures.get(address);
    if (!f) return;
    this.failures.delete(address);
    this.ended({ address, count: f.count, since: f.since });
  }
}
