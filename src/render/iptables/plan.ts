/**
 * What to run, as text for `ipset restore` and `iptables-restore --noflush` / `ip6tables-restore
 * --noflush`. Every plan is a list of steps run in order:
 *
 *   1. ipset restore  — create new sets, add/delete elements, swap-replace whole sets
 *   2. iptables-restore (IPv4), ip6tables-restore (IPv6) — one table block per table, each committed
 *      atomically by the kernel: declared chains (`:cali-x - [0:0]`) are flushed and refilled, the
 *      built-in chains only get our jump inserted or removed, chains we no longer need are deleted
 *      (`-X`) after everything referring to them has been rewritten in the same block
 *   3. ipset restore  — destroy sets no rule refers to any more (the kernel refuses while one does)
 *
 * Sets come first because a rule naming a missing set does not load, and go last because a set in
 * use cannot be destroyed. Each step is atomic on its own; the sequence is not (iptables has no
 * cross-table transaction). A failure part-way leaves a mix, which the applier repairs with a full
 * replace.
 *
 * `--noflush` restricts the restore to what the text names: only cali-* chains and our own jump
 * rules change, everything else in the tables (kube-proxy, docker, the admin's rules) stays.
 *
 * planFull and planRemove need the current kernel state (state.ts) to know which stale chains,
 * jumps and sets to delete; planDelta needs only the previous and next renders.
 */
import type { Family } from "../../dataplane/index.js";
import { listArray } from "../../model/index.js";
import { createLine, isOurSet, recordedElementChanges, tempSetName, type IpsetDef } from "./ipset.js";
import { TABLES, type IptRendered, type IptTableRender } from "./render.js";
import type { IptTable } from "./rule.js";

export type IptStep = { tool: "ipset"; input: string } | { tool: "restore"; family: Family; input: string };

/** What the kernel holds, as far as plans care (parsed from iptables-save and ipset save). */
export interface IptState {
  /** "<family> <table>" → chain name → rule specs (after `-A <chain> `), in order. Built-in chains
   *  included. A table absent from the listing is absent here. */
  tables: Record<string, Record<string, string[]>>;
  /** Our sets (cali4*, cali6*) with their type, family and normalised elements. */
  sets: Record<string, { type: string; family: string; elements: string[] }>;
}

export const EMPTY_STATE: IptState = { tables: {}, sets: {} };

const tkey = (family: Family, table: IptTable) => `${family} ${table}`;

const isOurChain = (name: string) => name.startsWith("cali-");

/** The target of a listed rule spec (-j X or -g X; the last one, after any comment), if any. */
export function targetOf(spec: string): string | undefined {
  let last: string | undefined;
  for (const m of spec.matchAll(/(?:^|\s)-[jg]\s+(\S+)/g)) last = m[1];
  return last;
}

/** 1-based positions of rules in a built-in chain that jump to one of our chains. */
function ourJumpPositions(rules: string[]): number[] {
  const out: number[] = [];
  rules.forEach((r, i) => {
    const t = targetOf(r);
    if (t && isOurChain(t)) out.push(i + 1);
  });
  return out;
}

function setSteps(lines: string[]): IptStep[] {
  return lines.length > 0 ? [{ tool: "ipset", input: lines.join("\n") + "\n" }] : [];
}

function restoreSteps(blocks: Map<Family, string[]>): IptStep[] {
  const out: IptStep[] = [];
  for (const [family, lines] of blocks) if (lines.length > 0) out.push({ tool: "restore", family, input: lines.join("\n") + "\n" });
  return out;
}

function fillSet(d: IpsetDef, name: string): string[] {
  return listArray(d.elements).map((e) => `add ${name} ${e}`);
}

/**
 * Replaces everything we own with `r`. Sets that exist keep their identity (rules referring to
 * them stay valid) and get their content swapped in from a temporary set; a set that exists with
 * another type cannot be swapped, so then the plan first removes everything of ours.
 */
export function planFull(r: IptRendered, state: IptState): IptStep[] {
  const conflict = Object.values(r.sets).some((d) => {
    const s = state.sets[d.name];
    return s && (s.type !== d.type || s.family !== (d.family === 4 ? "inet" : "inet6"));
  });
  if (conflict) return [...planRemove(state), ...planFull(r, EMPTY_STATE)];

  const pre: string[] = [];
  let tmp = 0;
  for (const d of Object.values(r.sets)) {
    if (!state.sets[d.name]) {
      pre.push(createLine(d), ...fillSet(d, d.name));
      continue;
    }
    const t = tempSetName(d.family, tmp++);
    if (state.sets[t]) pre.push(`destroy ${t}`);
    pre.push(createLine(d, t), ...fillSet(d, t), `swap ${t} ${d.name}`, `destroy ${t}`);
  }
  const used = new Set(Object.keys(r.sets));
  const usedTemps = new Set<string>();
  for (let i = 0; i < tmp; i++) usedTemps.add(tempSetName(4, i)).add(tempSetName(6, i));
  const post = Object.keys(state.sets)
    .filter((n) => isOurSet(n) && !used.has(n) && !usedTemps.has(n))
    .sort()
    .map((n) => `destroy ${n}`);

  const blocks = new Map<Family, string[]>();
  const families = new Set<Family>([...r.tables.map((t) => t.family), ...Object.keys(state.tables).map((k) => Number(k.split(" ")[0]) as Family)]);
  for (const family of [...families].sort()) {
    const lines: string[] = [];
    for (const table of TABLES) {
      const want = r.tables.find((t) => t.family === family && t.table === table);
      const have = state.tables[tkey(family, table)] ?? {};
      lines.push(...tableFull(table, want, have));
    }
    blocks.set(family, lines);
  }
  return [...setSteps(pre), ...restoreSteps(blocks), ...setSteps(post)];
}

function tableFull(table: IptTable, want: IptTableRender | undefined, have: Record<string, string[]>): string[] {
  const desired = Object.keys(want?.chains ?? {});
  const existing = Object.keys(have).filter(isOurChain);
  const jumpDeletes: string[] = [];
  for (const [chain, rules] of Object.entries(have)) {
    if (isOurChain(chain)) continue;
    for (const pos of ourJumpPositions(rules).reverse()) jumpDeletes.push(`-D ${chain} ${pos}`);
  }
  if (desired.length === 0 && existing.length === 0 && jumpDeletes.length === 0) return [];
  const lines = [`*${table}`];
  const declare = [...new Set([...desired, ...existing])].sort();
  for (const c of declare) lines.push(`:${c} - [0:0]`);
  lines.push(...jumpDeletes);
  for (const [c, rules] of Object.entries(want?.chains ?? {})) for (const r of rules) lines.push(`-A ${c} ${r.spec}`);
  lines.push(...insertJumps(want));
  const wanted = new Set(desired);
  for (const c of existing.filter((c) => !wanted.has(c)).sort()) lines.push(`-X ${c}`);
  lines.push("COMMIT");
  return lines;
}

/** `-I <builtin> 1` in reverse so that several jumps into one built-in chain keep their order. */
function insertJumps(t: IptTableRender | undefined): string[] {
  return [...(t?.jumps ?? [])].reverse().map((j) => `-I ${j.builtin} 1 ${j.rule.spec}`);
}

/** Removes every cali-* chain, every jump into one, and every set named cali4… or cali6…. */
export function planRemove(state: IptState): IptStep[] {
  const blocks = new Map<Family, string[]>();
  for (const key of Object.keys(state.tables).sort()) {
    const [f, table] = key.split(" ") as [string, IptTable];
    if (!TABLES.includes(table)) continue;
    const family = Number(f) as Family;
    const lines = tableFull(table, undefined, state.tables[key]!);
    if (lines.length > 0) blocks.set(family, [...(blocks.get(family) ?? []), ...lines]);
  }
  const post = Object.keys(state.sets)
    .filter(isOurSet)
    .sort()
    .map((n) => `destroy ${n}`);
  return [...restoreSteps(blocks), ...setSteps(post)];
}

function sameRules(a: { spec: string }[] | undefined, b: { spec: string }[] | undefined): boolean {
  if (a === b && a !== undefined) return true; // a chain rendered once for both models
  if (!a || !b || a.length !== b.length) return false;
  return a.every((r, i) => r.spec === b[i]!.spec);
}

/**
 * The change from render `from` (what the kernel holds) to `to`: element adds/deletes for sets
 * that stay, whole chains for chains whose rules changed, jump insert/delete when base chains come
 * or go. A new pod in a selector is one `add` line and no iptables-restore at all.
 */
export function planDelta(from: IptRendered, to: IptRendered): IptStep[] {
  const pre: string[] = [];
  const post: string[] = [];
  for (const d of Object.values(to.sets)) {
    const old = from.sets[d.name];
    if (!old) {
      pre.push(createLine(d), ...fillSet(d, d.name));
      continue;
    }
    if (old === d) continue;
    const recorded = recordedElementChanges(old, d);
    if (recorded) {
      for (const e of recorded.dels) pre.push(`del ${d.name} ${e}`);
      for (const e of recorded.adds) pre.push(`add ${d.name} ${e}`);
      continue;
    }
    // Both element lists are sorted and unique (IpsetDef): one merge walk finds the difference
    // without building sets of a 100k-member set's texts.
    const a = listArray(old.elements);
    const b = listArray(d.elements);
    const dels: string[] = [];
    const adds: string[] = [];
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
      if (j >= b.length || (i < a.length && a[i]! < b[j]!)) dels.push(a[i++]!);
      else if (i >= a.length || b[j]! < a[i]!) adds.push(b[j++]!);
      else {
        i++;
        j++;
      }
    }
    for (const e of dels) pre.push(`del ${d.name} ${e}`);
    for (const e of adds) pre.push(`add ${d.name} ${e}`);
  }
  for (const name of Object.keys(from.sets)) if (!to.sets[name]) post.push(`destroy ${name}`);

  const blocks = new Map<Family, string[]>();
  // The same tables (renderCached reuses them when no chain changed): nothing to compare.
  const families = from.tables === to.tables ? [] : [...new Set([...from.tables, ...to.tables].map((t) => t.family))].sort();
  for (const family of families) {
    const lines: string[] = [];
    for (const table of TABLES) {
      const a = from.tables.find((t) => t.family === family && t.table === table);
      const b = to.tables.find((t) => t.family === family && t.table === table);
      const aChains = a?.chains ?? {};
      const bChains = b?.chains ?? {};
      const changed = Object.keys(bChains).filter((c) => !sameRules(aChains[c], bChains[c]));
      const removed = Object.keys(aChains).filter((c) => !(c in bChains));
      const aJumps = new Set((a?.jumps ?? []).map((j) => `${j.builtin} ${j.rule.spec}`));
      const bJumps = new Set((b?.jumps ?? []).map((j) => `${j.builtin} ${j.rule.spec}`));
      const jumpDel = (a?.jumps ?? []).filter((j) => !bJumps.has(`${j.builtin} ${j.rule.spec}`));
      const jumpAdd = (b?.jumps ?? []).filter((j) => !aJumps.has(`${j.builtin} ${j.rule.spec}`));
      if (changed.length === 0 && removed.length === 0 && jumpDel.length === 0 && jumpAdd.length === 0) continue;
      lines.push(`*${table}`);
      for (const c of [...changed, ...removed].sort()) lines.push(`:${c} - [0:0]`);
      for (const j of jumpDel) lines.push(`-D ${j.builtin} ${j.rule.spec}`);
      for (const c of changed) for (const r of bChains[c]!) lines.push(`-A ${c} ${r.spec}`);
      lines.push(...insertJumps(b ? { ...b, jumps: jumpAdd } : undefined));
      for (const c of removed.sort()) lines.push(`-X ${c}`);
      lines.push("COMMIT");
    }
    blocks.set(family, lines);
  }
  return [...setSteps(pre), ...restoreSteps(blocks), ...setSteps(post)];
}

/** A fresh load as one readable text (golden files, `render --dry-run`, docs). */
export function planText(steps: IptStep[]): string {
  return steps
    .map((s) => (s.tool === "ipset" ? `# ipset restore\n${s.input}` : `# ${s.family === 4 ? "iptables" : "ip6tables"}-restore --noflush\n${s.input}`))
    .join("");
}
