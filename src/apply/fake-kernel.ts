/**
 * An in-memory nftables that accepts the same JSON batches as `nft -j -f` with the kernel's
 * transaction semantics: the batch runs against a copy and replaces the state only if every
 * command succeeded. It enforces what the real kernel enforces and a renderer can get wrong:
 * objects must exist before use, referenced chains/sets cannot be deleted, missing elements cannot be deleted, a map key cannot be re-added with another
 * verdict, and interval-set elements cannot overlap. Errors carry the same KernelError codes.
 *
 * Fault injection for applier tests:
 *   failNextApply(n, code)   the next n batches fail before doing anything
 *   failApplyWhen(pred)      fail batches the predicate picks (e.g. those that delete a chain)
 *   failNextList(n)          the next n listings fail
 *   external(batch)          another actor changes the kernel (flush our table, delete a set…)
 * and introspection: batches (every batch seen, applied or not), appliedCount, dump().
 *
 * Rules have handles as in the kernel (one counter, never reused): a rule is deleted by handle,
 * `insert` prepends and `add` appends (tortie renders no positioned insert or replace, which cost
 * nft a fetch of every rule), and chain renames work the same way. A rename takes effect at
 * commit, as in the kernel: the rest of the batch still calls the chain by its old name, and the
 * new name exists only after the batch.
 */
import { KernelError, type KernelErrorCode } from "../kernel/index.js";
import { nft } from "../render/index.js";
import { parseCidr } from "../rule/index.js";
import type { Kernel } from "./kernel.js";

type J = unknown;
type Obj = Record<string, J>;

interface FRule {
  expr: J[];
  comment?: string;
  handle: number;
}
interface FChain {
  name: string;
  base?: { type: J; hook: J; prio: J; policy: J };
  rules: FRule[];
  handle: number;
}
interface FSet {
  name: string;
  isMap: boolean;
  type: J;
  map?: J;
  flags: string[];
  /** normalized key → element as listed */
  elements: Map<string, J>;
  handle: number;
}
interface FTable {
  family: string;
  name: string;
  chains: Map<string, FChain>;
  /** sets and maps share one namespace, as in the kernel */
  sets: Map<string, FSet>;
  handle: number;
}

interface State {
  tables: Map<string, FTable>;
  nextHandle: number;
}

/** What one batch run keeps track of: the renames it commits at its end. */
interface RunContext {
  renames: Array<{ table: FTable; from: string; to: string }>;
}

function clone(s: State): State {
  return structuredClone(s);
}

const tkey = (family: string, name: string) => `${family} ${name}`;

function fail(code: KernelErrorCode, msg: string): never {
  throw new KernelError(code, `fake nft: ${msg}`);
}

/** Every "@name" set reference and jump/goto target inside an expression tree. */
function references(x: J, sets: Set<string>, chains: Set<string>): void {
  if (typeof x === "string") {
    if (x.startsWith("@")) sets.add(x.slice(1));
  } else if (Array.isArray(x)) for (const y of x) references(y, sets, chains);
  else if (x && typeof x === "object") {
    for (const [k, v] of Object.entries(x as Obj)) {
      if ((k === "jump" || k === "goto") && v && typeof v === "object" && typeof (v as Obj).target === "string") chains.add((v as Obj).target as string);
      else references(v, sets, chains);
    }
  }
}

export class FakeKernel implements Kernel {
  private state: State = { tables: new Map(), nextHandle: 1 };
  /** Every batch passed to apply(), in order, whether it succeeded or not. */
  readonly batches: unknown[] = [];
  appliedCount = 0;
  listCount = 0;
  private failApplies: Array<{ code: KernelErrorCode }> = [];
  private failLists = 0;
  private failPredicate: ((batch: unknown) => KernelErrorCode | undefined) | undefined;

  constructor(private readonly target: nft.NftTarget = nft.DEFAULT_TARGET) {}

  // ------------------------------------------------------------------------------ fault injection

  failNextApply(n = 1, code: KernelErrorCode = "FAILED"): void {
    for (let i = 0; i < n; i++) this.failApplies.push({ code });
  }
  failApplyWhen(pred: ((batch: unknown) => KernelErrorCode | undefined) | undefined): void {
    this.failPredicate = pred;
  }
  failNextList(n = 1): void {
    this.failLists += n;
  }
  /** Another actor runs a batch (not recorded in `batches`, not subject to injected faults). */
  external(batch: unknown): void {
    this.state = this.run(batch, this.state);
  }

  // ------------------------------------------------------------------------------ Kernel

  async apply(batch: unknown): Promise<void> {
    this.batches.push(batch);
    const injected = this.failApplies.shift();
    if (injected) throw new KernelError(injected.code, "fake nft: injected failure");
    const code = this.failPredicate?.(batch);
    if (code) throw new KernelError(code, "fake nft: injected failure (predicate)");
    this.state = this.run(batch, this.state);
    this.appliedCount++;
  }

  async list(): Promise<unknown | null> {
    this.listCount++;
    if (this.failLists > 0) {
      this.failLists--;
      throw new KernelError("FAILED", "fake nft: injected list failure");
    }
    return this.listTable(this.target.family, this.target.table);
  }

  // ------------------------------------------------------------------------------ listing

  /** `nft -j list table` shape: metainfo, table, sets and maps with elements, chains, rules. */
  listTable(family: string, name: string): unknown | null {
    const t = this.state.tables.get(tkey(family, name));
    if (!t) return null;
    const out: J[] = [{ metainfo: { version: "fake", json_schema_version: 1 } }, { table: { family, name, handle: t.handle } }];
    for (const s of [...t.sets.values()].sort((a, b) => a.handle - b.handle)) {
      const o: Obj = { family, name: s.name, table: name, type: s.type, handle: s.handle };
      if (s.isMap) o.map = s.map;
      if (s.flags.length > 0) o.flags = s.flags;
      if (s.elements.size > 0) o.elem = [...s.elements.values()];
      out.push({ [s.isMap ? "map" : "set"]: o });
    }
    const chains = [...t.chains.values()].sort((a, b) => a.handle - b.handle);
    for (const c of chains) out.push({ chain: { family, table: name, name: c.name, handle: c.handle, ...(c.base ?? {}) } });
    for (const c of chains) {
      for (const r of c.rules) out.push({ rule: { family, table: name, chain: c.name, handle: r.handle, ...(r.comment !== undefined ? { comment: r.comment } : {}), expr: r.expr } });
    }
    return { nftables: out };
  }

  /** Text summary for test failure messages. */
  dump(): string {
    const lines: string[] = [];
    for (const t of this.state.tables.values()) {
      lines.push(`table ${t.family} ${t.name}`);
      for (const s of t.sets.values()) lines.push(`  ${s.isMap ? "map" : "set"} ${s.name}: ${[...s.elements.keys()].sort().join(", ")}`);
      for (const c of t.chains.values()) lines.push(`  chain ${c.name}${c.base ? ` (hook ${String(c.base.hook)})` : ""}: ${c.rules.length} rules`);
    }
    return lines.join("\n");
  }

  // ------------------------------------------------------------------------------ interpreter

  private run(batch: unknown, start: State): State {
    const cmds = (batch as { nftables?: unknown[] } | null)?.nftables;
    if (!Array.isArray(cmds)) fail("INVALID", "batch is not {nftables: [...]}");
    const s = clone(start);
    const ctx: RunContext = { renames: [] };
    for (const cmd of cmds) {
      const [verb, body] = Object.entries(cmd as Obj)[0] ?? [];
      if (!verb || !body || typeof body !== "object") fail("INVALID", `bad command ${JSON.stringify(cmd)}`);
      const [kind, obj] = Object.entries(body as Obj)[0] ?? [];
      if (!kind || !obj || typeof obj !== "object") fail("INVALID", `bad command ${JSON.stringify(cmd)}`);
      this.exec(s, verb, kind, obj as Obj, ctx);
    }
    for (const r of ctx.renames) this.commitRename(r.table, r.from, r.to);
    return s;
  }

  /** A rename at commit: jumps and map verdicts follow the chain object, so listings show the
   *  new name wherever the old one was. */
  private commitRename(t: FTable, from: string, to: string): void {
    const c = t.chains.get(from);
    if (!c) fail("NOT_FOUND", `chain ${from} renamed to ${to} is gone at commit: No such file or directory`);
    if (t.chains.has(to)) fail("EXISTS", `chain ${to}: File exists`);
    const retarget = (x: J): void => {
      if (Array.isArray(x)) x.forEach(retarget);
      else if (x && typeof x === "object") {
        for (const [k, v] of Object.entries(x as Obj)) {
          if ((k === "jump" || k === "goto") && v && typeof v === "object" && (v as Obj).target === from) (v as Obj).target = to;
          else retarget(v);
        }
      }
    };
    for (const other of t.chains.values()) for (const r of other.rules) retarget(r.expr);
    for (const set of t.sets.values()) if (set.isMap) for (const e of set.elements.values()) retarget(e);
    t.chains.delete(from);
    c.name = to;
    t.chains.set(to, c);
  }

  private table(s: State, o: Obj, tableField: "table" | "name" = "table"): FTable {
    const t = s.tables.get(tkey(String(o.family), String(o[tableField])));
    if (!t) fail("NOT_FOUND", `table ${String(o.family)} ${String(o[tableField])}: No such file or directory`);
    return t;
  }

  private exec(s: State, verb: string, kind: string, o: Obj, ctx: RunContext): void {
    switch (`${verb} ${kind}`) {
      case "add table":
      case "create table": {
        const k = tkey(String(o.family), String(o.name));
        if (s.tables.has(k)) {
          if (verb === "create") fail("EXISTS", `table ${k}: File exists`);
          return;
        }
        s.tables.set(k, { family: String(o.family), name: String(o.name), chains: new Map(), sets: new Map(), handle: s.nextHandle++ });
        return;
      }
      case "delete table": {
        this.table(s, o, "name");
        s.tables.delete(tkey(String(o.family), String(o.name)));
        return;
      }
      case "flush table": {
        // Removes the rules; chains and set elements stay (NETNS.md §3).
        const t = this.table(s, o, "name");
        for (const c of t.chains.values()) c.rules = [];
        return;
      }
      case "add chain":
      case "create chain": {
        const t = this.table(s, o);
        const name = String(o.name);
        const base = o.hook !== undefined ? { type: o.type, hook: o.hook, prio: o.prio, policy: o.policy } : undefined;
        const old = t.chains.get(name);
        if (old) {
          if (verb === "create") fail("EXISTS", `chain ${name}: File exists`);
          if (JSON.stringify(old.base ?? null) !== JSON.stringify(base ?? null)) fail("INVALID", `chain ${name}: cannot change hook`);
          return;
        }
        t.chains.set(name, { name, ...(base ? { base } : {}), rules: [], handle: s.nextHandle++ });
        return;
      }
      case "flush chain": {
        const c = this.chain(this.table(s, o), String(o.name));
        c.rules = [];
        return;
      }
      case "delete chain": {
        const t = this.table(s, o);
        const c = this.chain(t, String(o.name));
        // A chain with rules may be deleted (the kernel drops its rules); only references block it.
        if (this.chainReferenced(t, c.name)) fail("BUSY", `chain ${c.name} is in use: Device or resource busy`);
        t.chains.delete(c.name);
        return;
      }
      case "add set":
      case "add map":
      case "create set":
      case "create map": {
        const t = this.table(s, o);
        const name = String(o.name);
        const isMap = kind === "map";
        const flags = Array.isArray(o.flags) ? (o.flags as string[]) : [];
        const old = t.sets.get(name);
        if (old) {
          if (verb === "create") fail("EXISTS", `${kind} ${name}: File exists`);
          if (old.isMap !== isMap || JSON.stringify(old.type) !== JSON.stringify(o.type) || JSON.stringify(old.flags) !== JSON.stringify(flags)) {
            fail("EXISTS", `${kind} ${name} exists with another type: File exists`);
          }
        } else {
          t.sets.set(name, { name, isMap, type: o.type, ...(isMap ? { map: o.map } : {}), flags, elements: new Map(), handle: s.nextHandle++ });
        }
        if (Array.isArray(o.elem)) this.addElements(t, t.sets.get(name)!, o.elem);
        return;
      }
      case "delete set":
      case "delete map": {
        const t = this.table(s, o);
        const set = this.set(t, String(o.name));
        if (this.setReferenced(t, set.name)) fail("BUSY", `${kind} ${set.name} is in use: Device or resource busy`);
        t.sets.delete(set.name);
        return;
      }
      case "flush set":
      case "flush map": {
        this.set(this.table(s, o), String(o.name)).elements.clear();
        return;
      }
      case "add element":
      case "create element": {
        const t = this.table(s, o);
        this.addElements(t, this.set(t, String(o.name)), (o.elem as J[]) ?? [], verb === "create");
        return;
      }
      case "delete element": {
        const t = this.table(s, o);
        const set = this.set(t, String(o.name));
        for (const e of (o.elem as J[]) ?? []) {
          const k = set.isMap ? nft.normalizeElement(Array.isArray(e) ? e[0] : e) : nft.normalizeElement(e);
          if (!set.elements.delete(k)) fail("NOT_FOUND", `element ${k} not in ${set.name}: No such file or directory`);
        }
        return;
      }
      case "add rule":
      case "insert rule": {
        const t = this.table(s, o);
        const c = this.chain(t, String(o.chain));
        const expr = o.expr as J[];
        if (!Array.isArray(expr) || expr.length === 0) fail("INVALID", `rule in ${c.name} has no expressions`);
        const sets = new Set<string>();
        const chains = new Set<string>();
        references(expr, sets, chains);
        for (const n of sets) if (!t.sets.has(n)) fail("NOT_FOUND", `rule in ${c.name} names set ${n}: No such file or directory`);
        for (const n of chains) if (!t.chains.has(n)) fail("NOT_FOUND", `rule in ${c.name} jumps to ${n}: No such file or directory`);
        if (o.handle !== undefined || o.index !== undefined) fail("INVALID", `${verb} rule at a position is not supported (tortie renders none)`);
        const r: FRule = { expr: structuredClone(expr), handle: s.nextHandle++ };
        if (typeof o.comment === "string") r.comment = o.comment;
        if (verb === "insert") c.rules.unshift(r);
        else c.rules.push(r);
        return;
      }
      case "delete rule": {
        const t = this.table(s, o);
        const c = this.chain(t, String(o.chain));
        const at = c.rules.findIndex((r) => r.handle === o.handle);
        if (at < 0) fail("NOT_FOUND", `rule handle ${String(o.handle)} not in ${c.name}: No such file or directory`);
        c.rules.splice(at, 1);
        return;
      }
      case "rename chain": {
        // Checked now, done at commit (commitRename): until then the chain keeps its old name.
        const t = this.table(s, o);
        const c = this.chain(t, String(o.name));
        const to = String(o.newname);
        if (t.chains.has(to) || ctx.renames.some((r) => r.table === t && r.to === to)) fail("EXISTS", `chain ${to}: File exists`);
        if (c.base) fail("INVALID", `chain ${c.name}: a base chain is not renamed by tortie`);
        ctx.renames.push({ table: t, from: c.name, to });
        return;
      }
      default:
        fail("INVALID", `unsupported command ${verb} ${kind}`);
    }
  }

  private chain(t: FTable, name: string): FChain {
    const c = t.chains.get(name);
    if (!c) fail("NOT_FOUND", `chain ${name}: No such file or directory`);
    return c;
  }

  private set(t: FTable, name: string): FSet {
    const x = t.sets.get(name);
    if (!x) fail("NOT_FOUND", `set ${name}: No such file or directory`);
    return x;
  }

  private chainReferenced(t: FTable, name: string): boolean {
    for (const c of t.chains.values()) {
      for (const r of c.rules) {
        const chains = new Set<string>();
        references(r.expr, new Set(), chains);
        if (chains.has(name)) return true;
      }
    }
    for (const s of t.sets.values()) {
      if (!s.isMap) continue;
      for (const e of s.elements.values()) {
        const chains = new Set<string>();
        references(e, new Set(), chains);
        if (chains.has(name)) return true;
      }
    }
    return false;
  }

  private setReferenced(t: FTable, name: string): boolean {
    for (const c of t.chains.values()) {
      for (const r of c.rules) {
        const sets = new Set<string>();
        references(r.expr, sets, new Set());
        if (sets.has(name)) return true;
      }
    }
    return false;
  }

  private addElements(t: FTable, set: FSet, elems: J[], create = false): void {
    for (const e of elems) {
      if (set.isMap) {
        if (!Array.isArray(e) || e.length !== 2) fail("INVALID", `map ${set.name}: element must be [key, verdict]`);
        const k = nft.normalizeElement(e[0]);
        const chains = new Set<string>();
        references(e[1], new Set(), chains);
        for (const n of chains) if (!t.chains.has(n)) fail("NOT_FOUND", `map ${set.name}[${k}] targets ${n}: No such file or directory`);
        const old = set.elements.get(k);
        if (old !== undefined) {
          if (create || JSON.stringify(old) !== JSON.stringify(e)) fail("EXISTS", `map ${set.name}[${k}]: File exists`);
          continue;
        }
        set.elements.set(k, structuredClone(e));
      } else {
        const k = nft.normalizeElement(e);
        if (set.elements.has(k)) {
          if (create) fail("EXISTS", `element ${k} in ${set.name}: File exists`);
          continue;
        }
        if (set.flags.includes("interval")) {
          const c = parseCidr(k);
          for (const other of set.elements.keys()) {
            const o = parseCidr(other);
            if (c && o && c.family === o.family && overlaps(c, o)) fail("EXISTS", `interval ${k} overlaps ${other} in ${set.name}: File exists`);
          }
        }
        set.elements.set(k, structuredClone(e));
      }
    }
  }
}

function overlaps(a: { family: 4 | 6; base: bigint; prefix: number }, b: { family: 4 | 6; base: bigint; prefix: number }): boolean {
  const bits = a.family === 4 ? 32 : 128;
  const p = Math.min(a.prefix, b.prefix);
  const shift = BigInt(bits - p);
  return a.base >> shift === b.base >> shift;
}
