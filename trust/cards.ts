// Signing and verifying agent cards.
import type { KeyObject } from "node:crypto";
import { cardSigningInput, type AgentCard, type UnsignedCard } from "../protocol/cards.js";
import { signBytes, verifyBytes } from "./signing.js";

export function signCard(key: KeyObject, card: UnsignedCard): AgentCard {
  return { ...card, sig: signBytes(key, cardSigningInput(card)) };
}

/** True when `card` is signed by `key` (the key registered for card.name). */
export function verifyCard(key: KeyObject | undefined, card: AgentCard): boolean {
  return !!key && verifyBytes(key, cardSigningInput(card), card.sig);
}
