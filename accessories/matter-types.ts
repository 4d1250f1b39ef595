// Endpoint and behavior types shared by every device of one shape. matter.js's `.with()` and `.enable()`
// build a new type on each call, and a new behavior class brings its own schema, supervisors and compiled
// validators; called per device, that cost grew with every device (README, "Household" bench). Here each
// distinct call runs once and its result is reused: same device types, clusters and features as before,
// only fewer copies. Behavior classes keep no per-endpoint state (matter-support.ts keys that by endpoint).
import type { Behavior, MutableEndpoint } from "@matter/main";

const built = new WeakMap<object, Map<string, unknown>>();
const identities = new WeakMap<object, number>();
let nextIdentity = 0;

/** Objects and classes by identity, everything else (feature names, flags) by value. */
function keyOf(value: unknown): string {
  if ((typeof value !== "object" || value === null) && typeof value !== "function") return JSON.stringify(value);
  let id = identities.get(value);
  if (id === undefined) identities.set(value, (id = nextIdentity++));
  return `#${id}`;
}

/** `build()` once per `base` and `args`; later calls with equal arguments get the same result. */
export function shared<T>(base: object, args: readonly unknown[], build: () => T): T {
  let byArgs = built.get(base);
  if (!byArgs) built.set(base, (byArgs = new Map()));
  const key = args.map(keyOf).join(",");
  if (!byArgs.has(key)) byArgs.set(key, build());
  return byArgs.get(key) as T;
}

/** `type.with(...behaviors)`, one result per type and behavior list. */
export function typeWith(type: MutableEndpoint, ...behaviors: Behavior.Type[]): MutableEndpoint {
  return shared(type, ["with", ...behaviors], () => type.with(...behaviors));
}

interface FeatureBehavior {
  with(...features: string[]): unknown;
  enable(flags: object): unknown;
}

/** `behavior.with(...features)`, one class per behavior and feature list. The result is typed as the input:
 * callers only hand it on to an endpoint type. */
export function withFeatures<B extends FeatureBehavior>(behavior: B, ...features: string[]): B {
  return shared(behavior, ["with", ...features], () => behavior.with(...features) as B);
}

/** `behavior.enable(flags)`, one class per behavior and flag set (compared by value). */
export function enabled<B extends FeatureBehavior>(behavior: B, flags: object): B {
  return shared(behavior, ["enable", JSON.stringify(flags)], () => behavior.enable(flags) as B);
}
