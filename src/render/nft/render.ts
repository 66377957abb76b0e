/**
 * Dataplane model → nft JSON batches for `nft -j -f -`. Two entry points:
 *
 *  - renderFull(model): one transaction that atomically replaces tortie's table. nft 1.0.6 has no
 *    `destroy`, so the idiom is add table (no-op if present) → delete table → add table + content.
 *    Order inside: sets, chains, maps, rules (maps reference chains, rules reference both).
 *  - renderOps(ops, to): one transaction applying a diff (dataplane/diff.ts). Creation happens
 *    before use and deletion after the last use inside the same transaction:
 *      new sets / maps / chain declarations → element removals and additions → rules of new and
 *      replaced chains (flush + add) → map element changes → flush doomed chains → delete maps →
 *      delete chains → delete sets.
 *
 * Every kernel rule carries a comment "<12-char content hash> <origin label>"; drift detection
 * compares those hashes with what the kernel lists, so it never has to parse nft's re-printed
 * expressions.
 */
import { createHash } from "node:crypto";
import {
  COMMENT_HASH_LEN,
  ruleComment,
  TABLE_FAMILY,
  TABLE_NAME,
  type DataplaneModel,
  type DpChain,
  type DpMap,
  type DpMapTarget,
  type DpOp,
  type DpSet,
} from "../../dataplane/index.js";
import { listArray } from "../../model/index.js";
import { elementValue, ruleExprLists, setTypeOf, type Json, type NftExpr } from "./expr.js";

export type NftCommand = { [verb: string]: { [object: string]: Json } };
export interface NftBatch {
  nftables: NftCommand[];
}

export interface NftTarget {
  family: string;
  table: string;
}

export const DEFAULT_TARGET: NftTarget = { family: TABLE_FAMILY, table: TABLE_NAME };

/**
 * The content hash of a kernel rule, for its comment. A jump or goto target is left out: the
 * kernel keeps a jump pointing at the chain object when that chain is renamed (rule-edits.ts
 * renames group chains), so the comment stays true across a rename. The target is still compared:
 * drift digests (state.ts) and rule edits key a rule by hash and target (`ruleTarget`).
 */
export function hashExprs(exprs: NftExpr[]): string {
  // Verdicts come last in our rules; a replacer function would slow every stringify down.
  const last = exprs[exprs.length - 1] as { jump?: unknown; goto?: unknown } | undefined;
  const text = last?.jump !== undefined ? JSON.stringify([...exprs.slice(0, -1), { jump: { target: "" } }]) : last?.goto !== undefined ? JSON.stringify([...exprs.slice(0, -1), { goto: { target: "" } }]) : JSON.stringify(exprs);
  return createHash("sha256").update(text).digest("base64url").slice(0, COMMENT_HASH_LEN);
}

/** The chain a rule's jump or goto names (listed or rendered expression), if any. */
export function ruleTarget(exprs: readonly unknown[] | undefined): string | undefined {
  const last = exprs?.[exprs.length - 1] as { jump?: { target?: unknown }; goto?: { target?: unknown } } | undefined;
  const t = last?.jump?.target ?? last?.goto?.target;
  return typeof t === "string" ? t : undefined;
}

export interface KernelRule {
  expr: NftExpr[];
  comment: string;
}

/** A model chain's kernel rules with their comments, in order. */
export function chainRules(c: DpChain): KernelRule[] {
  const out: KernelRule[] = [];
  for (const r of c.rules) {
    for (const expr of ruleExprLists(r)) out.push({ expr, comment: ruleComment(hashExprs(expr), r.label) });
  }
  return out;
}

function tableObj(t: NftTarget): { [k: string]: Json } {
  return { table: { family: t.family, name: t.table } };
}

function setObj(s: DpSet, t: NftTarget, withElements: boolean): { [k: string]: Json } {
  const o: { [k: string]: Json } = { family: t.family, table: t.table, name: s.name, type: setTypeOf(s.family, s.fields) };
  if (s.interval) o.flags = ["interval"];
  if (withElements && s.elements.length > 0) o.elem = listArray(s.elements).map((e) => elementValue(e, s.fields));
  return { set: o };
}

function mapElem(k: string, v: DpMapTarget): Json {
  return [k, { [v.verdict]: { target: v.chain } }];
}

function mapObj(m: DpMap, t: NftTarget, withElements: boolean): { [k: string]: Json } {
  const o: { [k: string]: Json } = { family: t.family, table: t.table, name: m.name, type: "ifname", map: "verdict" };
  const els = Object.entries(m.elements).sort(([a], [b]) => (a < b ? -1 : 1));
  if (withElements && els.length > 0) o.elem = els.map(([k, v]) => mapElem(k, v));
  return { map: o };
}

function chainObj(c: DpChain, t: NftTarget): { [k: string]: Json } {
  const o: { [k: string]: Json } = { family: t.family, table: t.table, name: c.name };
  if (c.base) {
    o.type = "filter";
    o.hook = c.base.hook;
    o.prio = c.base.priority;
    o.policy = c.base.policy;
  }
  return { chain: o };
}

function ruleCmds(c: DpChain, t: NftTarget, rulesOf: (c: DpChain) => KernelRule[] = chainRules): NftCommand[] {
  return rulesOf(c).map(({ expr, comment }) => ({ add: { rule: { family: t.family, table: t.table, chain: c.name, comment, expr } } }));
}

function elementCmd(verb: "add" | "delete", s: { name: string; fields: DpSet["fields"] }, elements: string[], t: NftTarget): NftCommand {
  return { [verb]: { element: { family: t.family, table: t.table, name: s.name, elem: elements.map((e) => elementValue(e, s.fields)) } } };
}

/** Whole table, replacing whatever tortie's table held, in one transaction. */
export function renderFull(model: DataplaneModel, t: NftTarget = DEFAULT_TARGET): NftBatch {
  const cmds: NftCommand[] = [{ add: tableObj(t) }, { delete: tableObj(t) }, { add: tableObj(t) }];
  for (const s of model.sets.valueList()) cmds.push({ add: setObj(s, t, true) });
  const chains = model.chains.valueList();
  for (const c of chains) cmds.push({ add: chainObj(c, t) });
  for (const m of Object.values(model.maps)) cmds.push({ add: mapObj(m, t, true) });
  for (const c of chains) cmds.push(...ruleCmds(c, t));
  return { nftables: cmds };
}

/** Removes tortie's table (used on shutdown and by tests); a no-op when it does not exist. */
export function renderDeleteTable(t: NftTarget = DEFAULT_TARGET): NftBatch {
  return { nftables: [{ add: tableObj(t) }, { delete: tableObj(t) }] };
}

/** What rule-edits.ts adds to a delta: rule commands by handle, and its cache of chainRules. */
export interface RenderOpsExtras {
  /** Rule commands (deletes by handle, prepends, appends) that run with the rules of changed chains. */
  ruleEdits?: NftCommand[];
  rulesOf?: (c: DpChain) => KernelRule[];
}

/**
 * One transaction applying `ops` (computed from the model the kernel holds to `to`). `to` supplies
 * set field layouts for element operations on sets that are not being created.
 */
export function renderOps(ops: DpOp[], to: DataplaneModel, from: DataplaneModel, t: NftTarget = DEFAULT_TARGET, extras: RenderOpsExtras = {}): NftBatch {
  const rulesOf = extras.rulesOf ?? chainRules;
  // 0 create, 1 elements, 2 rules, 3 map elements, 4 flush doomed chains, 5 delete maps,
  // 6 delete chains, 7 delete sets. Doomed chains are all flushed before any is deleted because
  // they may jump to each other; maps go before chains because their elements name chains.
  const phase: NftCommand[][] = [[], [], [], [], [], [], [], []];
  const fieldsOf = (name: string) => to.sets.get(name) ?? from.sets.get(name);
  if (extras.ruleEdits) phase[2]!.push(...extras.ruleEdits);
  for (const o of ops) {
    switch (o.op) {
      case "add-set":
        phase[0]!.push({ add: setObj(o.set, t, true) });
        break;
      case "add-map":
        phase[0]!.push({ add: mapObj(o.map, t, false) });
        phase[3]!.push(...(Object.keys(o.map.elements).length > 0 ? [{ add: { element: { family: t.family, table: t.table, name: o.map.name, elem: Object.entries(o.map.elements).map(([k, v]) => mapElem(k, v)) } } }] : []));
        break;
      case "add-chain":
        phase[0]!.push({ add: chainObj(o.chain, t) });
        phase[2]!.push(...ruleCmds(o.chain, t, rulesOf));
        break;
      case "replace-chain":
        phase[2]!.push({ flush: chainObj(o.chain, t) }, ...ruleCmds(o.chain, t, rulesOf));
        break;
      case "delete-elements": {
        const s = fieldsOf(o.set);
        if (s) phase[1]!.unshift(elementCmd("delete", s, o.elements, t));
        break;
      }
      case "add-elements": {
        const s = fieldsOf(o.set);
        if (s) phase[1]!.push(elementCmd("add", s, o.elements, t));
        break;
      }
      case "delete-map-elements":
        phase[3]!.unshift({ delete: { element: { family: t.family, table: t.table, name: o.map, elem: o.keys } } });
        break;
      case "add-map-elements":
        phase[3]!.push({ add: { element: { family: t.family, table: t.table, name: o.map, elem: Object.entries(o.elements).map(([k, v]) => mapElem(k, v)) } } });
        break;
      case "delete-chain": {
        // A chain must be empty and unreferenced to be deleted: flush it first; references from
        // other chains and maps were removed in earlier phases of this transaction.
        const c = { family: t.family, table: t.table, name: o.name };
        phase[4]!.push({ flush: { chain: c } });
        phase[6]!.push({ delete: { chain: c } });
        break;
      }
      case "delete-map":
        phase[5]!.push({ delete: { map: { family: t.family, table: t.table, name: o.name } } });
        break;
      case "delete-set":
        phase[7]!.push({ delete: { set: { family: t.family, table: t.table, name: o.name } } });
        break;
    }
  }
  return { nftables: phase.flat() };
}
