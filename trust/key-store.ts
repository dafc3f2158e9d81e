// KeyStore: agent private keys on disk, one `<name>.key` file each, mode 0600.
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { KeyObject } from "node:crypto";
import { AgoraError } from "../protocol/errors.js";
import { assertName } from "../protocol/names.js";
import { generateRawKeyPair, isPublicKey, privateKeyObject, publicKeyObject, type RawKeyPair } from "./signing.js";

/** A loaded identity: its name, raw keys and node:crypto key objects. */
export interface Identity {
  name: string;
  publicKey: string;
  /** base64url raw private key (the Ed25519 seed); also the NATS nkey seed of this identity. */
  seed: string;
  privateKey: KeyObject;
  publicKeyObject: KeyObject;
}

export class KeyStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  path(name: string): string {
    assertName(name, "key name");
    return join(this.dir, `${name}.key`);
  }

  has(name: string): boolean {
    return existsSync(this.path(name));
  }

  /** Generate a key for `name`; refuses to overwrite unless `force`. */
  generate(name: string, options: { force?: boolean } = {}): Identity {
    const file = this.path(name);
    if (existsSync(file) && !options.force) {
      throw new AgoraError(
        "AGORA_ERR_KEY_EXISTS",
        `a key for ${name} already exists at ${file}; pass --force to replace it`,
      );
    }
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const pair = generateRawKeyPair();
    // Exclusive create: two hosts sharing a key directory cannot both write a key for one agent.
    try {
      writeFileSync(file, `${JSON.stringify({ name, ...pair }, null, 2)}\n`, {
        mode: 0o600,
        flag: options.force ? "w" : "wx",
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST")
        throw new AgoraError(
          "AGORA_ERR_KEY_EXISTS",
          `a key for ${name} already exists at ${file}; pass --force to replace it`,
        );
      throw err;
    }
    chmodSync(file, 0o600);
    return identityOf(name, pair);
  }

  /** Load the identity `name`; AGORA_ERR_KEY_MISSING says how to make one. */
  load(name: string): Identity {
    const file = this.path(name);
    if (!existsSync(file)) {
      throw new AgoraError(
        "AGORA_ERR_KEY_MISSING",
        `no key for ${name} in ${this.dir}; create one with: agora keys gen ${name}`,
      );
    }
    return readKeyFile(file, name);
  }

  /** Load `name`, generating it first when missing. */
  loadOrGenerate(name: string): Identity {
    if (this.has(name)) return this.load(name);
    try {
      return this.generate(name);
    } catch (err) {
      if (err instanceof AgoraError && err.code === "AGORA_ERR_KEY_EXISTS") return this.load(name); // written by another process just now
      throw err;
    }
  }

  /** Names of every key in the directory. */
  names(): string[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((f) => f.endsWith(".key"))
      .map((f) => f.slice(0, -4))
      .sort();
  }
}

/** An identity from a name and its raw key pair (AGORA_ERR_KEY_INVALID when malformed). */
export function identityOf(name: string, pair: RawKeyPair): Identity {
  assertName(name, "identity name");
  return {
    name,
    publicKey: pair.publicKey,
    seed: pair.privateKey,
    privateKey: privateKeyObject(pair),
    publicKeyObject: publicKeyObject(pair.publicKey),
  };
}

/** The identity `name` from a key file as `agora keys gen` writes it (JSON: publicKey, privateKey). */
export function readKeyFile(file: string, name: string): Identity {
  if (!existsSync(file))
    throw new AgoraError("AGORA_ERR_KEY_MISSING", `no key file at ${file} (agora keys gen ${name})`);
  let parsed: Partial<RawKeyPair & { name: string }>;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (cause) {
    throw new AgoraError("AGORA_ERR_KEY_INVALID", `${file} is not a JSON key file`, { cause });
  }
  if (!isPublicKey(parsed.publicKey) || typeof parsed.privateKey !== "string") {
    throw new AgoraError("AGORA_ERR_KEY_INVALID", `${file} lacks publicKey/privateKey`);
  }
  return identityOf(name, { publicKey: parsed.publicKey, privateKey: parsed.privateKey });
}
