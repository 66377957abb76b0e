/**
 * The same ruleset as renderFull, printed in nft's own language (for `nft -f`, for reading, and as
 * the golden files of the renderer tests). Printed from the JSON expressions so the two forms can
 * never disagree; a real-kernel test loads both and compares the kernel's listings.
 */
import type { DataplaneModel } from "../../dataplane/index.js";
import type { Json, NftExpr } from "./expr.js";
import { elementValue, setTypeOf } from "./expr.js";
import { chainRules, DEFAULT_TARGET, type NftBatch, type NftTarget } from "./render.js";
import { MAPS } from "../../dataplane/index.js";
import { BugError, listArray } from "../../model/index.js";

const q = (s: string) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
/** Chain names: nft identifiers allow letters, digits, / - _ . ; anything else is quoted. */
const ident = (s: string) => (/^[A-Za-z_.][A-Za-z0-9/_.-]*$/.test(s) ? s : q(s));
const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, "0")}`;

function isObj(v: Json): v is { [k: string]: Json } {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function left(v: Json): string {
  if (!isObj(v)) return String(v);
  if (isObj(v.meta!)) return `meta ${(v.meta as { key: string }).key}`;
  if (isObj(v.payload!)) {
    const p = v.payload as { protocol: string; field: string };
    return `${p.protocol} ${p.field}`;
  }
  if (isObj(v.ct!)) return `ct ${(v.ct as { key: string }).key}`;
  if (Array.isArray(v.concat)) return v.concat.map(left).join(" . ");
  if (Array.isArray(v["&"])) return `${left(v["&"][0]!)} & ${value(v["&"][1]!, false)}`;
  if (Array.isArray(v["|"])) return `${left(v["|"][0]!)} | ${value(v["|"][1]!, false)}`;
  return JSON.stringify(v);
}

function value(v: Json, quoteStrings: boolean, isMark = false): string {
  if (typeof v === "number") return isMark ? hex(v) : String(v);
  if (typeof v === "string") return quoteStrings && !v.startsWith("@") ? q(v) : v;
  if (Array.isArray(v)) return v.map((x) => value(x, quoteStrings)).join(",");
  if (isObj(v)) {
    if (isObj(v.prefix!)) {
      const p = v.prefix as { addr: string; len: number };
      return `${p.addr}/${p.len}`;
    }
    if (Array.isArray(v.range)) return `${value(v.range[0]!, false)}-${value(v.range[1]!, false)}`;
    if (Array.isArray(v.set)) return `{ ${v.set.map((x) => value(x, quoteStrings)).join(", ")} }`;
    if (Array.isArray(v.concat)) return v.concat.map((x) => value(x, quoteStrings)).join(" . ");
  }
  return JSON.stringify(v);
}

function stmt(e: NftExpr): string {
  const [k, body] = Object.entries(e)[0]!;
  switch (k) {
    case "match": {
      const m = body as { op: string; left: Json; right: Json };
      const l = left(m.left);
      const quoteStrings = /ifname$/.test(l);
      const isMark = l.startsWith("meta mark");
      const op = m.op === "==" || m.op === "in" ? "" : `${m.op} `;
      return `${l} ${op}${value(m.right, quoteStrings, isMark)}`;
    }
    case "mangle": {
      const m = body as { key: Json; value: Json };
      const v = m.value as { [k: string]: Json[] };
      const [opk, args] = Object.entries(v)[0]!;
      return `${left(m.key)} set ${left(args[0]!)} ${opk} ${hex(args[1] as number)}`;
    }
    case "log": {
      const l = body as { prefix: string; group: number };
      return `log prefix ${q(l.prefix)} group ${l.group}`;
    }
    case "notrack":
    case "accept":
    case "drop":
    case "return":
      return k;
    case "jump":
    case "goto":
      return `${k} ${ident((body as { target: string }).target)}`;
    case "vmap": {
      const v = body as { key: Json; data: string };
      return `${left(v.key)} vmap ${v.data}`;
    }
    case "reject": {
      const r = body as { type: string; expr?: string };
      return r.expr ? `reject with ${r.type} ${r.expr}` : `reject with ${r.type}`;
    }
    default:
      throw new BugError(`nft text: no printer for statement ${k}`);
  }
}

function typeText(t: Json): string {
  return Array.isArray(t) ? t.join(" . ") : String(t);
}

function elementsText(els: string[]): string {
  return els.join(",\n\t\t\t     ");
}

function setElementText(e: Json): string {
  return value(e, false);
}

function mapElementText(e: Json): string {
  // [key, { goto|jump: { target } }]
  const [k, v] = e as [string, { [verdict: string]: { target: string } }];
  const [verdict, body] = Object.entries(v)[0]!;
  return `${q(k)} : ${verdict} ${ident(body.target)}`;
}

function ruleText(expr: NftExpr[], comment: string | undefined): string {
  const body = expr.map(stmt).join(" ");
  return `${body === "" ? "counter" : body}${comment === undefined ? "" : ` comment ${q(comment)}`}`;
}

export function renderText(model: DataplaneModel, t: NftTarget = DEFAULT_TARGET): string {
  const lines: string[] = [`table ${t.family} ${t.table}`, `delete table ${t.family} ${t.table}`, `table ${t.family} ${t.table} {`];
  for (const s of model.sets.valueList()) {
    lines.push(`\tset ${s.name} {`, `\t\ttype ${typeText(setTypeOf(s.family, s.fields))}`);
    if (s.interval) lines.push(`\t\tflags interval`);
    if (s.elements.length > 0) lines.push(`\t\telements = { ${elementsText(listArray(s.elements).map((e) => setElementText(elementValue(e, s.fields))))} }`);
    lines.push(`\t}`);
  }
  for (const m of Object.values(model.maps)) {
    lines.push(`\tmap ${m.name} {`, `\t\ttype ifname : verdict`);
    const els = Object.entries(m.elements).sort(([a], [b]) => (a < b ? -1 : 1));
    if (els.length > 0) lines.push(`\t\telements = { ${elementsText(els.map(([k, v]) => mapElementText([k, { [v.verdict]: { target: v.chain } }])))} }`);
    lines.push(`\t}`);
  }
  for (const c of model.chains.valueList()) {
    lines.push(`\tchain ${ident(c.name)} {`);
    if (c.base) lines.push(`\t\ttype filter hook ${c.base.hook} priority ${c.base.priority}; policy ${c.base.policy};`);
    for (const r of chainRules(c)) lines.push(`\t\t${ruleText(r.expr, r.comment)}`);
    lines.push(`\t}`);
  }
  lines.push(`}`);
  return lines.join("\n") + "\n";
}

type Obj = { [k: string]: Json };

const kindOf = (body: { [k: string]: Json }) => Object.keys(body)[0];

/**
 * A JSON batch (renderFull, renderOps, renderDeleteTable) as the same commands in nft's language,
 * one per line, for `nft -f` or an `include` (the nft session feeds batches this way: nft reads an
 * included file in blocks, where a line typed into `nft -i` goes through libedit one byte per
 * read(2), ~2 µs per byte). Every command and expression kind the renderers emit is printed; an
 * unknown one is a BugError rather than a guess. Map elements are told from set elements by the
 * map names (`MAPS`) and the maps the batch declares: a deleted map key is a bare string, like an
 * address in a set, but only the former may be quoted.
 */
export function batchText(batch: NftBatch): string {
  return batchTextWithin(batch, Infinity)!;
}

/** batchText, or undefined as soon as the text would pass `maxLength` characters (a caller
 *  that sends big batches another way stops printing a cold load's 40 MB early). */
export function batchTextWithin(batch: NftBatch, maxLength: number): string | undefined {
  const maps = new Set<string>(Object.values(MAPS));
  for (const c of batch.nftables) {
    const m = (c.add as Obj | undefined)?.map as Obj | undefined;
    if (m) maps.add(m.name as string);
  }
  const lines: string[] = [];
  let length = 0;
  for (const c of batch.nftables) {
    if (lines.length > 0) {
      length += lines[lines.length - 1]!.length + 1;
      if (length > maxLength) return undefined;
    }
    const [verb, body] = Object.entries(c)[0]!;
    const [kind, o] = Object.entries(body)[0]! as [string, Obj];
    if (verb !== "add" && verb !== "delete" && verb !== "flush" && verb !== "insert" && verb !== "rename") throw new BugError(`batchText: unknown command ${verb}`);
    if (verb === "insert" && kindOf(body) !== "rule") throw new BugError(`batchText: insert ${kindOf(body)} is not rendered by tortie`);
    if (verb === "rename" && kindOf(body) !== "chain") throw new BugError(`batchText: rename ${kindOf(body)} is not rendered by tortie`);
    const where = `${o.family as string} ${o.table as string}`;
    switch (kind) {
      case "table":
        lines.push(`${verb} table ${o.family as string} ${o.name as string}`);
        break;
      case "set":
      case "map": {
        const name = o.name as string;
        if (verb !== "add") {
          lines.push(`${verb} ${kind} ${where} ${name}`);
          break;
        }
        const parts = [kind === "map" ? `type ${o.type as string} : ${o.map as string};` : `type ${typeText(o.type!)};`];
        if (Array.isArray(o.flags) && o.flags.length > 0) parts.push(`flags ${o.flags.join(",")};`);
        if (Array.isArray(o.elem) && o.elem.length > 0) parts.push(`elements = { ${o.elem.map(kind === "map" ? mapElementText : setElementText).join(", ")} };`);
        lines.push(`add ${kind} ${where} ${name} { ${parts.join(" ")} }`);
        break;
      }
      case "chain": {
        const name = ident(o.name as string);
        if (verb === "rename") lines.push(`rename chain ${where} ${name} ${ident(o.newname as string)}`);
        else if (verb === "add" && o.hook !== undefined) lines.push(`add chain ${where} ${name} { type ${o.type as string} hook ${o.hook as string} priority ${o.prio as number}; policy ${o.policy as string}; }`);
        else lines.push(`${verb} chain ${where} ${name}`);
        break;
      }
      case "rule": {
        // Deletes name the rule by handle; adds append and inserts prepend. nft 1.0.6 fetches
        // every rule of the table before a positioned add/insert or a replace (rule-edits.ts), so
        // tortie renders none, and an attempt is a bug.
        const chain = `${where} ${ident(o.chain as string)}`;
        if (verb === "delete") lines.push(`delete rule ${chain} handle ${o.handle as number}`);
        else if ((verb === "add" || verb === "insert") && o.handle === undefined) lines.push(`${verb} rule ${chain} ${ruleText(o.expr as NftExpr[], o.comment as string | undefined)}`);
        else throw new BugError(`batchText: ${verb} rule${o.handle === undefined ? "" : " at a position"} is not rendered by tortie`);
        break;
      }
      case "element": {
        const name = o.name as string;
        const els = o.elem as Json[];
        const isMap = maps.has(name);
        const text = els.map((e) => (isMap ? (Array.isArray(e) ? mapElementText(e) : q(e as string)) : setElementText(e)));
        lines.push(`${verb} element ${where} ${name} { ${text.join(", ")} }`);
        break;
      }
      default:
        throw new BugError(`batchText: unknown object ${kind}`);
    }
  }
  if (lines.length > 0 && length + lines[lines.length - 1]!.length + 1 > maxLength) return undefined;
  return lines.join("\n") + "\n";
}
