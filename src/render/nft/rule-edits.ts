/**
 * Rule-level deltas for nftables: a changed chain is edited by rule handle instead of being
 * flushed and refilled, and a chain that is replaced by a near copy under a new name is renamed.
 *
 * Why: a chain is a unit of the dataplane model, but not of cost. A policy added to a group chain
 * that 20 local endpoints share made the group a new chain (its name comes from its policies), so
 * the delta re-added the group's ~300 rules under the new name and rewrote all 20 endpoint chains
 * (flush + 19 rules) to change one jump each: 970 rules, 210 KB of nft, 130–180 ms of apply on the
 * 5k-pod bench node (docs/performance.md, eighth session). Now the group is renamed (the kernel
 * keeps every jump pointing at the chain object, and a rule's comment hash leaves jump targets
 * out, render.ts), so the endpoint chains need no command at all, and the group is edited.
 *
 * Which edits: only those nft 1.0.6 makes cheap. Deleting a rule by handle, appending, prepending
 * (`insert` without a position), flushing and renaming cost a few ms on that node's table of 13k
 * rules; `insert`/`add` at a position cost ~170 ms and `replace` ~300–460 ms, because nft then
 * fetches every rule of the table into its cache first. So a chain is edited by keeping ONE run of
 * its rules that the new chain has too (the longest), deleting the others by handle, prepending the
 * new rules that come before the run and appending those after it. When that is no fewer commands
 * than a flush and refill, the chain is flushed and refilled.
 *
 * What it needs: the handle of every rule, which nft only tells in a listing. `RuleHandles` is the
 * applier's copy of what each kernel chain holds, rule by rule: the rule's key (its comment and
 * the chain it jumps to) and its handle, or -1 for a rule added since the chain was last listed.
 * Kept rules keep their handles, so after a batch only the new rules are unknown. Before a delta
 * edits a chain with unknown handles, the applier lists those chains (`nft -j -a list chain`, one
 * exchange) and fills them in, checking every key; a chain whose listing differs is forgotten and
 * refilled whole, as is a chain never learned. A failed batch makes the applier forget everything
 * (a full replace follows anyway).
 *
 * Not nft's echo (`-e -a`), which would tell the handles of a batch's rules at once: nft 1.0.6
 * prints an echoed rule without the contents of its anonymous sets, reports "Relational
 * expression size mismatch" for some of ours, and for others aborts on an assertion
 * (gmputil.c mpz_get_be16) after the kernel has committed the batch. A listing prints the same
 * rules correctly.
 *
 * A rename cannot share a transaction with edits that name the chain: nft resolves chain names
 * when it evaluates the batch, and the new name exists only after the commit. So renames go
 * first, alone, in their own transaction. They change no verdict (jumps follow the chain object);
 * if the edits after them fail, the applier's retry replaces the whole table as after any failure.
 */
import { BugError } from "../../model/index.js";
import type { DataplaneModel, DpChain, DpOp } from "../../dataplane/index.js";
import { chainRules, renderOps, ruleTarget, DEFAULT_TARGET, type KernelRule, type NftBatch, type NftCommand, type NftTarget } from "./render.js";

/** One kernel chain as the applier knows it: each rule's key (ruleKey) and handle (-1: not yet
 *  listed), in order. */
export interface KnownChain {
  keys: string[];
  handles: number[];
}

const TARGET_MARK = "\u0000";

/** What identifies a kernel rule: its comment (content hash and origin label), and its target. */
export function ruleKey(comment: string, expr: readonly unknown[] | undefined): string {
  const target = ruleTarget(expr);
  return target === undefined ? comment : `${comment}${TARGET_MARK}${target}`;
}

/** A key whose jump target `from` is now called `to` (the kernel follows a renamed chain). */
function retarget(key: string, renamed: ReadonlyMap<string, string>): string {
  const at = key.indexOf(TARGET_MARK);
  if (at < 0) return key;
  const to = renamed.get(key.slice(at + 1));
  return to === undefined ? key : key.slice(0, at + 1) + to;
}

const complete = (c: KnownChain) => c.handles.every((h) => h >= 0);
const sameKeys = (a: string[], b: string[]) => a.length === b.length && a.every((k, i) => k === b[i]);

/** Per chain name, what the kernel holds; a chain that is absent is unknown (not: empty). */
export class RuleHandles {
  private readonly chains = new Map<string, KnownChain>();

  get size(): number {
    return this.chains.size;
  }
  get(name: string): KnownChain | undefined {
    return this.chains.get(name);
  }
  set(name: string, chain: KnownChain): void {
    this.chains.set(name, chain);
  }
  delete(name: string): void {
    this.chains.delete(name);
  }
  clear(): void {
    this.chains.clear();
  }
  /** Chain names known, sorted (tests). */
  names(): string[] {
    return [...this.chains.keys()].sort();
  }

  /** Chains renamed old → new, as the kernel does it: every jump to them follows. */
  rename(renamed: ReadonlyMap<string, string>): void {
    const moved = [...renamed].map(([from, to]) => [to, this.chains.get(from)] as const);
    for (const from of renamed.keys()) this.chains.delete(from);
    for (const [to, c] of moved) if (c) this.chains.set(to, c);
    for (const c of this.chains.values()) c.keys = c.keys.map((k) => retarget(k, renamed));
  }

  /**
   * Learns the handles of every chain of `model` whose rules the listing (`nft -j -a list table`)
   * shows exactly, key by key; other chains are forgotten. Returns how many were learned.
   */
  learnListing(listing: unknown, model: DataplaneModel, t: NftTarget = DEFAULT_TARGET): number {
    this.chains.clear();
    const listed = listedChains(listing, t);
    for (const chain of Object.values(model.chains)) {
      const want = chainRules(chain).map((r) => ruleKey(r.comment, r.expr));
      const got = listed.get(chain.name) ?? { keys: [], handles: [] };
      if (sameKeys(want, got.keys)) this.chains.set(chain.name, got);
    }
    return this.chains.size;
  }

  /**
   * Chains the delta `ops` would edit (or rename) whose handles are not all known yet: list them
   * (`nft -j -a list chain`) and give the listing to fillIn() before planning.
   */
  incomplete(ops: DpOp[], options: RuleEditOptions = {}): string[] {
    const min = options.renameMinRules ?? DEFAULTS.renameMinRules;
    const out: string[] = [];
    for (const o of ops) {
      const name = o.op === "replace-chain" ? o.chain.name : o.op === "delete-chain" ? o.name : undefined;
      const c = name === undefined ? undefined : this.chains.get(name);
      if (c && !complete(c) && (o.op === "replace-chain" || c.keys.length >= min)) out.push(name!);
    }
    return out.sort();
  }

  /** Fills in handles of `names` from a listing of those chains; a chain whose listed rules
   *  differ from what it should hold (or that is missing) is forgotten. */
  fillIn(names: string[], listing: unknown, t: NftTarget = DEFAULT_TARGET): void {
    const listed = listedChains(listing, t);
    for (const name of names) {
      const c = this.chains.get(name);
      const got = listed.get(name);
      if (c && got && sameKeys(c.keys, got.keys)) this.chains.set(name, got);
      else this.chains.delete(name);
    }
  }
}

/** Per chain, the rules of a `nft -j -a list` listing, in order. */
function listedChains(listing: unknown, t: NftTarget): Map<string, KnownChain> {
  const listed = new Map<string, KnownChain>();
  for (const item of (listing as { nftables?: unknown[] } | null)?.nftables ?? []) {
    const o = item as { chain?: { family?: string; table?: string; name?: string }; rule?: { family?: string; table?: string; chain?: string; handle?: number; comment?: string; expr?: unknown[] } };
    if (o.chain && o.chain.family === t.family && o.chain.table === t.table && typeof o.chain.name === "string" && !listed.has(o.chain.name)) listed.set(o.chain.name, { keys: [], handles: [] });
    const r = o.rule;
    if (!r || r.family !== t.family || r.table !== t.table || typeof r.chain !== "string" || typeof r.handle !== "number") continue;
    let c = listed.get(r.chain);
    if (!c) listed.set(r.chain, (c = { keys: [], handles: [] }));
    c.keys.push(ruleKey(r.comment ?? "", r.expr));
    c.handles.push(r.handle);
  }
  return listed;
}

/** One transaction of a delta, and what to record once it is applied. */
export interface DeltaStep {
  batch: NftBatch;
  /** Updates the RuleHandles after the batch was applied. */
  learn(): void;
}

export interface RuleEditOptions {
  /** A chain is renamed rather than re-created when this many of its rules carry over. */
  renameMinRules?: number;
  /** Largest table for the longest common run (old × new rules); beyond it, only a common
   *  prefix or suffix is kept. */
  maxRunCells?: number;
}

const DEFAULTS: Required<RuleEditOptions> = { renameMinRules: 32, maxRunCells: 250_000 };

/** The commands editing one known chain into `next`, and its handles after them (-1: new rule). */
export interface ChainEdit {
  cmds: NftCommand[];
  handles: number[];
}

/** The longest run of rules old and next share: [start in old, start in next, length]. */
function longestCommonRun(old: string[], next: string[], maxCells: number): [number, number, number] {
  const n = old.length;
  const m = next.length;
  let prefix = 0;
  while (prefix < n && prefix < m && old[prefix] === next[prefix]) prefix++;
  let suffix = 0;
  while (suffix < n && suffix < m && old[n - 1 - suffix] === next[m - 1 - suffix]) suffix++;
  let best: [number, number, number] = prefix >= suffix ? [0, 0, prefix] : [n - suffix, m - suffix, suffix];
  if (prefix === Math.min(n, m) || (n + 1) * (m + 1) > maxCells) return best;
  // run[i][j]: length of the common run ending at old[i-1], next[j-1]; two rows suffice.
  let prev = new Int32Array(m + 1);
  let row = new Int32Array(m + 1);
  for (let i = 1; i <= n; i++) {
    for (let j = 1; j <= m; j++) {
      const len = old[i - 1] === next[j - 1] ? prev[j - 1]! + 1 : 0;
      row[j] = len;
      if (len > best[2]) best = [i - len, j - len, len];
    }
    [prev, row] = [row, prev];
  }
  return best;
}

function ruleCmd(verb: "add" | "insert", t: NftTarget, chain: string, r: KernelRule): NftCommand {
  return { [verb]: { rule: { family: t.family, table: t.table, chain, comment: r.comment, expr: r.expr } } };
}

/**
 * Edits of `old` into `next` with the cheap commands only (see the file comment), or undefined
 * when a flush and refill is no more commands, or old's handles are not all known.
 */
export function chainEdit(name: string, old: KnownChain, next: KernelRule[], t: NftTarget, maxCells = DEFAULTS.maxRunCells): ChainEdit | undefined {
  if (!complete(old)) return undefined;
  const keys = next.map((r) => ruleKey(r.comment, r.expr));
  const [from, at, length] = longestCommonRun(old.keys, keys, maxCells);
  const cmds: NftCommand[] = [];
  for (let i = 0; i < old.keys.length; i++) {
    if (i < from || i >= from + length) cmds.push({ delete: { rule: { family: t.family, table: t.table, chain: name, handle: old.handles[i]! } } });
  }
  // Prepending puts each rule first, so the rules before the run go in reverse order.
  for (let j = at - 1; j >= 0; j--) cmds.push(ruleCmd("insert", t, name, next[j]!));
  for (let j = at + length; j < next.length; j++) cmds.push(ruleCmd("add", t, name, next[j]!));
  if (cmds.length > next.length) return undefined; // a flush and refill is 1 + next.length
  const handles = next.map((_, j) => (j >= at && j < at + length ? old.handles[from + j - at]! : -1));
  return { cmds, handles };
}

/**
 * The delta `ops` (from → to) as transactions that edit the chains `known` describes rule by
 * rule: at most a rename-only transaction, then one with everything else. Each step's learn()
 * keeps `known` equal to the kernel once that step is applied.
 */
export function planRuleEdits(ops: DpOp[], to: DataplaneModel, from: DataplaneModel, known: RuleHandles, t: NftTarget = DEFAULT_TARGET, options: RuleEditOptions = {}): DeltaStep[] {
  const o = { ...DEFAULTS, ...options };
  const rulesOf = new Map<string, KernelRule[]>();
  const rules = (c: DpChain) => {
    let r = rulesOf.get(c.name);
    if (!r) rulesOf.set(c.name, (r = chainRules(c)));
    return r;
  };
  const renames = chooseRenames(ops, from, known, rules, o.renameMinRules);
  const steps: DeltaStep[] = [];
  if (renames.size > 0) {
    const pairs = [...renames].sort(([a], [b]) => (a < b ? -1 : 1));
    steps.push({
      batch: { nftables: pairs.map(([old, next]) => ({ rename: { chain: { family: t.family, table: t.table, name: old, newname: next } } })) },
      learn: () => known.rename(renames),
    });
  }

  // The main transaction: renderOps' phases, with each known chain's rules edited by handle.
  // `known` is read as it will be after the renames.
  const renamedTo = new Map([...renames].map(([old, next]) => [next, old]));
  const knownAfter = (name: string): KnownChain | undefined => {
    if (renames.has(name)) return undefined; // gone: it lives on under its new name
    const c = known.get(renamedTo.get(name) ?? name);
    return c && renames.size > 0 ? { keys: c.keys.map((k) => retarget(k, renames)), handles: c.handles } : c;
  };
  const pending: Array<{ chain: string; keys: string[]; handles: number[] }> = [];
  const forgotten: string[] = [];
  const mainOps: DpOp[] = [];
  const edits: NftCommand[] = [];
  for (const x of ops) {
    if (x.op === "delete-chain" && renames.has(x.name)) continue;
    const chain = x.op === "replace-chain" || (x.op === "add-chain" && renamedTo.has(x.chain.name)) ? x.chain : undefined;
    if (chain) {
      const next = rules(chain);
      const old = knownAfter(chain.name);
      const edit = old ? chainEdit(chain.name, old, next, t, o.maxRunCells) : undefined;
      pending.push({ chain: chain.name, keys: next.map((r) => ruleKey(r.comment, r.expr)), handles: edit ? edit.handles : next.map(() => -1) });
      if (edit) edits.push(...edit.cmds);
      // Flushed and refilled; a renamed chain exists under its new name already.
      else mainOps.push(x.op === "add-chain" ? { op: "replace-chain", chain } : x);
      continue;
    }
    if (x.op === "add-chain") pending.push({ chain: x.chain.name, keys: rules(x.chain).map((r) => ruleKey(r.comment, r.expr)), handles: rules(x.chain).map(() => -1) });
    if (x.op === "delete-chain") forgotten.push(x.name);
    mainOps.push(x);
  }
  const batch = renderOps(mainOps, to, from, t, { ruleEdits: edits, rulesOf: rules });
  if (batch.nftables.length > 0 || steps.length === 0) {
    steps.push({
      batch,
      learn: () => {
        for (const name of forgotten) known.delete(name);
        for (const p of pending) known.set(p.chain, { keys: p.keys, handles: p.handles });
      },
    });
  }
  if (steps.length === 0) throw new BugError("planRuleEdits: no step");
  return steps;
}

/**
 * Renames (old name → new name): a chain created by `ops` that carries over enough rules of a
 * chain `ops` delete, when editing it would beat refilling it. Not base chains, and not chains a
 * map names (map elements name their chain and would follow the rename).
 */
function chooseRenames(ops: DpOp[], from: DataplaneModel, known: RuleHandles, rules: (c: DpChain) => KernelRule[], minRules: number): Map<string, string> {
  const renames = new Map<string, string>();
  const mapTargets = new Set<string>();
  for (const m of Object.values(from.maps)) for (const e of Object.values(m.elements)) mapTargets.add(e.chain);
  const candidates = ops.flatMap((x) => {
    if (x.op !== "delete-chain") return [];
    const k = known.get(x.name);
    return k && complete(k) && k.keys.length >= minRules && !from.chains[x.name]?.base && !mapTargets.has(x.name) ? [{ name: x.name, keys: new Set(k.keys), size: k.keys.length }] : [];
  });
  if (candidates.length === 0) return renames;
  const taken = new Set<string>();
  for (const x of ops) {
    if (x.op !== "add-chain" || x.chain.base) continue;
    const next = rules(x.chain);
    if (next.length < minRules) continue;
    let best: string | undefined;
    let bestOverlap = minRules - 1;
    for (const c of candidates) {
      if (taken.has(c.name)) continue;
      let overlap = 0;
      for (const r of next) if (c.keys.has(ruleKey(r.comment, r.expr))) overlap++;
      // Worth it only if editing could beat refilling: (old − overlap) deletes + (next − overlap) adds < next.
      if (overlap > bestOverlap && c.size < 2 * overlap) [best, bestOverlap] = [c.name, overlap];
    }
    if (best !== undefined) {
      taken.add(best);
      renames.set(best, x.chain.name);
    }
  }
  return renames;
}
