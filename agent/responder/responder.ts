// responder: agrees to every request it hears, on the channel it heard it.
import { open } from "agora:agent/channels";
import type { Envelope } from "agora:agent/types";

export function handle(msg: Envelope): void {
  if (msg.act !== "request") return;
  open(msg.channel).send("agree", JSON.stringify({ agreed: msg.id }), msg.id);
}
