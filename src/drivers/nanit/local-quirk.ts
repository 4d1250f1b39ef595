// Some camera firmware accepts the local control socket, sends a burst of state and closes it abnormally
// (WebSocket code 1006) about a second later, every time (docs/protocols/nanit.md §4.1, §7). Reconnecting
// locally then loops, and every local connect ends the camera's push. This spots the pattern: local
// sockets that die this way, twice in a row, within a few seconds of opening.
const SHORT_LIFE_MS = 3_000;
const STRIKES = 2;

export class ShortLivedLocalSockets {
  #strikes = 0;

  /** A socket closed; true once the pattern is established (the caller stays on the cloud relay). */
  closed(kind: "local" | "cloud", openedAt: number, reason: string, now: number): boolean {
    if (kind !== "local") return false;
    const short = now - openedAt < SHORT_LIFE_MS && /\(1006\b/.test(reason);
    this.#strikes = short ? this.#strikes + 1 : 0;
    return short && this.#strikes >= STRIKES;
  }
}
