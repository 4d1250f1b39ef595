// Searching a text for secrets the way test/e2e/secrets.test.ts does: each secret as is, JSON-escaped,
// URL-encoded and base64 / base64url at the three byte alignments (so it is found inside a longer
// encoded text too). Shared by the tests that promise an output holds no secret.

export interface Secret {
  value: string;
  what: string;
  /** The files it may be in (all 0600); undefined: none. */
  storedIn?: RegExp | undefined;
}

/** The forms a secret could take in a log or a file. */
export function forms(value: string): string[] {
  const out = new Set([value, JSON.stringify(value).slice(1, -1), encodeURIComponent(value)]);
  for (const encoding of ["base64", "base64url"] as const) {
    for (let shift = 0; shift < 3; shift++) {
      const encoded = Buffer.concat([Buffer.alloc(shift), Buffer.from(value)])
        .toString(encoding)
        .replace(/=+$/, "");
      // Drop the characters the prefix or the end of the text could change.
      const inner = encoded.slice(Math.ceil((shift * 4) / 3), encoded.length - 3);
      if (inner.length >= 8) out.add(inner);
    }
  }
  return [...out];
}

/** Where in `text` the secret appears, in any form (digits only: not inside a longer number). */
export function found(text: string, secret: Secret): string | undefined {
  for (const form of forms(secret.value)) {
    const hit = /^\d+$/.test(form)
      ? (new RegExp(`(?<!\\d)${form}(?!\\d)`).exec(text)?.index ?? -1)
      : text.indexOf(form);
    if (hit >= 0) return text.slice(Math.max(0, hit - 60), hit + form.length + 20).replace(form, "<<SECRET>>");
  }
  return undefined;
}
