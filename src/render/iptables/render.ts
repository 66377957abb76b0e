/**
 * Dataplane model → what iptables and ipset must hold, per family and table (IptRendered). The
 * restore texts are produced from this by plan.ts; the drift digest by state.ts.
 *
 * Layout (SEMANTICS §8, Felix's iptables mode):
 *  - Base chains. A model base chain (hook + priority) lives in the table its priority names
 *    (raw −300, mangle −150, filter 0) under Felix's name cali-<BUILTIN> (cali-FORWARD,
 *    cali-INPUT, cali-OUTPUT, cali-PREROUTING). The built-in chain gets ONE rule at position 1,
 *    `-j cali-<BUILTIN>`; the built-in chains are never flushed and their policy is not touched.
 *    Falling off cali-X returns to the built-in chain, whose remaining rules and policy then apply,
 *    which is how an nft base chain with policy accept lets the packet on to the next hook user.
 *  - Other chains go, under their model names, into every table whose base chains reach them
 *    (jump, goto, dispatch map). A policy chain used by both filter and mangle exists in both.
 *  - Every chain exists in both families; a rule lands in the family its conditions name (a rule
 *    with no family condition lands in both).
 *  - Dispatch maps (iptables has no verdict maps) become `-i <iface> -g <chain>` rules in the chain
 *    that dispatches. From `dispatchTrieMin` elements on, Felix's prefix trie: `-i cali5+ -g
 *    cali-from-wl-dispatch-5` with the elements in the sub-chain. A goto'd sub-chain cannot fall
 *    back into its parent, so it ends with a copy of the rules that follow the dispatch in the
 *    parent (in the model: the "unknown interface" drop) — exactly what the parent would run next.
 *  - Every rule carries `-m comment --comment "<12-char hash of its arguments> <origin label>"`;
 *    drift detection compares hashes and never parses iptables-save's re-printed rules.
 */
import { createHash } from "node:crypto";
import { BugError } from "../../model/index.js";
import {
  changesSince,
  COMMENT_HASH_LEN,
  lengthLimited,
  MAX_CHAIN_NAME,
  ruleComment,
  type DataplaneModel,
  type DpChain,
  type DpMap,
  type DpRule,
  type Family,
  type Hook,
} from "../../dataplane/index.js";
import { ipsetDef, type IpsetDef } from "./ipset.js";
import { alternativesWithIface, renderRule, translateMatch, type IptTable, type KRule, type RuleContext } from "./rule.js";

export interface IptOptions {
  /** Two mark bits for match blocks, disjoint from the model's marks (Felix: scratch0/1 from
   *  IptablesMarkMask, allocated after accept and pass). */
  scratchMarks: readonly [number, number];
  /** Dispatch maps with at least this many interfaces become a prefix trie of chains. */
  dispatchTrieMin: number;
  families: Family[];
}

export const DEFAULT_IPT_OPTIONS: IptOptions = { scratchMarks: [0x40000, 0x80000], dispatchTrieMin: 16, families: [4, 6] };

export interface IptRule {
  /** Everything after `-A <chain>`, comment first. */
  spec: string;
  /** Content hash (also the start of the comment). */
  hash: string;
}

export interface IptJump {
  builtin: string;
  chain: string;
  rule: IptRule;
}

export interface IptTableRender {
  family: Family;
  table: IptTable;
  /** Our chains in this table, sorted by name. */
  chains: Record<string, IptRule[]>;
  /** Rules we insert at the top of built-in chains, in order. */
  jumps: IptJump[];
}

export interface IptRendered {
  /** Non-empty tables only; order: family 4 then 6; raw, mangle, filter. */
  tables: IptTableRender[];
  sets: Record<string, IpsetDef>;
}

export const TABLES: readonly IptTable[] = ["raw", "mangle", "filter"];

const HOOK_BUILTIN: Record<Hook, string> = { prerouting: "PREROUTING", input: "INPUT", forward: "FORWARD", output: "OUTPUT" };
const TABLE_BUILTINS: Record<IptTable, readonly string[]> = {
  raw: ["PREROUTING", "OUTPUT"],
  mangle: ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
  filter: ["INPUT", "FORWARD", "OUTPUT"],
};

export function builtinChains(table: IptTable): readonly string[] {
  return TABLE_BUILTINS[table];
}

function tableOfPriority(p: number, chain: string): IptTable {
  if (p === -300) return "raw";
  if (p === -150) return "mangle";
  if (p === 0) return "filter";
  throw new BugError(`base chain ${chain}: priority ${p} has no iptables table (raw −300, mangle −150, filter 0)`);
}

/** Felix's name for our top chain under a built-in chain. */
export function baseChainName(builtin: string): string {
  return `cali-${builtin}`;
}

export function hashArgs(args: string[]): string {
  return createHash("sha256").update(JSON.stringify(args)).digest("base64url").slice(0, COMMENT_HASH_LEN);
}

const PLAIN = /^[A-Za-z0-9_.:/,+@=%!-]+$/;

/** One argument as iptables-restore reads it: bare, or double-quoted when it has spaces. */
export function quoteArg(a: string): string {
  if (PLAIN.test(a)) return a;
  if (/["\\\n]/.test(a)) throw new BugError(`iptables argument ${JSON.stringify(a)} cannot be quoted for iptables-restore`);
  return `"${a}"`;
}

/** Comments are free text: characters iptables-restore cannot quote are replaced. */
function commentText(hash: string, label: string | undefined): string {
  return ruleComment(hash, label?.replace(/["\\]/g, "'").replace(/\n/g, " "));
}

export function toRule(k: KRule): IptRule {
  const hash = hashArgs(k.args);
  return { hash, spec: ["-m", "comment", "--comment", commentText(hash, k.label), ...k.args].map(quoteArg).join(" ") };
}

interface Placement {
  /** model chain name → kernel chain name, per table */
  tables: Map<IptTable, { chains: Set<string>; bases: Array<{ builtin: string; model: string }> }>;
  rename: Map<string, string>;
}

/** Which tables each chain must exist in: reachability from that table's base chains. */
function place(model: DataplaneModel): Placement {
  const tables = new Map<IptTable, { chains: Set<string>; bases: Array<{ builtin: string; model: string }> }>();
  const rename = new Map<string, string>();
  const seenBase = new Set<string>();
  for (const c of model.chains.valueList()) {
    if (!c.base) continue;
    const table = tableOfPriority(c.base.priority, c.name);
    const builtin = HOOK_BUILTIN[c.base.hook];
    if (!TABLE_BUILTINS[table].includes(builtin)) throw new BugError(`base chain ${c.name}: table ${table} has no ${builtin} chain`);
    const key = `${table} ${builtin}`;
    if (seenBase.has(key)) throw new BugError(`two base chains for ${key}`);
    seenBase.add(key);
    rename.set(c.name, baseChainName(builtin));
    let t = tables.get(table);
    if (!t) tables.set(table, (t = { chains: new Set(), bases: [] }));
    t.bases.push({ builtin, model: c.name });
  }
  const targets = (c: DpChain): readonly string[] => {
    const facts = factsOf(c.rules);
    if (!facts.dispatch) return facts.targets;
    // A dispatch rule's targets are the map's elements, which change without the rules changing.
    const out: string[] = [];
    for (const r of c.rules) {
      const v = r.verdict;
      if (v?.kind === "jump" || v?.kind === "goto") out.push(v.chain);
      else if (v?.kind === "dispatch") for (const t of Object.values(model.maps[v.map]?.elements ?? {})) out.push(t.chain);
    }
    return out;
  };
  const reached = new Set<string>();
  for (const [, t] of tables) {
    const todo = t.bases.map((b) => b.model);
    while (todo.length > 0) {
      const name = todo.pop()!;
      if (t.chains.has(name)) continue;
      const c = model.chains.get(name);
      if (!c) throw new BugError(`reference to missing chain ${name}`);
      t.chains.add(name);
      reached.add(name);
      todo.push(...targets(c));
    }
  }
  // Unreachable chains still exist (in filter), so the kernel shows everything the model holds.
  for (const name of model.chains.keys()) {
    if (reached.has(name)) continue;
    let t = tables.get("filter");
    if (!t) tables.set("filter", (t = { chains: new Set(), bases: [] }));
    t.chains.add(name);
  }
  return { tables, rename };
}

/** Model marks must leave the scratch bits alone, or match blocks would corrupt them. */
function checkScratch(model: DataplaneModel, scratch: readonly [number, number]): void {
  const [s0, s1] = scratch;
  if (!s0 || !s1 || (s0 & s1) !== 0) throw new BugError(`scratch marks must be two disjoint non-zero bit sets`);
  let used = model.config.markAccept | model.config.markPass;
  for (const c of model.chains.valueList()) used |= factsOf(c.rules).marks;
  if ((used & (s0 | s1)) !== 0) throw new BugError(`model mark bits ${used.toString(16)} overlap the iptables scratch marks`);
}

class ChainRenderer {
  readonly helpers = new Map<string, KRule[]>();
  constructor(
    private readonly ctx: RuleContext,
    private readonly opts: IptOptions,
  ) {}

  rules(chain: string, rules: DpRule[]): KRule[] {
    const out: KRule[] = [];
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!;
      const v = r.verdict;
      if (v?.kind === "dispatch") {
        const map = this.ctx.maps[v.map];
        if (!map) throw new BugError(`${chain} dispatches through missing map ${v.map}`);
        const keys = Object.keys(map.elements).sort();
        if (keys.length >= this.opts.dispatchTrieMin) {
          out.push(...this.trie(chain, r, keys, rules.slice(i + 1)));
          continue;
        }
      }
      out.push(...renderRule(r, this.ctx));
    }
    return out;
  }

  private trie(chain: string, r: DpRule, keys: string[], rest: DpRule[]): KRule[] {
    const v = r.verdict as Extract<DpRule["verdict"], { kind: "dispatch" }>;
    if (r.effects && r.effects.length > 0) throw new BugError(`${chain}: a dispatch rule with effects cannot become a trie`);
    const t = translateMatch(r.match, this.ctx);
    if (!t || t.alts.length === 0) return [];
    const map = this.ctx.maps[v.map]!;
    const flag = v.iface === "in" ? "-i" : "-o";
    const label = r.label;
    const mk = (args: string[]): KRule => (label !== undefined ? { args, label } : { args });
    const target = (k: string) => {
      const e = map.elements[k]!;
      return [e.verdict === "goto" ? "-g" : "-j", this.ctx.chainName(e.chain)];
    };
    const tail = this.rules(chain, rest);
    let common = keys[0]!;
    for (const k of keys) while (!k.startsWith(common)) common = common.slice(0, -1);
    const top: KRule[] = [...t.setup.map(mk)];
    // Rules of one trie level for `group` (all starting with `prefix`); `conds(iface)` gives the
    // conditions of a rule at this level (the dispatch rule's own conditions at the top level).
    const level = (group: string[], prefix: string, conds: (iface: string) => string[][]): KRule[] => {
      if (group.length < this.opts.dispatchTrieMin) return group.flatMap((k) => conds(k).map((c) => mk([...c, ...target(k)])));
      const byChar = new Map<string, string[]>();
      const exact: string[] = [];
      for (const k of group) {
        if (k === prefix) exact.push(k);
        else {
          const ch = k[prefix.length]!;
          let g = byChar.get(ch);
          if (!g) byChar.set(ch, (g = []));
          g.push(k);
        }
      }
      if (exact.length === 0 && byChar.size === 1) {
        const [ch] = [...byChar.keys()];
        return level(group, prefix + ch, conds);
      }
      const out: KRule[] = exact.flatMap((k) => conds(k).map((c) => mk([...c, ...target(k)])));
      for (const [ch, g] of [...byChar.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
        if (g.length === 1) {
          out.push(...conds(g[0]!).map((c) => mk([...c, ...target(g[0]!)])));
          continue;
        }
        const p = prefix + ch;
        const sub = lengthLimited(`${chain}-`, p.slice(common.length), MAX_CHAIN_NAME);
        if (this.helpers.has(sub)) throw new BugError(`dispatch trie chain ${sub} built twice`);
        this.helpers.set(sub, []);
        // Inside the sub-chain the dispatch rule's own conditions already hold.
        this.helpers.set(sub, [...level(g, p, (iface) => [[flag, iface]]), ...tail]);
        out.push(...conds(`${p}+`).map((c) => mk([...c, "-g", sub])));
      }
      return out;
    };
    top.push(...level(keys, "", (iface) => alternativesWithIface(t, v.iface, iface, this.ctx)));
    return top;
  }
}

/**
 * What render reads from a model chain's rule list alone. Model chains are immutable and shared by
 * the models the incremental builder makes, so these are computed once per rule list, and a new
 * model costs render only its new chains plus a lookup per chain: at 100k pods re-rendering all
 * ~46k rules was most of a pod add's 1.9 s with this backend, and scanning them all for marks and
 * jump targets was most of what was left of render.
 */
interface RulesFacts {
  /** A dispatch rule reads the interface maps and makes helper chains: rendered every time. */
  dispatch: boolean;
  /** Mark bits the rules match or set (checkScratch). */
  marks: number;
  /** Chains the rules jump or go to (place); unused when `dispatch`. */
  targets: readonly string[];
  /** Rendered rules by everything else rendering reads: family, table, kernel chain name, the
   *  context (options and base-chain renames, interned so comparing is cheap) and, for a dispatch
   *  chain, the maps it dispatches through. */
  renders: RulesRender[];
}

interface RulesRender {
  context: string;
  family: Family;
  table: IptTable;
  kname: string;
  maps: readonly (DpMap | undefined)[];
  rules: IptRule[];
  /** Trie sub-chains a dispatch rule made (empty for other chains). */
  helpers: ReadonlyArray<readonly [string, IptRule[]]>;
}

const NO_MAPS: readonly (DpMap | undefined)[] = [];

/** The maps a dispatch chain's rules name, in rule order (missing ones as undefined: rendering
 *  throws for them). */
function dispatchedMaps(rules: readonly DpRule[], model: DataplaneModel): (DpMap | undefined)[] {
  const out: (DpMap | undefined)[] = [];
  for (const r of rules) if (r.verdict?.kind === "dispatch") out.push(model.maps[r.verdict.map]);
  return out;
}

function sameMaps(a: readonly (DpMap | undefined)[], b: readonly (DpMap | undefined)[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function checkChainName(name: string): void {
  if (name.length > MAX_CHAIN_NAME) throw new BugError(`chain name ${name} longer than ${MAX_CHAIN_NAME}`);
  if (!name.startsWith("cali-")) throw new BugError(`chain ${name} is not one of ours (cali-*)`);
}
const rulesFacts = new WeakMap<readonly DpRule[], RulesFacts>();

function factsOf(rules: readonly DpRule[]): RulesFacts {
  let f = rulesFacts.get(rules);
  if (f) return f;
  let dispatch = false;
  let marks = 0;
  const targets: string[] = [];
  for (const r of rules) {
    for (const m of r.match) if (m.kind === "mark") marks |= m.mask;
    for (const e of r.effects ?? []) if (e.kind === "mark-set" || e.kind === "mark-clear") marks |= e.bits;
    const v = r.verdict;
    if (v?.kind === "jump" || v?.kind === "goto") targets.push(v.chain);
    else if (v?.kind === "dispatch") dispatch = true;
  }
  rulesFacts.set(rules, (f = { dispatch, marks, targets, renders: [] }));
  return f;
}

/** Render contexts seen, so that equal contexts are one string (compared by identity). */
const contexts = new Map<string, string>();
function internContext(key: string): string {
  const hit = contexts.get(key);
  if (hit !== undefined) return hit;
  if (contexts.size >= 256) contexts.clear(); // options are few; equal texts still compare equal after a clear
  contexts.set(key, key);
  return key;
}

export function render(model: DataplaneModel, options: Partial<IptOptions> = {}): IptRendered {
  const opts = { ...DEFAULT_IPT_OPTIONS, ...options };
  checkScratch(model, opts.scratchMarks);
  const { tables: placed, rename } = place(model);
  const chainName = (n: string) => rename.get(n) ?? n;
  const contextKey = internContext(JSON.stringify([opts, [...rename].sort()]));
  const tables: IptTableRender[] = [];
  for (const family of opts.families) {
    for (const table of TABLES) {
      const p = placed.get(table);
      if (!p) continue;
      const ctx: RuleContext = { family, table, scratch: opts.scratchMarks, maps: model.maps, chainName };
      const chains = new Map<string, IptRule[]>();
      const helpers: Array<readonly [string, IptRule[]]> = [];
      for (const name of p.chains) {
        const kname = chainName(name);
        if (chains.has(kname)) throw new BugError(`chain ${kname} twice in ${table}`);
        const rules = model.chains.get(name)!.rules;
        const facts = factsOf(rules);
        // A dispatch chain also reads the maps it dispatches through (kept as the same objects
        // by the builder while the local endpoints stay) and makes helper chains.
        const maps = facts.dispatch ? dispatchedMaps(rules, model) : NO_MAPS;
        let hit: RulesRender | undefined;
        for (const r of facts.renders) {
          if (r.context === contextKey && r.family === family && r.table === table && r.kname === kname && sameMaps(r.maps, maps)) {
            hit = r;
            break;
          }
        }
        if (!hit) {
          checkChainName(kname);
          const cr = new ChainRenderer(ctx, opts);
          const rendered = cr.rules(kname, rules).map(toRule);
          const made = [...cr.helpers].map(([h, hr]) => {
            checkChainName(h);
            return [h, hr.map(toRule)] as const;
          });
          hit = { context: contextKey, family, table, kname, maps, rules: rendered, helpers: made };
          // Dispatch renders are kept for the last maps only (the maps change with local endpoints).
          if (facts.dispatch) facts.renders = facts.renders.filter((r) => !(r.context === contextKey && r.family === family && r.table === table && r.kname === kname));
          facts.renders.push(hit);
        }
        chains.set(kname, hit.rules);
        helpers.push(...hit.helpers);
      }
      for (const [name, rules] of helpers) {
        if (chains.has(name)) throw new BugError(`helper chain ${name} collides with a model chain or another helper`);
        chains.set(name, rules);
      }
      const jumps: IptJump[] = p.bases
        .map((b) => ({ builtin: b.builtin, chain: chainName(b.model), rule: toRule({ args: ["-j", chainName(b.model)], label: "tortie" }) }))
        .sort((a, b) => (a.builtin < b.builtin ? -1 : 1));
      // Names are unique: the default sort (UTF-16 code units, the order of `<`) needs no callback.
      const sorted: Record<string, IptRule[]> = {};
      for (const name of [...chains.keys()].sort()) sorted[name] = chains.get(name)!;
      tables.push({ family, table, chains: sorted, jumps });
    }
  }
  return { tables, sets: renderSets(model, opts) };
}

function renderSets(model: DataplaneModel, opts: IptOptions): Record<string, IpsetDef> {
  const sets: Record<string, IpsetDef> = {};
  for (const s of model.sets.valueList()) if (opts.families.includes(s.family)) sets[s.name] = ipsetDef(s);
  return sets;
}

const cache = new WeakMap<DataplaneModel, Map<string, IptRendered>>();

/**
 * render() memoised per model object and options (the applier renders `from` and `to` each delta).
 * With `from`, a model rendered before: when `model`'s producer recorded that no chain object
 * changed since `from` (dataplane/diff.ts changesSince) and both have the same maps and config,
 * the tables are `from`'s, which they would equal, and only the sets are rendered. A pod add
 * changes sets alone, and walking ~4k chains per table to find nothing new was most of its render
 * at 100k pods.
 */
export function renderCached(model: DataplaneModel, options: Partial<IptOptions> = {}, from?: DataplaneModel): IptRendered {
  const key = JSON.stringify(options);
  let m = cache.get(model);
  if (!m) cache.set(model, (m = new Map()));
  let r = m.get(key);
  if (r) return r;
  const before = from && cache.get(from)?.get(key);
  if (before && from!.maps === model.maps && from!.config === model.config && changesSince(model, from!, "chains")?.length === 0) {
    r = { tables: before.tables, sets: renderSets(model, { ...DEFAULT_IPT_OPTIONS, ...options }) };
  } else r = render(model, options);
  m.set(key, r);
  return r;
}
