/**
 * Loads scenario files (docs/conformance.md describes the format). Every problem becomes an Issue
 * with a path and, where the YAML node is known, a line; nothing is thrown for a bad file except by
 * the `loadScenarios` convenience, which refuses to hand back a partially loaded suite.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { isIP } from "node:net";
import { LineCounter, parseAllDocuments, isNode, type Document } from "yaml";
import { z } from "zod";
import type { Issue } from "../model/index.js";
import { k8sE2eResources } from "./k8s-e2e-model.js";
import { expandProbes } from "./probes.js";
import { familyOf, parseEndpoint } from "./state.js";
import { parseTable } from "./table.js";
import type { Expectation, IcmpSpec, LabelChange, ProbeSpec, ResourceRef, Scenario, ScenarioResource, Step, Verdict } from "./types.js";

// ------------------------------------------------------------------ raw shape (zod)

const verdict = z.enum(["allow", "deny"]);
const protocol = z.union([z.string().min(1), z.number().int()]);
const port = z.number().int();
const icmp = z.strictObject({ type: z.number().int(), code: z.number().int().optional() });
const family = z.union([z.literal(4), z.literal(6)]);

const rawProbe = z.strictObject({
  from: z.string().min(1),
  to: z.string().min(1),
  protocol: protocol.optional(),
  port: port.optional(),
  icmp: icmp.optional(),
  family: family.optional(),
  verdict,
  reason: z.string().optional(),
});

const rawOverride = z.strictObject({ from: z.string().min(1), to: z.string().min(1), verdict });

const rawExpect = z.strictObject({
  protocol: z.union([protocol, z.array(protocol).min(1)]).optional(),
  port: z.union([port, z.array(port).min(1)]).optional(),
  icmp: icmp.optional(),
  family: family.optional(),
  table: z.string().optional(),
  default: verdict.optional(),
  overrides: z.array(rawOverride).optional(),
  among: z.array(z.string().min(1)).optional(),
  includeSelf: z.boolean().optional(),
  probes: z.array(rawProbe).optional(),
  note: z.string().optional(),
});

const rawRef = z.strictObject({ apiVersion: z.string().optional(), kind: z.string().min(1), namespace: z.string().optional(), name: z.string().min(1) });
const rawLabels = rawRef.extend({ labels: z.record(z.string(), z.string().nullable()) });
const rawResources = z.union([z.string(), z.array(z.record(z.string(), z.unknown()))]);

const rawStep = z.strictObject({
  name: z.string().optional(),
  apply: rawResources.optional(),
  delete: z.array(rawRef).optional(),
  setLabels: z.array(rawLabels).optional(),
  expect: z.array(rawExpect).optional(),
});

const rawScenario = z.strictObject({
  name: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "name must be lower-case kebab-case"),
  source: z.string().min(1),
  description: z.string().optional(),
  tags: z.array(z.string()).optional(),
  model: z.literal("k8s-e2e").optional(),
  resources: rawResources.optional(),
  expect: z.array(rawExpect).optional(),
  steps: z.array(rawStep).optional(),
});

type RawExpect = z.infer<typeof rawExpect>;
type RawProbe = z.infer<typeof rawProbe>;

// ------------------------------------------------------------------ public entry points

export interface LoadResult {
  scenarios: Scenario[];
  issues: Issue[];
}

/** Parses one file's text: one scenario per YAML document. */
export function parseScenarios(text: string, file = "<string>"): LoadResult {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const scenarios: Scenario[] = [];
  const issues: Issue[] = [];
  if (!Array.isArray(docs)) return { scenarios, issues }; // empty stream
  for (const doc of docs) {
    const at = (path: Array<string | number>) => position(doc, path, lineCounter, file);
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const lp = lineCounter.linePos(e.pos[0]);
        issues.push({ code: "yaml-syntax", path: [], message: e.message.split("\n")[0]!, severity: "error", pos: { file, line: lp.line, col: lp.col } });
      }
      continue;
    }
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) continue;
    const before = issues.length;
    const s = buildScenario(value, file, (path, code, message) => issues.push({ code, path, message, severity: "error", resource: `scenario ${nameOf(value)}`, ...at(path) }));
    if (s && issues.length === before) scenarios.push(s);
  }
  return { scenarios, issues };
}

/** Every scenario under `dir` (recursively, *.yaml / *.yml), sorted by file then position. Also
 *  reports duplicate scenario names across files. */
export function loadScenarioDir(dir: string): LoadResult {
  const files = walk(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  const out: LoadResult = { scenarios: [], issues: [] };
  const seen = new Map<string, string>();
  for (const f of files) {
    const rel = relative(process.cwd(), f) || f;
    const r = parseScenarios(readFileSync(f, "utf8"), rel);
    out.issues.push(...r.issues);
    for (const s of r.scenarios) {
      const prev = seen.get(s.name);
      if (prev) {
        out.issues.push({ code: "duplicate-scenario", path: ["name"], message: `scenario name ${s.name} is already used in ${prev}`, severity: "error", pos: { file: rel, line: 1, col: 1 } });
        continue;
      }
      seen.set(s.name, rel);
      out.scenarios.push(s);
    }
  }
  return out;
}

export class ScenarioLoadError extends Error {
  readonly code = "scenario-load";
  constructor(readonly issues: Issue[]) {
    super(`scenario files have ${issues.length} problem(s):\n${issues.map(formatIssue).join("\n")}`);
    this.name = "ScenarioLoadError";
  }
}

/** Loads a whole suite, or throws ScenarioLoadError listing every problem (a half-loaded
 *  conformance suite would silently test less). */
export function loadScenarios(dir: string): Scenario[] {
  const r = loadScenarioDir(dir);
  if (r.issues.length > 0) throw new ScenarioLoadError(r.issues);
  return r.scenarios;
}

export function formatIssue(i: Issue): string {
  const where = i.pos ? `${i.pos.file ?? ""}:${i.pos.line}:${i.pos.col}` : "";
  const path = i.path.length ? ` ${i.path.join(".")}` : "";
  return `${where}${i.resource ? ` ${i.resource}` : ""}${path}: ${i.message} [${i.code}]`;
}

// ------------------------------------------------------------------ building

type Emit = (path: Array<string | number>, code: string, message: string) => void;

function buildScenario(value: unknown, file: string, emit: Emit): Scenario | undefined {
  const parsed = rawScenario.safeParse(value);
  if (!parsed.success) {
    for (const i of parsed.error.issues) emit(i.path.map((p) => (typeof p === "symbol" ? String(p) : p)), "scenario-shape", i.message);
    return undefined;
  }
  const raw = parsed.data;
  if (raw.expect === undefined && raw.steps === undefined) emit([], "no-expectations", "a scenario needs `expect` or `steps`");
  const initial: ScenarioResource[] = raw.model === "k8s-e2e" ? k8sE2eResources() : [];
  const steps: Step[] = [];
  const step0Res = resourcesOf(raw.resources, ["resources"], emit);
  steps.push({ name: "initial", apply: [...initial, ...step0Res], delete: [], setLabels: [], expect: expectationsOf(raw.expect ?? [], ["expect"], emit) });
  (raw.steps ?? []).forEach((st, i) => {
    steps.push({
      name: st.name ?? `step ${i + 1}`,
      apply: resourcesOf(st.apply, ["steps", i, "apply"], emit),
      delete: (st.delete ?? []) as ResourceRef[],
      setLabels: (st.setLabels ?? []) as LabelChange[],
      expect: expectationsOf(st.expect ?? [], ["steps", i, "expect"], emit),
    });
  });
  const scenario: Scenario = { name: raw.name, source: raw.source, tags: raw.tags ?? [], model: raw.model ?? null, steps, file };
  if (raw.description !== undefined) scenario.description = raw.description;
  // Resolve every probe now so a typo in an endpoint fails at load time, not mid-run.
  const { problems } = expandProbes(scenario);
  for (const p of problems) emit(p.step === 0 ? p.path : ["steps", p.step - 1, ...p.path], "bad-probe", p.message);
  return scenario;
}

function resourcesOf(raw: string | Array<Record<string, unknown>> | undefined, path: Array<string | number>, emit: Emit): ScenarioResource[] {
  if (raw === undefined) return [];
  let items: unknown[];
  if (typeof raw === "string") {
    const docs = parseAllDocuments(raw);
    items = [];
    for (const d of Array.isArray(docs) ? docs : []) {
      if (d.errors.length > 0) {
        emit(path, "yaml-syntax", `in embedded resources: ${d.errors[0]!.message.split("\n")[0]}`);
        continue;
      }
      const v = d.toJS() as unknown;
      if (v !== null && v !== undefined) items.push(v);
    }
  } else items = raw;
  const out: ScenarioResource[] = [];
  items.forEach((it, i) => {
    const r = it as Partial<ScenarioResource>;
    if (typeof it !== "object" || it === null || Array.isArray(it)) return emit([...path, i], "bad-resource", "a resource must be a mapping");
    if (typeof r.apiVersion !== "string" || typeof r.kind !== "string") return emit([...path, i], "bad-resource", "a resource needs apiVersion and kind");
    if (typeof r.metadata !== "object" || r.metadata === null || typeof r.metadata.name !== "string") return emit([...path, i], "bad-resource", `${r.kind} needs metadata.name`);
    out.push(it as ScenarioResource);
  });
  return out;
}

const PORT_PROTOCOLS = new Set<string | number>(["TCP", "UDP", "SCTP", 6, 17, 132]);
const ICMP_PROTOCOLS = new Set<string | number>(["ICMP", "ICMPv6", 1, 58]);
const NAMED_PROTOCOLS = new Set(["TCP", "UDP", "SCTP", "ICMP", "ICMPv6", "UDPLite"]);

function checkTraffic(p: { protocol: string | number; port?: number; icmp?: IcmpSpec; family: 4 | 6 }, path: Array<string | number>, emit: Emit): boolean {
  const before = { n: 0 };
  const bad = (code: string, msg: string) => {
    before.n++;
    emit(path, code, msg);
  };
  if (typeof p.protocol === "string" && !NAMED_PROTOCOLS.has(p.protocol)) bad("bad-protocol", `protocol ${p.protocol} is not one of TCP, UDP, SCTP, ICMP, ICMPv6, UDPLite (exact case) or a number`);
  if (typeof p.protocol === "number" && (p.protocol < 1 || p.protocol > 255)) bad("bad-protocol", `protocol number ${p.protocol} is outside 1-255`);
  if (PORT_PROTOCOLS.has(p.protocol)) {
    if (p.port === undefined) bad("missing-port", `a ${p.protocol} probe needs a destination port`);
    else if (p.port < 1 || p.port > 65535) bad("bad-port", `port ${p.port} is outside 1-65535`);
  } else if (p.port !== undefined) bad("bad-port", `protocol ${p.protocol} has no ports`);
  if (p.icmp !== undefined && !ICMP_PROTOCOLS.has(p.protocol)) bad("bad-icmp", "icmp needs protocol ICMP or ICMPv6");
  if ((p.protocol === "ICMP" || p.protocol === 1) && p.family === 6) bad("bad-icmp", "ICMP is IPv4; use ICMPv6 for family 6");
  if ((p.protocol === "ICMPv6" || p.protocol === 58) && p.family === 4) bad("bad-icmp", "ICMPv6 is IPv6; use ICMP for family 4");
  if (p.icmp && (p.icmp.type < 0 || p.icmp.type > 255 || (p.icmp.code !== undefined && (p.icmp.code < 0 || p.icmp.code > 255)))) bad("bad-icmp", "icmp type and code are 0-255");
  return before.n === 0;
}

function defaultIcmp(protocol: string | number, family: 4 | 6, icmp?: IcmpSpec): IcmpSpec | undefined {
  if (icmp) return icmp;
  // An ICMP probe without type is a ping: echo request.
  if (protocol === "ICMP" || protocol === 1) return { type: 8, code: 0 };
  if (protocol === "ICMPv6" || protocol === 58) return { type: 128, code: 0 };
  return undefined;
}

function familyFor(protocol: string | number, explicit: 4 | 6 | undefined, endpoints: string[], path: Array<string | number>, emit: Emit): 4 | 6 {
  const literal = endpoints.filter((e) => isIP(e) !== 0).map(familyOf);
  const lit = [...new Set(literal)];
  if (lit.length > 1) emit(path, "mixed-family", "the probe mixes an IPv4 and an IPv6 address");
  const implied = protocol === "ICMPv6" || protocol === 58 ? 6 : protocol === "ICMP" || protocol === 1 ? 4 : undefined;
  const fam = explicit ?? lit[0] ?? implied ?? 4;
  if (lit.length === 1 && lit[0] !== fam) emit(path, "mixed-family", `family ${fam} but the probe names an IPv${lit[0]} address`);
  return fam;
}

function expectationsOf(raw: RawExpect[], path: Array<string | number>, emit: Emit): Expectation[] {
  const out: Expectation[] = [];
  raw.forEach((ex, i) => {
    const p = [...path, i];
    const forms = [ex.table !== undefined, ex.default !== undefined, ex.probes !== undefined].filter(Boolean).length;
    if (forms !== 1) return emit(p, "expect-form", "an expectation has exactly one of `table`, `default` (with `overrides`) or `probes`");
    if (ex.probes !== undefined) {
      if (Array.isArray(ex.protocol) || Array.isArray(ex.port)) return emit(p, "expect-form", "a probe list takes a single protocol/port as the default for its probes");
      if (ex.overrides || ex.among || ex.includeSelf !== undefined) return emit(p, "expect-form", "`overrides`, `among` and `includeSelf` belong to the `default` form");
      const exProtocol = ex.protocol as string | number | undefined;
      const exPort = ex.port as number | undefined;
      const probes: ProbeSpec[] = [];
      ex.probes.forEach((rp: RawProbe, j) => {
        const pp = [...p, "probes", j];
        const protocol = rp.protocol ?? exProtocol;
        if (protocol === undefined) return emit(pp, "missing-protocol", "the probe needs a protocol (on the probe or on its expectation)");
        const fam = familyFor(protocol, rp.family ?? ex.family, [rp.from, rp.to], pp, emit);
        const portV = rp.port ?? (rp.protocol === undefined ? exPort : undefined);
        const icmpV = defaultIcmp(protocol, fam, rp.icmp ?? (rp.protocol === undefined ? ex.icmp : undefined));
        const spec: ProbeSpec = { from: rp.from, to: rp.to, protocol, family: fam, verdict: rp.verdict };
        if (portV !== undefined) spec.port = portV;
        if (icmpV !== undefined) spec.icmp = icmpV;
        if (rp.reason !== undefined) spec.reason = rp.reason;
        if (!checkTraffic(spec, pp, emit)) return;
        probes.push(spec);
      });
      out.push({ form: "probes", probes });
      return;
    }
    if (ex.protocol === undefined) return emit(p, "missing-protocol", "a table needs a protocol");
    const protocols = Array.isArray(ex.protocol) ? ex.protocol : [ex.protocol];
    const ports: Array<number | undefined> = ex.port === undefined ? [undefined] : Array.isArray(ex.port) ? ex.port : [ex.port];
    let table: ReturnType<typeof parseTable>["table"];
    if (ex.table !== undefined) {
      if (ex.overrides || ex.among || ex.includeSelf !== undefined) return emit(p, "expect-form", "`overrides`, `among` and `includeSelf` belong to the `default` form");
      const t = parseTable(ex.table);
      for (const prob of t.problems) emit([...p, "table"], "bad-table", `line ${prob.line}: ${prob.message}`);
      if (!t.table) return;
      for (const e of [...t.table.rows, ...t.table.columns]) if (!parseEndpoint(e)) emit([...p, "table"], "bad-table", `"${e}" is not an endpoint`);
      table = t.table;
    } else {
      for (const [j, o] of (ex.overrides ?? []).entries()) {
        for (const side of ["from", "to"] as const) {
          const pat = o[side];
          if (pat !== "*" && !/^(\*|[^/*\s]+)\/(\*|[^/*\s]+)$/.test(pat) && !parseEndpoint(pat)) emit([...p, "overrides", j, side], "bad-pattern", `"${pat}" is neither an endpoint nor a pattern (*, ns/*, */pod)`);
        }
      }
    }
    for (const protocol of protocols) {
      for (const prt of ports) {
        const endpoints = table ? [...table.rows, ...table.columns] : (ex.among ?? []);
        const fam = familyFor(protocol, ex.family, endpoints, p, emit);
        const icmpV = defaultIcmp(protocol, fam, ex.icmp);
        const traffic = { protocol, family: fam, ...(prt !== undefined ? { port: prt } : {}), ...(icmpV ? { icmp: icmpV } : {}) };
        if (!checkTraffic(traffic, p, emit)) continue;
        if (table) out.push({ form: "table", ...traffic, rows: table.rows, columns: table.columns, cells: table.cells });
        else
          out.push({
            form: "default",
            ...traffic,
            default: ex.default as Verdict,
            overrides: (ex.overrides ?? []).map((o) => ({ from: o.from, to: o.to, verdict: o.verdict })),
            among: ex.among ?? null,
            includeSelf: ex.includeSelf ?? false,
          });
      }
    }
  });
  return out;
}

// ------------------------------------------------------------------ helpers

function nameOf(v: unknown): string {
  return typeof v === "object" && v !== null && typeof (v as { name?: unknown }).name === "string" ? (v as { name: string }).name : "<unnamed>";
}

function position(doc: Document, path: Array<string | number>, lc: LineCounter, file: string): { pos?: { file: string; line: number; col: number } } {
  // Walk up the path until a node exists (paths into derived data, e.g. table cells, stop early).
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) {
      const lp = lc.linePos(node.range[0]);
      return { pos: { file, line: lp.line, col: lp.col } };
    }
  }
  return {};
}

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}
