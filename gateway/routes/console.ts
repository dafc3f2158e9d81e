// The operator console: the page, its script and style, and the browser-side
// signing helpers (noble-ed25519, the host's own JCS, the act list).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import { ACTS } from "../../protocol/envelope.js";
import { canonicalize } from "../../protocol/jcs.js";

const CONSOLE_DIR = fileURLToPath(new URL("../console/", import.meta.url));

function asset(name: string): string {
  return readFileSync(`${CONSOLE_DIR}${name}`, "utf8");
}

/** @noble/ed25519's ESM build, served to the console so keys can live in the browser. */
function nobleSource(): string {
  return readFileSync(createRequire(import.meta.url).resolve("@noble/ed25519"), "utf8");
}

export async function consoleRoutes(app: FastifyInstance): Promise<void> {
  const noble = nobleSource();
  app.get("/", async (_req, reply) => reply.type("text/html; charset=utf-8").send(asset("index.html")));
  app.get("/favicon.ico", async (_req, reply) => reply.code(204).send());
  app.get("/assets/console.js", async (_req, reply) =>
    reply.type("text/javascript; charset=utf-8").send(asset("console.js")),
  );
  app.get("/assets/console.css", async (_req, reply) =>
    reply.type("text/css; charset=utf-8").send(asset("console.css")),
  );
  app.get("/assets/noble-ed25519.js", async (_req, reply) => reply.type("text/javascript; charset=utf-8").send(noble));
  // The host's own JCS, so browser signatures are computed exactly as the host checks them.
  app.get("/assets/jcs.js", async (_req, reply) =>
    reply.type("text/javascript; charset=utf-8").send(`export const canonicalize = ${canonicalize.toString()};\n`),
  );
  // The 22 performatives, from the one list the host checks against.
  app.get("/assets/acts.js", async (_req, reply) =>
    reply.type("text/javascript; charset=utf-8").send(`export const ACTS = ${JSON.stringify(ACTS)};\n`),
  );
}
