// chatty: re-informs everything it hears on the channel it heard it — the
// runaway loop that the host's echo filter and hop budget must bound.
import { open } from "agora:agent/channels";
import type { Envelope } from "agora:agent/types";

export function handle(msg: Envelope): void {
  const heard = JSON.parse(msg.body) as unknown;
  open(msg.channel).send("inform", JSON.stringify({ heard, from: msg.sender, act: msg.act }), msg.id);
}
