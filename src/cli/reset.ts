// `reset homekit|matter [--yes]`: forget one ecosystem's pairings so the bridge can be paired
// afresh. Removes only that ecosystem's storage under the data directory (<data>/homekit or
// <data>/matter); vendor sessions, the other ecosystem and the setup codes stay. A HomeKit reset
// also gives the bridge a new HAP identity (username), as Apple Home needs to see a new accessory.
// Refuses while a bridge runs on the data directory (it would write the pairings back).
import { existsSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { Command } from "commander";
import { JsonStore } from "../core/storage.ts";
import { confirm, withCommonOptions, type CommonOptions } from "./common.ts";
import { runningBridge } from "./pidfile.ts";

export type Ecosystem = "homekit" | "matter";

export class BridgeRunningError extends Error {
  override name = "BridgeRunningError";
}

/** What a reset of `which` removes (existing paths only). */
export function resetTargets(dataDir: string, which: Ecosystem): string[] {
  const dir = resolve(dataDir);
  return [join(dir, which)].filter((p) => existsSync(p));
}

/** Remove one ecosystem's pairing storage; returns what was removed. Throws while a bridge runs there. */
export function resetEcosystem(dataDir: string, which: Ecosystem): string[] {
  const dir = resolve(dataDir);
  const pid = runningBridge(dir);
  if (pid !== undefined)
    throw new BridgeRunningError(
      `a bridge (pid ${pid}) is running on ${dir}; stop it first (it would keep the old pairings)`,
    );
  const removed = resetTargets(dir, which);
  for (const path of removed) rmSync(path, { recursive: true, force: true });
  if (which === "homekit") {
    const identityFile = join(dir, "identity.json");
    if (existsSync(identityFile)) {
      const identity = new JsonStore<{ homekit?: { pincode?: string; username?: string } }>(identityFile);
      const homekit = identity.get("homekit");
      if (homekit?.username) {
        const { username: _old, ...rest } = homekit;
        identity.set("homekit", rest);
        removed.push(`${identityFile} (homekit.username)`);
      }
    }
  }
  return removed;
}

export async function resetCommand(argv: string[]): Promise<number> {
  const program = withCommonOptions(
    new Command("reset").description(
      "forget the HomeKit or Matter pairings (the other ecosystem and the accounts stay)",
    ),
  )
    .argument("<ecosystem>", "homekit or matter")
    .option("-y, --yes", "do not ask for confirmation")
    .showHelpAfterError()
    .parse(argv, { from: "user" });
  const [which] = program.args;
  const opts = program.opts<CommonOptions & { yes?: boolean }>();
  if (which !== "homekit" && which !== "matter") {
    console.error(`reset: say which pairings to forget: homekit or matter (got ${JSON.stringify(which)})`);
    return 2;
  }
  const dir = resolve(opts.data);
  const pid = runningBridge(dir);
  if (pid !== undefined) {
    console.error(`reset: a bridge (pid ${pid}) is running on ${dir}; stop it first, then reset`);
    return 1;
  }
  const targets = resetTargets(dir, which);
  if (!targets.length) {
    console.log(`reset: nothing to do, ${join(dir, which)} does not exist`);
    return 0;
  }
  const label = which === "homekit" ? "Apple Home (HomeKit)" : "Matter";
  if (!opts.yes) {
    console.log(
      `This removes ${targets.join(", ")}: every ${label} controller loses the bridge and it must be paired again.`,
    );
    if (!(await confirm(`Forget the ${label} pairings?`))) {
      console.log("reset: nothing was changed");
      return 1;
    }
  }
  try {
    const removed = resetEcosystem(dir, which);
    console.log(`reset: removed ${removed.join(", ")}`);
    console.log(
      which === "homekit"
        ? "Remove the old bridge from the Home app too, " +
            "then start the bridge and pair again (npm run pairing shows the code)."
        : "Remove the bridge from your Matter controllers too, " +
            "then start the bridge and commission it again (npm run pairing shows the code).",
    );
    return 0;
  } catch (error) {
    console.error(`reset: ${(error as Error).message}`);
    return 1;
  }
}

if (import.meta.main) process.exitCode = await resetCommand(process.argv.slice(2));
