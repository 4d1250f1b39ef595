// Every fuzz target, shared by the CI smoke run (test/fuzz/*.test.ts, 10k inputs each) and the bench
// (bench/fuzz.ts, 100k each): the vendor-frame parsers through the drivers' real entry points, the pure
// parsers, the config loader and the web page's HTTP endpoints.
import type { FuzzTarget } from "./runner.ts";
import { configLoader } from "./targets/config.ts";
import { fansyncFrames } from "./targets/fansync.ts";
import { nanitFrames } from "./targets/nanit.ts";
import { nanitProto, nanitRest } from "./targets/nanit-parsers.ts";
import { webHttp } from "./targets/web.ts";
import { xsenseMqtt, xsenseShadow } from "./targets/xsense.ts";

export const TARGETS: FuzzTarget[] = [
  fansyncFrames,
  xsenseMqtt,
  xsenseShadow,
  nanitFrames,
  nanitProto,
  nanitRest,
  configLoader,
  webHttp,
];

export function target(name: string): FuzzTarget {
  const t = TARGETS.find((x) => x.name === name);
  if (!t) throw new Error(`no fuzz target ${name} (targets: ${TARGETS.map((x) => x.name).join(", ")})`);
  return t;
}
