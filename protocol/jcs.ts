// RFC 8785 JSON Canonicalization Scheme for the values JSON.parse produces.

/**
 * Canonical JSON text of `value`: object keys sorted by UTF-16 code units,
 * no whitespace, numbers in ECMAScript shortest form, strings as JSON.stringify
 * writes them (which is what RFC 8785 specifies).
 */
export function canonicalize(value: unknown): string {
  if (value === null || typeof value === "boolean") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError("JCS: non-finite number");
    return JSON.stringify(value);
  }
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalize).join(",")}]`;
  if (typeof value === "object") {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalize(obj[k])}`).join(",")}}`;
  }
  throw new TypeError(`JCS: cannot canonicalize ${typeof value}`);
}
