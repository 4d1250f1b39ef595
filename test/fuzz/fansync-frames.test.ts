// Fuzz smoke run (10k inputs): see test/fuzz/targets.ts for the target and bench/fuzz.ts for the 100k run.
import { smokeTest } from "./smoke.ts";

smokeTest("fansync-frames");
