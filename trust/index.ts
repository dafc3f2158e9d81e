// trust: who said what — signing, the key store, the key registry, the verifier, nkeys.
export {
  generateRawKeyPair,
  isPublicKey,
  publicKeyObject,
  privateKeyObject,
  signBytes,
  verifyBytes,
  signEnvelope,
  verifyEnvelope,
  type RawKeyPair,
} from "./signing.js";
export { ED25519_BACKEND, type Ed25519Backend } from "./ed25519.js";
export { KeyStore, identityOf, type Identity } from "./key-store.js";
export { KeyRegistry } from "./key-registry.js";
export { Verifier, type Verdict, type EventVerdict } from "./verifier.js";
export { makeControl, verifyControl } from "./control.js";
export { userNkey, userSeed } from "./nkeys.js";
export { SendBudget, SenderStanding, SENDER_REFUSAL_CODES, type SenderRefusal } from "./budget.js";
