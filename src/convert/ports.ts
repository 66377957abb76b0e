/**
 * Calico's numorstring.Port (api/pkg/lib/numorstring/port.go) and conversion.SimplifyPorts.
 * A port is a single number, an inclusive range, or a named port; as JSON/YAML a single port is a
 * number, a range is "min:max", a named port is its name.
 */
import { compareUtf8 } from "../selector/index.js";

export type CalicoPort = { min: number; max: number; name?: undefined } | { name: string };

const ALL_DIGITS = /^[0-9]+$/;
const RANGE = /^([0-9]+):([0-9]+)$/;
const NAME = /^[a-zA-Z0-9_.-]{1,128}$/;

/** Go strconv.ParseUint(s, 10, 16) for an all-digit string. */
function parseUint16(s: string): number | undefined {
  const digits = s.replace(/^0+(?=.)/, ""); // leading zeros are accepted
  if (digits.length > 5) return undefined;
  const n = Number(digits);
  return n <= 65535 ? n : undefined;
}

/** numorstring.PortFromString; the error texts are Calico's. */
export function portFromString(s: string): { ok: true; port: CalicoPort } | { ok: false; error: string } {
  if (ALL_DIGITS.test(s)) {
    const n = parseUint16(s);
    if (n === undefined) return { ok: false, error: `invalid port format (${s})` };
    return { ok: true, port: { min: n, max: n } };
  }
  const m = RANGE.exec(s);
  if (m) {
    const lo = parseUint16(m[1]);
    if (lo === undefined) return { ok: false, error: `invalid minimum port number in range (${s})` };
    const hi = parseUint16(m[2]);
    if (hi === undefined) return { ok: false, error: `invalid maximum port number in range (${s})` };
    if (lo > hi) {
      return { ok: false, error: `minimum port number (${lo}) is greater than maximum port number (${hi}) in port range` };
    }
    return { ok: true, port: { min: lo, max: hi } };
  }
  if (!NAME.test(s)) return { ok: false, error: `invalid name for named port (${s})` };
  return { ok: true, port: { name: s } };
}

/** numorstring.Port MarshalJSON: number, "min:max", or the name. */
export function portToSpec(p: CalicoPort): number | string {
  if (p.name !== undefined) return p.name;
  return p.min === p.max ? p.min : `${p.min}:${p.max}`;
}

/**
 * conversion.SimplifyPorts: named ports first (input order, not de-duplicated), then numeric ports
 * merged into sorted, minimal, non-adjacent ranges. With at most one port, or at most one numeric
 * port number in total, the input is returned unchanged (so [80, "foo"] keeps its order).
 */
export function simplifyPorts(ports: readonly CalicoPort[]): CalicoPort[] {
  if (ports.length <= 1) return [...ports];
  const named: CalicoPort[] = [];
  const ranges: Array<{ min: number; max: number }> = [];
  let numericCount = 0;
  for (const p of ports) {
    if (p.name !== undefined) named.push(p);
    else {
      ranges.push({ min: p.min, max: p.max });
      numericCount += p.max - p.min + 1;
    }
  }
  if (numericCount <= 1) return [...ports];
  // Calico expands ranges into individual numbers and re-coalesces; merging sorted ranges that
  // overlap or touch gives the same result without the 65,536-element worst case.
  ranges.sort((a, b) => a.min - b.min || a.max - b.max);
  const out: CalicoPort[] = [...named];
  let cur = { ...ranges[0] };
  for (const r of ranges.slice(1)) {
    if (r.min <= cur.max + 1) cur.max = Math.max(cur.max, r.max);
    else {
      out.push(cur);
      cur = { ...r };
    }
  }
  out.push(cur);
  return out;
}

/** Go sort.Strings order (bytes), used for deterministic protocol grouping. */
export const sortGoStrings = (xs: string[]): string[] => xs.sort(compareUtf8);
