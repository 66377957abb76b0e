/**
 * The same ruleset as renderFull, printed in nft's own language (for `nft -f`, for reading, and as
 * the golden files of the renderer tests). Printed from the JSON expressions so the two forms can
 * never disagree; a real-kernel test loads both and compares the kernel's listings.
 */
import type { DataplaneModel } from "../../dataplane/index.js";
import type { Json, NftExpr } from "./expr.js";
import { elementValue, setTypeOf } from "./expr.js";
import { chainRules, DEFAULT_TARGET, type NftTarget } from "./render.js";

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
      return JSON.stringify(e);
  }
}

function typeText(t: Json): string {
  return Array.isArray(t) ? t.join(" . ") : String(t);
}

export function renderText(model: DataplaneModel, t: NftTarget = DEFAULT_TARGET): string {
  const lines: string[] = [`table ${t.family} ${t.table}`, `delete table ${t.family} ${t.table}`, `table ${t.family} ${t.table} {`];
  for (const s of Object.values(model.sets)) {
    lines.push(`\tset ${s.name} {`, `\t\ttype ${typeText(setTypeOf(s.family, s.fields))}`);
    if (s.interval) lines.push(`\t\tflags interval`);
    if (s.elements.length > 0) lines.push(`\t\telements = { ${s.elements.map((e) => value(elementValue(e, s.fields), false)).join(",\n\t\t\t     ")} }`);
    lines.push(`\t}`);
  }
  for (const m of Object.values(model.maps)) {
    lines.push(`\tmap ${m.name} {`, `\t\ttype ifname : verdict`);
    const els = Object.entries(m.elements).sort(([a], [b]) => (a < b ? -1 : 1));
    if (els.length > 0) lines.push(`\t\telements = { ${els.map(([k, v]) => `${q(k)} : ${v.verdict} ${ident(v.chain)}`).join(",\n\t\t\t     ")} }`);
    lines.push(`\t}`);
  }
  for (const c of Object.values(model.chains)) {
    lines.push(`\tchain ${ident(c.name)} {`);
    if (c.base) lines.push(`\t\ttype filter hook ${c.base.hook} priority ${c.base.priority}; policy ${c.base.policy};`);
    for (const r of chainRules(c)) {
      const body = r.expr.map(stmt).join(" ");
      lines.push(`\t\t${body === "" ? "counter" : body} comment ${q(r.comment)}`);
    }
    lines.push(`\t}`);
  }
  lines.push(`}`);
  return lines.join("\n") + "\n";
}
