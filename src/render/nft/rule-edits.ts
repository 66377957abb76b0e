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
 * What it needs: the handles of the rules it deletes, which nft only tells in a listing, and a
 * listing costs what a positioned insert does (~250 ms for one chain on that node: nft 1.0.6
 * fetches the whole ruleset first). So handles are learned only from the listings the applier's
 * drift check takes anyway. `RuleHandles` is the applier's copy of what each kernel chain holds,
 * rule by rule: the rule's key (its comment and the chain it jumps to) and its handle, or -1 where
 * it is not known (rules added since the last listing, or every rule after a full load). Kept
 * rules keep their handles. An edit that would delete a rule of unknown handle is a refill
 * instead; renames, prepends and appends need no handle. A failed batch makes the applier forget
 * everything (a full replace follows anyway).
 *
 * Not nft's echo (`-e -a`), which would tell the handles of a batch's rules at once: nft 1.0.6
 * prints an echoed rule without the contents of its anonymous sets, reports "Relational
 * expression size mismatch" for some of ours, and for others aborts on an assertion
 * (gmputil.c mpz_get_be16) after the kernel has committed the batch.
 *
 * Renames: a chain the delta deletes and a chain it adds in its place, where chains that jumped
 * to the first now jump to the second (a group chain whose policies changed: its name comes from
 * them). Renamed, every such jump follows by itself. This saves rewriting the chains that jump to
 * it even when the renamed chain is then refilled.
 *
 * A rename and the edits share one transaction: nft resolves chain names when it evaluates the
 * batch and the kernel renames at commit, so inside the batch the renamed chain is called by its
 * old name (edits to it, and jumps to it from new rules), and the renames come last.
 */
import type { DataplaneModel, DpChain, DpOp } from "../../dataplane/index.js";
import { chainRules, renderOps, ruleTarget, DEFAULT_TARGET, type KernelRule, type NftBatch, type NftCommand, type NftTarget } from "./render.js";

/** One kernel chain as the applier knows it: each rule's key (ruleKey) and handle (-1: unknown),
 *  in order. */
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

const sameKeys = (a: string[], b: string[]) => a.length === b.length && a.every((k, i) => k === b[i]);

/** Per chain name, what the kernel holds, for the chains changed or listed since the last full
 *  load; any other chain holds what the programmed model says, handles unknown (`chainIn`). */
export class RuleHandles {
  private readonly chains = new Map<string, KnownChain>();

  set(name: string, chain: KnownChain): void {
    this.chains.set(name, chain);
  }
  delete(name: string): void {
    this.chains.delete(name);
  }
  clear(): void {
    this.chains.clear();
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
    // Chains whose listing differs are left to chainIn (the model, handles unknown).
    this.chains.clear();
    const listed = listedChains(listing, t);
    for (const chain of model.chains.valueList()) {
      const want = chainKeys(chain);
      const got = listed.get(chain.name) ?? { keys: [], handles: [] };
      if (sameKeys(want, got.keys)) this.chains.set(chain.name, got);
    }
    return this.chains.size;
  }

  /** What the kernel holds in chain `name`, which the kernel holds as `model` says. */
  chainIn(name: string, model: DataplaneModel): KnownChain | undefined {
    const c = this.chains.get(name);
    if (c) return c;
    const chain = model.chains.get(name);
    if (!chain) return undefined;
    const keys = chainKeys(chain);
    return { keys, handles: keys.map(() => -1) };
  }
}

/** The keys of a model chain's kernel rules (cached per chain object: models share unchanged
 *  chains, and drift checks compare every chain). */
const keysCache = new WeakMap<DpChain, string[]>();
function chainKeys(chain: DpChain): string[] {
  let keys = keysCache.get(chain);
  if (!keys) keysCache.set(chain, (keys = chainRules(chain).map((r) => ruleKey(r.comment, r.expr))));
  return keys;
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

/** The transaction of a delta, and what to record once it is applied. */
export interface DeltaStep {
  batch: NftBatch;
  /** Updates the RuleHandles after the batch was applied. */
  learn(): void;
}

export interface RuleEditOptions {
  /** Largest table for the longest common run (old × new rules); beyond it, only a common
   *  prefix or suffix is kept. */
  maxRunCells?: number;
}

const DEFAULTS: Required<RuleEditOptions> = { maxRunCells: 250_000 };

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
 * when a flush and refill is no more commands, or a rule to delete has no known handle.
 */
export function chainEdit(name: string, old: KnownChain, next: KernelRule[], t: NftTarget, maxCells = DEFAULTS.maxRunCells): ChainEdit | undefined {
  const keys = next.map((r) => ruleKey(r.comment, r.expr));
  const [from, at, length] = longestCommonRun(old.keys, keys, maxCells);
  // The edit is one command per rule outside the run, old or new; a flush and refill is 1 + next.length.
  if (old.keys.length - length + keys.length - length > keys.length) return undefined;
  const cmds: NftCommand[] = [];
  for (let i = 0; i < old.keys.length; i++) {
    if (i >= from && i < from + length) continue;
    if (old.handles[i]! < 0) return undefined;
    cmds.push({ delete: { rule: { family: t.family, table: t.table, chain: name, handle: old.handles[i]! } } });
  }
  // Prepending puts each rule first, so the rules before the run go in reverse order.
  for (let j = at - 1; j >= 0; j--) cmds.push(ruleCmd("insert", t, name, next[j]!));
  for (let j = at + length; j < next.length; j++) cmds.push(ruleCmd("add", t, name, next[j]!));
  const handles = next.map((_, j) => (j >= at && j < at + length ? old.handles[from + j - at]! : -1));
  return { cmds, handles };
}

/**
 * The delta `ops` (from → to) as one transaction that edits chains rule by rule where that is
 * cheaper and renames chains replaced by another. learn() keeps `known` equal to the kernel once
 * the batch is applied.
 */
export function planRuleEdits(ops: DpOp[], to: DataplaneModel, from: DataplaneModel, known: RuleHandles, t: NftTarget = DEFAULT_TARGET, options: RuleEditOptions = {}): DeltaStep {
  const o = { ...DEFAULTS, ...options };
  const rulesOf = new Map<string, KernelRule[]>();
  const rules = (c: DpChain) => {
    let r = rulesOf.get(c.name);
    if (!r) rulesOf.set(c.name, (r = chainRules(c)));
    return r;
  };
  const renames = chooseRenames(ops, from);
  const renamedTo = new Map([...renames].map(([old, next]) => [next, old]));
  // The kernel's chains as they will be once the batch is committed (renames included).
  const kernelChain = (name: string): KnownChain | undefined => {
    if (renames.has(name)) return undefined; // gone: it lives on under its new name
    const c = known.chainIn(renamedTo.get(name) ?? name, from);
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
      const keys = next.map((r) => ruleKey(r.comment, r.expr));
      const old = kernelChain(chain.name);
      // A chain that only jumped to a renamed chain already holds what it should.
      if (old && sameKeys(old.keys, keys)) {
        pending.push({ chain: chain.name, keys, handles: old.handles });
        continue;
      }
      const edit = old ? chainEdit(chain.name, old, next, t, o.maxRunCells) : undefined;
      pending.push({ chain: chain.name, keys, handles: edit ? edit.handles : next.map(() => -1) });
      if (edit) edits.push(...edit.cmds);
      // Flushed and refilled; a renamed chain exists already (under its old name in this batch).
      else mainOps.push(x.op === "add-chain" ? { op: "replace-chain", chain } : x);
      continue;
    }
    if (x.op === "delete-chain") forgotten.push(x.name);
    if (x.op === "add-chain") forgotten.push(x.chain.name); // the model tells its rules; handles unknown
    mainOps.push(x);
  }
  const batch = renderOps(mainOps, to, from, t, { ruleEdits: edits, rulesOf: rules });
  if (renames.size > 0) {
    // nft resolves chain names when it evaluates the batch, and a rename takes effect at commit:
    // inside this batch a renamed chain is still called by its old name, and the renames come
    // last. The jumps written to the old name follow the chain to its new one.
    for (const c of batch.nftables) oldNames(c, renamedTo);
    for (const [old, next] of [...renames].sort(([a], [b]) => (a < b ? -1 : 1))) batch.nftables.push({ rename: { chain: { family: t.family, table: t.table, name: old, newname: next } } });
  }
  return {
    batch,
    learn: () => {
      known.rename(renames);
      for (const name of forgotten) known.delete(name);
      for (const p of pending) known.set(p.chain, { keys: p.keys, handles: p.handles });
    },
  };
}

/** Rewrites one command of the batch to call renamed chains by their old names. */
function oldNames(cmd: NftCommand, renamedTo: ReadonlyMap<string, string>): void {
  const body = Object.values(cmd)[0]!;
  const rule = body.rule as { chain: string; expr?: Array<Record<string, { target?: string }>> } | undefined;
  if (rule) {
    rule.chain = renamedTo.get(rule.chain) ?? rule.chain;
    const last = rule.expr?.[rule.expr.length - 1];
    const verdict = last && (last.jump ? "jump" : last.goto ? "goto" : undefined);
    const target = verdict && last[verdict]!.target;
    if (verdict && target !== undefined && renamedTo.has(target)) rule.expr = [...rule.expr!.slice(0, -1), { [verdict]: { target: renamedTo.get(target)! } }];
  }
  const chain = body.chain as { name: string } | undefined;
  if (chain && renamedTo.has(chain.name)) body.chain = { ...chain, name: renamedTo.get(chain.name)! };
  const element = body.element as { elem?: unknown[] } | undefined;
  if (element?.elem) {
    element.elem = element.elem.map((e) => {
      if (!Array.isArray(e)) return e;
      const [k, v] = e as [unknown, Record<string, { target: string }>];
      const [verdict, to] = Object.entries(v)[0] ?? [];
      return verdict && to && renamedTo.has(to.target) ? [k, { [verdict]: { target: renamedTo.get(to.target)! } }] : e;
    });
  }
}

/** The chains a chain's rules jump to, in order. */
function jumpTargets(chain: DpChain | undefined): string[] {
  const out: string[] = [];
  for (const r of chain?.rules ?? []) if (r.verdict?.kind === "jump" || r.verdict?.kind === "goto") out.push(r.verdict.chain);
  return out;
}

/**
 * Renames (old name → new name): for a chain the delta deletes, the chain it adds that most of
 * the old one's referrers now jump to instead, found by comparing, in each changed chain, the jump
 * targets before and after. Not base chains, and not chains a map names (map elements name their
 * chain and would follow the rename).
 */
function chooseRenames(ops: DpOp[], from: DataplaneModel): Map<string, string> {
  const renames = new Map<string, string>();
  const deleted = new Set<string>();
  const added = new Set<string>();
  for (const x of ops) {
    if (x.op === "delete-chain" && !from.chains.get(x.name)?.base) deleted.add(x.name);
    if (x.op === "add-chain" && !x.chain.base) added.add(x.chain.name);
  }
  if (deleted.size === 0 || added.size === 0) return renames;
  for (const m of Object.values(from.maps)) for (const e of Object.values(m.elements)) deleted.delete(e.chain);
  // Votes old → new: a changed chain that jumped to `old` (deleted) and jumps to `new` (added) in
  // the same place of its jumps.
  const votes = new Map<string, Map<string, number>>();
  for (const x of ops) {
    if (x.op !== "replace-chain") continue;
    const before = jumpTargets(from.chains.get(x.chain.name)).filter((c) => deleted.has(c));
    const after = jumpTargets(x.chain).filter((c) => added.has(c));
    for (let i = 0; i < Math.min(before.length, after.length); i++) {
      let v = votes.get(before[i]!);
      if (!v) votes.set(before[i]!, (v = new Map()));
      v.set(after[i]!, (v.get(after[i]!) ?? 0) + 1);
    }
  }
  const taken = new Set<string>();
  for (const old of [...votes.keys()].sort()) {
    const [best] = [...votes.get(old)!].filter(([c]) => !taken.has(c)).sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1));
    if (!best) continue;
    taken.add(best[0]);
    renames.set(old, best[0]);
  }
  return renames;
}
