// Arbitraries shared by the fuzz targets: hostile JSON values, and mutations of valid inputs (text,
// bytes, and values at a random path) so most inputs stay close enough to the real format to get past
// the first checks of a parser.
import fc from "fast-check";

/** Keys that trip naive object handling. */
export const NASTY_KEYS = [
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "hasOwnProperty",
  "valueOf",
  "length",
  "",
  " ",
  "0",
  "-1",
];

/** Scalars a sloppy parser mishandles: type confusion, extremes, empty values. */
export const nastyScalar: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    true,
    false,
    0,
    -0,
    1,
    -1,
    2,
    0.5,
    1.5,
    -1.5,
    1e308,
    -1e308,
    5e-324,
    2 ** 31,
    2 ** 53,
    -(2 ** 53),
    2 ** 64,
    "",
    " ",
    "0",
    "1",
    "-1",
    "1.5",
    "NaN",
    "Infinity",
    "1e999",
    "true",
    "null",
    "0x10",
    "١",
    "\u0000",
    "\ud800",
    "💥",
  ),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ maxLength: 12 }),
);

/** Any JSON value, with nasty keys and scalars mixed in. */
export const hostileJson: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    nastyScalar,
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...NASTY_KEYS), fc.string({ maxLength: 8 })), tie("value"), { maxKeys: 4 }),
  ),
})).value;

type Op = [kind: number, at: number, arg: number, text: string];

const op: fc.Arbitrary<Op> = fc.tuple(fc.nat(7), fc.nat(), fc.nat(255), fc.string({ maxLength: 6 }));

/** Text mutations: truncate, insert, delete, replace a character, duplicate or swap a slice, swap a digit run. */
export function mutateText(text: string, ops: Op[]): string {
  let s = text;
  for (const [kind, at, arg, ins] of ops) {
    const i = s.length ? at % s.length : 0;
    switch (kind) {
      case 0:
        s = s.slice(0, i);
        break;
      case 1:
        s = s.slice(0, i) + ins + s.slice(i);
        break;
      case 2:
        s = s.slice(0, i) + s.slice(i + 1 + (arg % 8));
        break;
      case 3:
        s = s.slice(0, i) + String.fromCharCode(arg) + s.slice(i + 1);
        break;
      case 4:
        s = s.slice(0, i) + s.slice(i, i + 1 + (arg % 16)) + s.slice(i);
        break;
      case 5:
        s = s.slice(0, i) + '{["'[arg % 3]! + s.slice(i);
        break;
      case 6: {
        // A number becomes an extreme or a different type.
        const m = /-?\d+(\.\d+)?/.exec(s.slice(i));
        if (m)
          s =
            s.slice(0, i + m.index) +
            ["1e400", "-1", "1.5", '"1"', "null", "9007199254740993", "[]"][arg % 7] +
            s.slice(i + m.index + m[0].length);
        break;
      }
      default:
        s = ins + s;
    }
  }
  return s;
}

/** `base` texts, mostly with 1-4 mutations. */
export function mutatedText(base: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.tuple(base, fc.array(op, { minLength: 0, maxLength: 4 })).map(([text, ops]) => mutateText(text, ops));
}

/**
 * Byte mutations of a binary frame: bit flips, byte sets, inserts, deletes, truncation, duplicated slices,
 * varint-like 0xff runs.
 */
export function mutateBytes(bytes: Uint8Array, ops: Op[]): Uint8Array {
  let b = Buffer.from(bytes);
  for (const [kind, at, arg] of ops) {
    const i = b.length ? at % b.length : 0;
    switch (kind) {
      case 0:
        if (b.length) b[i] = b[i]! ^ (1 << (arg % 8));
        break;
      case 1:
        if (b.length) b[i] = arg;
        break;
      case 2:
        b = Buffer.concat([b.subarray(0, i), Buffer.from([arg]), b.subarray(i)]);
        break;
      case 3:
        b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
        break;
      case 4:
        b = b.subarray(0, i);
        break;
      case 5:
        b = Buffer.concat([b.subarray(0, i), b.subarray(i, i + 1 + (arg % 16)), b.subarray(i)]);
        break;
      case 6:
        b = Buffer.concat([b.subarray(0, i), Buffer.alloc(1 + (arg % 10), 0xff), b.subarray(i)]);
        break;
      default:
        b = Buffer.concat([b, Buffer.from([arg, at & 0xff])]);
    }
  }
  return new Uint8Array(b);
}

export function mutatedBytes(base: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.tuple(base, fc.array(op, { minLength: 1, maxLength: 4 })).map(([bytes, ops]) => mutateBytes(bytes, ops));
}

/** Every path to a value inside `value` (the root is []). */
function paths(
  value: unknown,
  prefix: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  out.push(prefix);
  if (out.length > 200) return out;
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...prefix, i], out));
  else if (value && typeof value === "object")
    for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  return out;
}

/** A deep copy of `value` with the value at one path replaced (or removed, or wrapped in an array). */
export function mutateAt(value: unknown, pick: number, action: number, replacement: unknown): unknown {
  const copy: unknown = structuredClone(value);
  const all = paths(copy);
  const path = all[pick % all.length]!;
  if (!path.length) return action % 4 === 0 ? [copy] : replacement;
  let parent = copy as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) parent = parent[p] as Record<string | number, unknown>;
  const key = path.at(-1)!;
  switch (action % 4) {
    case 0:
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      break;
    case 1:
      parent[key] = [parent[key]];
      break;
    default:
      parent[key] = replacement;
  }
  return copy;
}

/** `base` values with 0-3 values replaced by hostile ones, removed or wrapped. */
export function mutatedValue<T>(base: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc
    .tuple(base, fc.array(fc.tuple(fc.nat(), fc.nat(), hostileJson), { maxLength: 3 }))
    .map(([value, edits]) =>
      edits.reduce<unknown>((v, [pick, action, replacement]) => mutateAt(v, pick, action, replacement), value),
    );
}
