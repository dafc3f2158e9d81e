// An agent's Ed25519 key is also its NATS identity: encode it as a NATS user nkey.
// (NATS nkeys: base32 of prefix byte(s) + 32 key bytes + CRC-16/XMODEM, little-endian.)

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const PREFIX_SEED = 18 << 3;
const PREFIX_USER = 20 << 3;

function crc16(data: Uint8Array): number {
  let crc = 0;
  for (const byte of data) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

function base32(data: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of data) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

function withCrc(bytes: number[]): Uint8Array {
  const crc = crc16(Uint8Array.from(bytes));
  return Uint8Array.from([...bytes, crc & 0xff, crc >> 8]);
}

/** The NATS user public nkey (`U…`) of a base64url raw Ed25519 public key. */
export function userNkey(publicKey: string): string {
  return base32(withCrc([PREFIX_USER, ...Buffer.from(publicKey, "base64url")]));
}

/** The NATS user seed (`SU…`) of a base64url raw Ed25519 private key, as bytes for nkeyAuthenticator. */
export function userSeed(privateKey: string): Uint8Array {
  const b1 = PREFIX_SEED | (PREFIX_USER >> 5);
  const b2 = (PREFIX_USER & 31) << 3;
  return new TextEncoder().encode(base32(withCrc([b1, b2, ...Buffer.from(privateKey, "base64url")])));
}
