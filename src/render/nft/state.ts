/**
 * What the kernel holds, reduced to a digest that can be compared with the model: per chain its
 * hook and the ordered content hashes of its rules (from the rule comments, with the chain a rule
 * jumps to, which the hash leaves out), per set its
 * normalised elements, per map its "key → verdict chain" entries. The same digest is computed
 * from a model (expected) and from `nft -j list table` output (actual), so drift detection is a
 * plain comparison and never has to parse nft's re-printed rule expressions.
 */
import { commentHash, type DataplaneModel } from "../../dataplane/index.js";
import { canonicalAddr } from "../../rule/index.js";
import { chainRules, ruleTarget, type NftTarget, DEFAULT_TARGET } from "./render.js";

/** A rule in a digest: its content hash, and the chain it jumps to (which the hash leaves out). */
function ruleDigest(hash: string, expr: readonly unknown[] | undefined): string {
  const target = ruleTarget(expr);
  return target === undefined ? hash : `${hash}>${target}`;
}

export interface NftDigest {
  chains: Record<string, { hook?: string; rules: string[] }>;
  sets: Record<string, string[]>;
  maps: Record<string, string[]>;
}

export function expectedDigest(model: DataplaneModel): NftDigest {
  const chains: NftDigest["chains"] = {};
  for (const c of model.chains.valueList()) {
    chains[c.name] = { ...(c.base ? { hook: `${c.base.hook}/${c.base.priority}` } : {}), rules: chainRules(c).map((r) => ruleDigest(commentHash(r.comment) ?? "?", r.expr)) };
  }
  const sets: NftDigest["sets"] = {};
  for (const s of model.sets.valueList()) sets[s.name] = [...s.elements].sort();
  const maps: NftDigest["maps"] = {};
  for (const m of Object.values(model.maps)) maps[m.name] = Object.entries(m.elements).map(([k, v]) => `${k} ${v.verdict} ${v.chain}`).sort();
  return { chains, sets, maps };
}

const PROTO_NUMBERS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, "ipv6-icmp": 58, icmpv6: 58, sctp: 132, udplite: 136 };

/** Canonical text of a set element as written in a batch or listed by nft (addresses canonical,
 *  protocols as numbers, concatenations joined by " . "). */
export function normalizeElement(v: unknown): string {
  return normAtom(v);
}

function normAtom(v: unknown): string {
  if (typeof v === "number") return String(v);
  if (typeof v === "string") {
    if (v in PROTO_NUMBERS) return String(PROTO_NUMBERS[v]);
    if (/^[0-9]+$/.test(v)) return v;
    return canonicalAddr(v) ?? v;
  }
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (o.prefix && typeof o.prefix === "object") {
      const p = o.prefix as { addr: string; len: number };
      return `${canonicalAddr(p.addr) ?? p.addr}/${p.len}`;
    }
    if (Array.isArray(o.range)) return `${normAtom(o.range[0])}-${normAtom(o.range[1])}`;
    if (o.elem !== undefined) return normAtom((o.elem as Record<string, unknown>).val);
    if (Array.isArray(o.concat)) return o.concat.map(normAtom).join(" . ");
  }
  return JSON.stringify(v);
}

/**
 * Digest of `nft -j list table <family> <table>` output. Rules without one of our comments count
 * as "foreign" (someone else added them to our table). Returns null when the listing holds no
 * table (deleted by someone).
 */
export function parseListing(listing: unknown, t: NftTarget = DEFAULT_TARGET): NftDigest | null {
  const items = (listing as { nftables?: unknown[] } | null)?.nftables;
  if (!Array.isArray(items)) return null;
  let haveTable = false;
  const d: NftDigest = { chains: {}, sets: {}, maps: {} };
  for (const item of items) {
    const o = item as Record<string, Record<string, unknown>>;
    if (o.table) {
      if (o.table.family === t.family && o.table.name === t.table) haveTable = true;
    } else if (o.chain) {
      const c = o.chain;
      d.chains[c.name as string] = { ...(c.hook ? { hook: `${c.hook}/${c.prio}` } : {}), rules: d.chains[c.name as string]?.rules ?? [] };
    } else if (o.rule) {
      const r = o.rule;
      const name = r.chain as string;
      const entry = (d.chains[name] ??= { rules: [] });
      entry.rules.push(ruleDigest(commentHash(r.comment as string | undefined) ?? "foreign", r.expr as unknown[] | undefined));
    } else if (o.set) {
      const s = o.set;
      d.sets[s.name as string] = ((s.elem as unknown[] | undefined) ?? []).map(normAtom).sort();
    } else if (o.map) {
      const m = o.map;
      d.maps[m.name as string] = ((m.elem as unknown[] | undefined) ?? [])
        .map((e) => {
          const [k, v] = e as [unknown, Record<string, { target: string }>];
          const verdict = Object.keys(v)[0]!;
          return `${normAtom(k)} ${verdict} ${v[verdict]!.target}`;
        })
        .sort();
    }
  }
  return haveTable ? d : null;
}

/** Human-readable differences (empty = in sync). Capped to keep reports short. */
export function diffDigest(expected: NftDigest, actual: NftDigest, max = 20): string[] {
  const out: string[] = [];
  const push = (s: string) => {
    if (out.length < max) out.push(s);
  };
  for (const [name, c] of Object.entries(expected.chains)) {
    const a = actual.chains[name];
    if (!a) push(`chain ${name} missing`);
    else if (a.hook !== c.hook) push(`chain ${name} hook ${a.hook ?? "none"} ≠ ${c.hook ?? "none"}`);
    else if (a.rules.join(",") !== c.rules.join(",")) push(`chain ${name} rules differ (${a.rules.length} listed, ${c.rules.length} expected)`);
  }
  for (const name of Object.keys(actual.chains)) if (!(name in expected.chains)) push(`unexpected chain ${name}`);
  for (const [name, els] of Object.entries(expected.sets)) {
    const a = actual.sets[name];
    if (!a) push(`set ${name} missing`);
    else if (a.join("\n") !== els.join("\n")) push(`set ${name} elements differ (${a.length} listed, ${els.length} expected)`);
  }
  for (const name of Object.keys(actual.sets)) if (!(name in expected.sets)) push(`unexpected set ${name}`);
  for (const [name, els] of Object.entries(expected.maps)) {
    const a = actual.maps[name];
    if (!a) push(`map ${name} missing`);
    else if (a.join("\n") !== els.join("\n")) push(`map ${name} elements differ`);
  }
  for (const name of Object.keys(actual.maps)) if (!(name in expected.maps)) push(`unexpected map ${name}`);
  return out;
}
