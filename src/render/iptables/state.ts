/**
 * What the kernel holds (iptables-save per family, ipset save), parsed into IptState for the
 * planners, and reduced to a digest comparable with the render: per chain the ordered content
 * hashes of its rules (from our comments), per built-in chain the hashes of our jump rules and
 * whether they sit at the top, per set its type and normalised elements. Rules without our comment
 * count as "foreign". Drift detection is a plain comparison of two digests.
 */
import { commentHash, type Family } from "../../dataplane/index.js";
import { isOurSet, normalizeListedElement } from "./ipset.js";
import { targetOf, type IptState } from "./plan.js";
import { TABLES, type IptRendered } from "./render.js";

/** Raw listings as the tools print them. */
export interface IptListing {
  /** `iptables-save` / `ip6tables-save` output (all tables). */
  save: Partial<Record<Family, string>>;
  /** `ipset save` output. */
  ipset: string;
}

/** iptables-save text → table → chain → rule specs (after `-A <chain> `). */
export function parseSave(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let cur: Record<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("*")) {
      cur = out[line.slice(1)] ??= {};
    } else if (line === "COMMIT") {
      cur = undefined;
    } else if (line.startsWith(":") && cur) {
      const name = line.slice(1).split(" ")[0]!;
      cur[name] ??= [];
    } else if (line.startsWith("-A ") && cur) {
      const rest = line.slice(3);
      const sp = rest.indexOf(" ");
      const chain = sp < 0 ? rest : rest.slice(0, sp);
      (cur[chain] ??= []).push(sp < 0 ? "" : rest.slice(sp + 1));
    }
  }
  return out;
}

/** `ipset save` text → our sets. */
export function parseIpsetSave(text: string): IptState["sets"] {
  const sets: IptState["sets"] = {};
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[0] === "create" && f[1] && isOurSet(f[1])) {
      const fi = f.indexOf("family");
      sets[f[1]] = { type: f[2] ?? "", family: fi > 0 ? (f[fi + 1] ?? "") : "", elements: [] };
    } else if (f[0] === "add" && f[1] && sets[f[1]] && f[2]) {
      sets[f[1]]!.elements.push(normalizeListedElement(f[2], sets[f[1]]!.type));
    }
  }
  for (const s of Object.values(sets)) s.elements.sort();
  return sets;
}

export function parseState(l: IptListing): IptState {
  const tables: IptState["tables"] = {};
  for (const [f, text] of Object.entries(l.save)) {
    if (text === undefined) continue;
    for (const [table, chains] of Object.entries(parseSave(text))) tables[`${f} ${table}`] = chains;
  }
  return { tables, sets: parseIpsetSave(l.ipset) };
}

export interface IptDigest {
  /** "<family> <table> <chain>" → rule hashes in order ("foreign" for rules without our comment). */
  chains: Record<string, string[]>;
  /** "<family> <table> <built-in chain>" → our jump rules' hashes; "@<n>" appended when a jump
   *  is not where we put it (the top of the chain). */
  jumps: Record<string, string[]>;
  /** set name → ["<type> <family>", ...elements]. */
  sets: Record<string, string[]>;
}

function specHash(spec: string): string {
  const m = /(?:^|\s)--comment\s+("([^"]*)"|(\S+))/.exec(spec);
  return commentHash(m ? (m[2] ?? m[3]) : undefined) ?? "foreign";
}

export function expectedDigest(r: IptRendered): IptDigest {
  const d: IptDigest = { chains: {}, jumps: {}, sets: {} };
  for (const t of r.tables) {
    for (const [c, rules] of Object.entries(t.chains)) d.chains[`${t.family} ${t.table} ${c}`] = rules.map((x) => x.hash);
    for (const j of t.jumps) (d.jumps[`${t.family} ${t.table} ${j.builtin}`] ??= []).push(j.rule.hash);
  }
  for (const s of Object.values(r.sets)) d.sets[s.name] = [`${s.type} ${s.family === 4 ? "inet" : "inet6"}`, ...s.elements];
  return d;
}

/** Digest of the kernel state; null when nothing of ours exists at all. */
export function stateDigest(s: IptState): IptDigest | null {
  const d: IptDigest = { chains: {}, jumps: {}, sets: {} };
  let any = false;
  for (const [key, chains] of Object.entries(s.tables)) {
    // Only the tables we program: cali-* chains elsewhere (e.g. a former Felix's nat chains) are
    // neither expected nor ever removed, so reporting them would resync forever.
    if (!(TABLES as readonly string[]).includes(key.split(" ")[1]!)) continue;
    for (const [name, rules] of Object.entries(chains)) {
      if (name.startsWith("cali-")) {
        d.chains[`${key} ${name}`] = rules.map(specHash);
        any = true;
        continue;
      }
      const ours: string[] = [];
      rules.forEach((spec, i) => {
        const t = targetOf(spec);
        if (!t?.startsWith("cali-")) return;
        const h = specHash(spec);
        ours.push(i === ours.length ? h : `${h}@${i}`);
      });
      if (ours.length > 0) {
        d.jumps[`${key} ${name}`] = ours;
        any = true;
      }
    }
  }
  for (const [name, set] of Object.entries(s.sets)) {
    d.sets[name] = [`${set.type} ${set.family}`, ...set.elements];
    any = true;
  }
  return any ? d : null;
}

/** Human-readable differences (empty = in sync), capped. */
export function diffDigest(expected: IptDigest, actual: IptDigest | null, max = 20): string[] {
  if (!actual) return ["no tortie chains, jumps or sets in the kernel"];
  const out: string[] = [];
  const push = (s: string) => {
    if (out.length < max) out.push(s);
  };
  for (const [k, rules] of Object.entries(expected.chains)) {
    const a = actual.chains[k];
    if (!a) push(`chain ${k} missing`);
    else if (a.join(",") !== rules.join(",")) push(`chain ${k} rules differ (${a.length} listed, ${rules.length} expected)`);
  }
  for (const k of Object.keys(actual.chains)) if (!(k in expected.chains)) push(`unexpected chain ${k}`);
  for (const [k, j] of Object.entries(expected.jumps)) {
    const a = actual.jumps[k];
    if (!a) push(`jump from ${k} missing`);
    else if (a.join(",") !== j.join(",")) push(`jump from ${k} differs: ${a.join(",")} (expected ${j.join(",")} at the top)`);
  }
  for (const k of Object.keys(actual.jumps)) if (!(k in expected.jumps)) push(`unexpected jump from ${k}`);
  for (const [name, els] of Object.entries(expected.sets)) {
    const a = actual.sets[name];
    if (!a) push(`set ${name} missing`);
    else if (a[0] !== els[0]) push(`set ${name} has type ${a[0]} (expected ${els[0]})`);
    else if (a.join("\n") !== els.join("\n")) push(`set ${name} elements differ (${a.length - 1} listed, ${els.length - 1} expected)`);
  }
  for (const name of Object.keys(actual.sets)) if (!(name in expected.sets)) push(`unexpected set ${name}`);
  return out;
}
