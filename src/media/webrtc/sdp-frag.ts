// Candidates a WHEP viewer trickles after its offer (RFC 9725 section 4.3): the body of its PATCH is an SDP
// fragment, application/trickle-ice-sdpfrag (RFC 8840 section 9): the ICE credentials (ice-pwd may be left
// out), per media section its a=mid and a=candidate lines, and a=end-of-candidates once it has gathered all.
// Checked here before werift sees any of it: bounded, every line an SDP line, every candidate in RFC 8839's
// grammar. A refusal says what is wrong in words (the HTTP answer is 400 with it, or 422 for an ICE restart).

/** A browser's fragment is a few hundred bytes per candidate batch; room for a machine with many networks. */
export const MAX_FRAGMENT_BYTES = 16 * 1024;
const MAX_LINES = 200;

export class FragmentRefused extends Error {
  override name = "FragmentRefused";
  readonly status: number;
  constructor(message: string, status = 400) {
    super(message);
    this.status = status;
  }
}

export interface TrickledCandidate {
  /** "candidate:..." (the attribute without its "a="). */
  candidate: string;
  /** The a=mid the candidate came under; absent: before any (the first media section is meant). */
  sdpMid?: string;
}

export interface TrickleFragment {
  ufrag?: string;
  pwd?: string;
  candidates: TrickledCandidate[];
  /** a=end-of-candidates: the peer has gathered all. */
  end: boolean;
}

const ICE_CHARS = "[A-Za-z0-9+/]";
const TOKEN = "[A-Za-z0-9!#$%&'*+.^_`{|}~-]";
// RFC 8839 section 5.1: foundation component-id transport priority connection-address port "typ" cand-type,
// then name/value pairs (raddr, rport, generation, ufrag, tcptype, network-id ...).
const CANDIDATE = new RegExp(
  `^candidate:${ICE_CHARS}{1,32} (\\d{1,3}) ${TOKEN}{1,32} (\\d{1,10}) [A-Za-z0-9.:%_-]{1,253} (\\d{1,5}) ` +
    `typ ${TOKEN}{1,32}(?: [\\x21-\\x7e]{1,256} [\\x21-\\x7e]{1,256})*$`,
);
const UFRAG = new RegExp(`^${ICE_CHARS}{4,256}$`);
const PWD = new RegExp(`^${ICE_CHARS}{22,256}$`);
const MID = new RegExp(`^${TOKEN}{1,64}$`);
/** An SDP line: a type letter, "=", then text without control characters. */
const SDP_LINE = /^[a-z]=\P{Cc}*$/u;

/** Whether `candidate` ("candidate:...", "a=" allowed in front) is one ICE candidate in RFC 8839's grammar. */
export function isCandidate(candidate: string): boolean {
  const match = CANDIDATE.exec(candidate.replace(/^a=/, ""));
  if (!match) return false;
  const [, component, priority, port] = match;
  return Number(component) >= 1 && Number(priority) <= 0xffff_ffff && Number(port) <= 65_535;
}

/** Throws FragmentRefused unless `body` is a trickle-ice-sdpfrag. */
export function parseFragment(body: string): TrickleFragment {
  if (Buffer.byteLength(body) > MAX_FRAGMENT_BYTES)
    throw new FragmentRefused(`the fragment is larger than ${MAX_FRAGMENT_BYTES} bytes`);
  const lines = body.split(/\r?\n/).filter((l) => l.length > 0);
  if (lines.length > MAX_LINES) throw new FragmentRefused(`the fragment has more than ${MAX_LINES} lines`);
  const fragment: TrickleFragment = { candidates: [], end: false };
  let mid: string | undefined;
  const credential = (key: "ufrag" | "pwd", value: string, n: number) => {
    if (!(key === "ufrag" ? UFRAG : PWD).test(value)) throw new FragmentRefused(`line ${n}: a malformed ice-${key}`);
    if (fragment[key] !== undefined && fragment[key] !== value)
      throw new FragmentRefused(`line ${n}: a second, different ice-${key}`);
    fragment[key] = value;
  };
  for (const [index, line] of lines.entries()) {
    const n = index + 1;
    if (!SDP_LINE.test(line)) throw new FragmentRefused(`line ${n} is not an SDP line`);
    if (line.startsWith("m=")) mid = undefined;
    else if (line.startsWith("a=mid:")) {
      mid = line.slice("a=mid:".length);
      if (!MID.test(mid)) throw new FragmentRefused(`line ${n}: a malformed mid`);
    } else if (line.startsWith("a=ice-ufrag:")) credential("ufrag", line.slice("a=ice-ufrag:".length), n);
    else if (line.startsWith("a=ice-pwd:")) credential("pwd", line.slice("a=ice-pwd:".length), n);
    else if (line.startsWith("a=candidate:")) {
      if (!isCandidate(line)) throw new FragmentRefused(`line ${n} is not an ICE candidate (RFC 8839)`);
      fragment.candidates.push({ candidate: line.slice(2), ...(mid !== undefined ? { sdpMid: mid } : {}) });
    } else if (line === "a=end-of-candidates") fragment.end = true;
    // Anything else (a=group, a=ice-options, ...) says nothing about candidates: left alone.
  }
  return fragment;
}
