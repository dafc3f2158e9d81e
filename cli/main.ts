#!/usr/bin/env node
// agora: the command line.
import { isAgoraError } from "../protocol/errors.js";
import { main } from "./commands.js";

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (isAgoraError(err)) console.error(`${err.code}: ${err.message}`);
    else console.error(`agora: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = isAgoraError(err, "AGORA_ERR_USAGE") ? 2 : 1;
  },
);
