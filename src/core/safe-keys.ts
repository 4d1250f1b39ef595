// Vendor JSON must never choose a key that reaches an object's prototype machinery: written by name
// into a plain object, "__proto__" swaps the object's prototype (Object.assign and obj[key] = v use
// the inherited setter), and obj["constructor"] or obj["__proto__"] on a plain object READS
// Object or Object.prototype, so a lookup keyed by a vendor id followed by a write pollutes every
// object in the process.
const UNSAFE_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/** True for the keys no vendor-chosen name may be used as. */
export function isUnsafeKey(key: string): boolean {
  return UNSAFE_KEYS.has(key);
}

/** Object.assign without the unsafe keys: merge vendor fields into `into`. */
export function assignSafe<T extends object>(into: T, from: object): T {
  const target = into as Record<string, unknown>;
  for (const [key, value] of Object.entries(from)) if (!UNSAFE_KEYS.has(key)) target[key] = value;
  return into;
}

/** A shallow copy of vendor fields without the unsafe keys. */
export function copySafe<T>(from: Readonly<Record<string, T>>): Record<string, T> {
  return assignSafe({} as Record<string, T>, from);
}

/** The value stored under a vendor-chosen key, own properties only (never Object.prototype's). */
export function ownValue<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
