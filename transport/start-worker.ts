// startModuleWorker: a worker thread running the module `name` beside the
// caller — the compiled `<name>.js`, or, when running from TypeScript sources
// (tests, tsx), the `.ts` entry through tsx.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";

/** Start `<name>.js` (or `.ts` from sources) next to the module whose `import.meta.url` is `base`. */
export function startModuleWorker(base: string, name: string): Worker {
  if (!base.endsWith(".ts")) return new Worker(new URL(`./${name}.js`, base));
  const tsx = pathToFileURL(
    createRequire(base)
      .resolve("tsx/esm/api")
      .replace(/\.cjs$/, ".mjs"),
  ).href;
  const entry = new URL(`./${name}.ts`, base).href;
  return new Worker(
    `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`,
    {
      eval: true,
    },
  );
}
