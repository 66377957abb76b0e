/**
 * Rule-level deltas for nftables: a changed chain is edited in place by rule handle instead of
 * being flushed and refilled, and a chain that is replaced by a near copy under a new name is
 * renamed and edited.
 *
 * Why: a chain is a unit of the dataplane model, but not of cost. A policy added to a group chain
 * that 20 local endpoints share made the group a new chain (its name comes from its policies), so
 * the delta re-added the group's ~300 rules under the new name and rewrote all 20 endpoint chains
 * (flush + 19 rules) to change one jump each: 970 rules, 210 KB of nft, 130–180 ms of apply on the
 * 5k-pod bench node. Edited by handle, the same change is the new policy's rules, one `replace
 * rule` per endpoint chain and a rename (docs/performance.md, eighth session).
 *
 * What it needs: the handle of every rule, which nft only tells in a listing. `RuleHandles` is
 * the applier's copy of what each kernel chain holds, rule by rule: the rule's comment (its content
 * hash and origin label, render.ts) and its handle, or -1 for a rule added since the chain was
 * last listed. Kept and replaced rules keep their handles (a `replace` keeps it), so after a
 * batch only the new rules are unknown. Before a delta edits a chain with unknown handles, the
 * applier lists those chains (`nft -j -a list chain`, one exchange) and fills them in, checking
 * every comment; a chain whose listing differs is forgotten and refilled whole, as is a chain never
 * learned. A failed batch makes the applier forget everything (a full replace follows anyway).
 *
 * Not nft's echo (`-e -a`), which would tell the handles of a batch's rules at once: nft 1.0.6
 * prints an echoed rule without the contents of its anonymous sets, reports "Relational
 * expression size mismatch" for some of ours, and for others aborts on an assertion
 * (gmputil.c mpz_get_be16) after the kernel has committed the batch. A listing prints the same
 * rules correctly, and the lazy listing costs a round trip only for chains edited twice.
 *
 * The rename cannot share a transaction with the edits: nft resolves a jump to a chain by name
 * when the batch is evaluated, and the new name only exists after the commit. So a rename goes
 * first, alone, in its own transaction. It changes no verdict (every jump follows the chain
 * object), and if the edits after it fail, the applier's retry replaces the whole table as after
 * any failure.
 */
import { BugError } from "../../model/index.js";
import type { DataplaneModel, DpChain, DpOp } from "../../dataplane/index.js";
import type { NftExpr, Json } from "./expr.js";
import { chainRules, renderOps, DEFAULT_TARGET, type NftBatch, type NftCommand, type NftTarget } from "./render.js";

/** One kernel chain as the applier knows it: its rules' comments and handles (-1: not yet
 *  listed), in order. */
export interface KnownChain {
  comments: string[];
  handles: number[];
}

const complete = (c: KnownChain) => c.handles.every((h) => h >= 0);

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
  rename(from: string, to: string): void {
    const c = this.chains.get(from);
    this.chains.delete(from);
    if (c) this.chains.set(to, c);
    else this.chains.delete(to);
  }
  /** Chain names known, sorted (tests). */
  names(): string[] {
    return [...this.chains.keys()].sort();
  }

  /**
   * Learns the handles of every chain of `model` whose rules the listing (`nft -j -a list table`)
   * shows exactly, comment by comment; other chains are forgotten. Returns how many were learned.
   */
  learnListing(listing: unknown, model: DataplaneModel, t: NftTarget = DEFAULT_TARGET): number {
    this.chains.clear();
    const listed = listedChains(listing, t);
    for (const chain of Object.values(model.chains)) {
      const want = chainRules(chain).map((r) => r.comment);
      const got = listed.get(chain.name) ?? { comments: [], handles: [] };
      if (sameComments(want, got.comments)) this.chains.set(chain.name, got);
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
      if (c && !complete(c) && (o.op === "replace-chain" || c.comments.length >= min)) out.push(name!);
    }
    return out.sort();
  }

  /** Fills in handles of `names` from a listing of those chains; a chain whose listed comments
   *  differ from what it should hold (or that is missing) is forgotten. */
  fillIn(names: string[], listing: unknown, t: NftTarget = DEFAULT_TARGET): void {
    const listed = listedChains(listing, t);
    for (const name of names) {
      const c = this.chains.get(name);
      const got = listed.get(name);
      if (c && got && sameComments(c.comments, got.comments)) this.chains.set(name, got);
      else this.chains.delete(name);
    }
  }
}

function sameComments(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((c, i) => c === b[i]);
}

/** Per chain, the rules of a `nft -j -a list` listing, in order. */
function listedChains(listing: unknown, t: NftTarget): Map<string, KnownChain> {
  const listed = new Map<string, KnownChain>();
  for (const item of (listing as { nftables?: unknown[] } | null)?.nftables ?? []) {
    const o = item as { chain?: { family?: string; table?: string; name?: string }; rule?: { family?: string; table?: string; chain?: string; handle?: number; comment?: string } };
    if (o.chain && o.chain.family === t.family && o.chain.table === t.table && typeof o.chain.name === "string" && !listed.has(o.chain.name)) listed.set(o.chain.name, { comments: [], handles: [] });
    const r = o.rule;
    if (!r || r.family !== t.family || r.table !== t.table || typeof r.chain !== "string" || typeof r.handle !== "number") continue;
    let c = listed.get(r.chain);
    if (!c) listed.set(r.chain, (c = { comments: [], handles: [] }));
    c.comments.push(r.comment ?? "");
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
  /** Largest LCS table (old × new rules in the changed middle of a chain). */
  maxLcsCells?: number;
}

const DEFAULTS: Required<RuleEditOptions> = { renameMinRules: 32, maxLcsCells: 250_000 };

type KernelRule = { expr: NftExpr[]; comment: string };

/** The commands editing one known chain into `next`, and its handles after them (-1: new rule). */
interface ChainEdit {
  cmds: NftCommand[];
  handles: number[];
}

/** Pairs of (old index, new index) of rules kept in place, increasing in both. */
function keptRules(old: string[], next: string[], maxCells: number): Array<[number, number]> {
  const n = old.length;
  const m = next.length;
  let p = 0;
  while (p < n && p < m && old[p] === next[p]) p++;
  let s = 0;
  while (s < n - p && s < m - p && old[n - 1 - s] === next[m - 1 - s]) s++;
  const kept: Array<[number, number]> = [];
  for (let i = 0; i < p; i++) kept.push([i, i]);
  // The changed middle: longest common subsequence when it is small enough, else nothing kept.
  const a = n - p - s;
  const b = m - p - s;
  if (a > 0 && b > 0 && (a + 1) * (b + 1) <= maxCells) {
    const w = b + 1;
    const len = new Int32Array((a + 1) * w);
    for (let i = a - 1; i >= 0; i--) {
      for (let j = b - 1; j >= 0; j--) {
        len[i * w + j] = old[p + i] === next[p + j] ? len[(i + 1) * w + j + 1]! + 1 : Math.max(len[(i + 1) * w + j]!, len[i * w + j + 1]!);
      }
    }
    let i = 0;
    let j = 0;
    while (i < a && j < b) {
      if (old[p + i] === next[p + j]) {
        kept.push([p + i, p + j]);
        i++;
        j++;
      } else if (len[(i + 1) * w + j]! >= len[i * w + j + 1]!) i++;
      else j++;
    }
  }
  for (let k = s; k > 0; k--) kept.push([n - k, m - k]);
  return kept;
}

function ruleObj(t: NftTarget, chain: string, r: KernelRule, extra: { [k: string]: Json } = {}): { [k: string]: Json } {
  return { rule: { family: t.family, table: t.table, chain, ...extra, comment: r.comment, expr: r.expr } };
}

/**
 * Edits of `old` into `next`, or undefined when flushing and refilling the chain is no more
 * commands (nothing, or little, carries over).
 */
export function chainEdit(name: string, old: KnownChain, next: KernelRule[], t: NftTarget, maxCells = DEFAULTS.maxLcsCells): ChainEdit | undefined {
  if (!complete(old)) return undefined;
  const comments = next.map((r) => r.comment);
  const kept = keptRules(old.comments, comments, maxCells);
  if (kept.length === 0) return undefined;
  const cmds: NftCommand[] = [];
  const handles = new Array<number>(next.length).fill(-1);
  for (const [o, n] of kept) handles[n] = old.handles[o]!;
  // Gaps between kept rules (and before the first, after the last): old rules that go, new rules
  // that come. Pairs become `replace rule` (the handle stays); extra old rules are deleted; extra
  // new ones are inserted before the kept rule that follows, or appended at the end of the chain.
  let prevOld = -1;
  let prevNew = -1;
  for (let g = 0; g <= kept.length; g++) {
    const [nextOld, nextNew] = g < kept.length ? kept[g]! : [old.comments.length, next.length];
    const gone = nextOld - prevOld - 1;
    const come = nextNew - prevNew - 1;
    const pairs = Math.min(gone, come);
    for (let k = 0; k < pairs; k++) {
      const h = old.handles[prevOld + 1 + k]!;
      handles[prevNew + 1 + k] = h;
      cmds.push({ replace: ruleObj(t, name, next[prevNew + 1 + k]!, { handle: h }) });
    }
    for (let k = pairs; k < gone; k++) cmds.push({ delete: { rule: { family: t.family, table: t.table, chain: name, handle: old.handles[prevOld + 1 + k]! } } });
    for (let k = pairs; k < come; k++) {
      const at = prevNew + 1 + k;
      cmds.push(g < kept.length ? { insert: ruleObj(t, name, next[at]!, { handle: old.handles[nextOld]! }) } : { add: ruleObj(t, name, next[at]!) });
    }
    prevOld = nextOld;
    prevNew = nextNew;
  }
  // Flush + refill is 1 + next.length commands.
  if (cmds.length > next.length) return undefined;
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

  // Renames: a chain created (add-chain) that carries over many rules of a chain deleted in the
  // same delta, not a base chain, and not named by a map (map elements name their chain).
  const renames = new Map<string, string>(); // new name → old name
  const deleted = ops.filter((x): x is Extract<DpOp, { op: "delete-chain" }> => x.op === "delete-chain").map((x) => x.name);
  const mapTargets = new Set<string>();
  for (const m of Object.values(from.maps)) for (const e of Object.values(m.elements)) mapTargets.add(e.chain);
  const candidates = deleted.filter((n) => {
    const k = known.get(n);
    return k !== undefined && k.comments.length >= o.renameMinRules && !from.chains[n]?.base && !mapTargets.has(n);
  });
  if (candidates.length > 0) {
    const taken = new Set<string>();
    const commentSets = new Map(candidates.map((n) => [n, new Set(known.get(n)!.comments)]));
    for (const x of ops) {
      if (x.op !== "add-chain" || x.chain.base || x.chain.rules.length === 0) continue;
      const next = rules(x.chain);
      if (next.length < o.renameMinRules) continue;
      let best: string | undefined;
      let bestOverlap = o.renameMinRules - 1;
      for (const n of candidates) {
        if (taken.has(n)) continue;
        const set = commentSets.get(n)!;
        let overlap = 0;
        for (const r of next) if (set.has(r.comment)) overlap++;
        // Worth it only if editing beats refilling: (old − overlap) deletes + (next − overlap) adds < next.
        if (overlap > bestOverlap && known.get(n)!.comments.length < 2 * overlap) [best, bestOverlap] = [n, overlap];
      }
      if (best !== undefined) {
        taken.add(best);
        renames.set(x.chain.name, best);
      }
    }
  }

  const steps: DeltaStep[] = [];
  if (renames.size > 0) {
    const pairs = [...renames].sort(([a], [b]) => (a < b ? -1 : 1));
    steps.push({
      batch: { nftables: pairs.map(([to, old]) => ({ rename: { chain: { family: t.family, table: t.table, name: old, newname: to } } })) },
      learn: () => {
        for (const [to, old] of pairs) known.rename(old, to);
      },
    });
  }

  // The main transaction: renderOps' phases, with each known chain's rules edited by handle.
  // `known` is read as it will be after the renames.
  const renamedAway = new Set(renames.values());
  const knownAfter = (name: string) => (renames.has(name) ? known.get(renames.get(name)!) : renamedAway.has(name) ? undefined : known.get(name));
  const pending: Array<{ chain: string; comments: string[]; handles: number[] }> = [];
  const forgotten: string[] = [];
  const mainOps: DpOp[] = [];
  const edits: NftCommand[] = [];
  for (const x of ops) {
    if (x.op === "delete-chain" && renamedAway.has(x.name)) continue; // it lives on under its new name
    const chain = x.op === "replace-chain" || (x.op === "add-chain" && renames.has(x.chain.name)) ? x.chain : undefined;
    if (chain) {
      const next = rules(chain);
      const old = knownAfter(chain.name);
      const edit = old ? chainEdit(chain.name, old, next, t, o.maxLcsCells) : undefined;
      if (edit) {
        edits.push(...edit.cmds);
        pending.push({ chain: chain.name, comments: next.map((r) => r.comment), handles: edit.handles });
        continue;
      }
      // Flushed and refilled: every rule is fresh. A renamed chain keeps its name (no add-chain).
      pending.push({ chain: chain.name, comments: next.map((r) => r.comment), handles: next.map(() => -1) });
      mainOps.push(x.op === "add-chain" ? { op: "replace-chain", chain } : x);
      continue;
    }
    if (x.op === "add-chain") {
      const next = rules(x.chain);
      pending.push({ chain: x.chain.name, comments: next.map((r) => r.comment), handles: next.map(() => -1) });
    }
    if (x.op === "delete-chain") forgotten.push(x.name);
    mainOps.push(x);
  }
  const batch = renderOps(mainOps, to, from, t, { ruleEdits: edits, rulesOf: rules });
  if (batch.nftables.length > 0 || steps.length === 0) {
    steps.push({
      batch,
      learn: () => {
        for (const name of forgotten) known.delete(name);
        for (const p of pending) known.set(p.chain, { comments: p.comments, handles: p.handles });
      },
    });
  }
  if (steps.length === 0) throw new BugError("planRuleEdits: no step");
  return steps;
}
