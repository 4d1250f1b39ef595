// Preloaded with `node --import` by test/unit/lazy-imports.test.ts: every module URL the process resolves
// (import and require alike) is written to $RECORD_LOADS_FILE as a JSON array when the process exits.
import { writeFileSync } from "node:fs";
import { registerHooks } from "node:module";

const file = process.env.RECORD_LOADS_FILE;
if (!file) throw new Error("RECORD_LOADS_FILE is not set");
const urls = new Set<string>();
registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context);
    urls.add(resolved.url);
    return resolved;
  },
});
process.on("exit", () => writeFileSync(file, JSON.stringify([...urls])));
