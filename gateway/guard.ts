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

/** Failed sign-ins per address in a fixed window; past the limit the address is refused until the window ends. */
export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; since: number }>();

  constructor(
    private readonly max: number,
    private readonly windowMs = 60_000,
    /** Addresses remembered at most (the oldest are forgotten first). */
    private readonly capacity = 10_000,
  ) {}

  /** Whether `address` is refused now. */
  blocked(address: string, now = Date.now()): boolean {
    const f = this.failures.get(address);
    if (!f) return false;
    if (now - f.since >= this.windowMs) {
      this.failures.delete(address);
      return false;
    }
    return f.count >= this.max;
  }

  /** Count a failed sign-in from `address`. */
  failed(address: string, now = Date.now()): void {
    const f = this.failures.get(address);
    if (!f || now - f.since >= this.windowMs) {
      this.failures.delete(address);
      this.failures.set(address, { count: 1, since: now });
      if (this.failures.size > this.capacity) this.failures.delete(this.failures.keys().next().value!);
    } else f.count++;
  }
}
