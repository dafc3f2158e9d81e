// capMemory: rewrite a core wasm module so every memory it defines has a maximum.
// A component's linear memory then cannot grow past the agent's limit:
// memory.grow fails inside the guest instead of the host running out of RAM.

const PAGE = 64 * 1024;

function readU32(buf: Uint8Array, pos: number): [value: number, next: number] {
  let result = 0;
  let shift = 0;
  for (;;) {
    const byte = buf[pos++]!;
    result += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [result, pos];
    shift += 7;
    if (shift > 35) throw new Error("bad LEB128");
  }
}

function writeU32(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

/** Pages for a byte limit (at least 1). */
export function pagesFor(bytes: number): number {
  return Math.max(1, Math.floor(bytes / PAGE));
}

/**
 * Return `module` with each defined 32-bit memory capped at `maxPages`
 * (an existing lower maximum is kept). Modules without a memory section are
 * returned unchanged. Throws when a memory's minimum already exceeds the cap.
 */
export function capMemory(module: Uint8Array, maxPages: number): Uint8Array {
  if (module[0] !== 0x00 || module[1] !== 0x61 || module[2] !== 0x73 || module[3] !== 0x6d)
    throw new Error("not a wasm module");
  const parts: Uint8Array[] = [module.subarray(0, 8)];
  let pos = 8;
  let changed = false;
  while (pos < module.length) {
    const id = module[pos]!;
    const [size, start] = readU32(module, pos + 1);
    const end = start + size;
    if (id !== 5) {
      parts.push(module.subarray(pos, end));
      pos = end;
      continue;
    }
    const [count, p0] = readU32(module, start);
    const body: number[] = [...writeU32(count)];
    let p = p0;
    for (let i = 0; i < count; i++) {
      const flags = module[p++]!;
      if (flags > 0x01) throw new Error(`memory flags 0x${flags.toString(16)} (shared or 64-bit) are not supported`);
      const [min, p1] = readU32(module, p);
      p = p1;
      let max: number | undefined;
      if (flags === 0x01) [max, p] = readU32(module, p);
      if (min > maxPages)
        throw new Error(`the module needs ${min * PAGE} bytes of memory at start; the limit is ${maxPages * PAGE}`);
      body.push(0x01, ...writeU32(min), ...writeU32(Math.min(max ?? maxPages, maxPages)));
    }
    const content = Uint8Array.from(body);
    parts.push(Uint8Array.from([5, ...writeU32(content.length)]), content);
    changed = true;
    pos = end;
  }
  if (!changed) return module;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
