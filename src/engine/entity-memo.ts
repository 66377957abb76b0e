/**
 * The rule compiler's memo of compiled entity rules (rule-compiler.ts memoEntity): a compiled
 * EntityMatch depends only on (side, named-port protocol, policy namespace, entity rule), and a
 * cluster repeats the same peers and ports in many policies of a namespace.
 *
 * Keys. Any entity rule can be keyed by its JSON, but at 100k pods / 75k policies that is ~300k
 * JSON.stringify calls and as many lookups of freshly made texts. Three shapes make three
 * quarters of real and generated entity rules — `{selector}`, `{selector, namespaceSelector}` and
 * `{ports: [one port]}` — and with `{ports: [two ports]}` and `{selector, ports: [one port]}`
 * nine tenths; those are keyed by the rule's own values: its selector texts (whose hash V8 keeps
 * in the string once computed) and its port numbers or names, no text made. Every other shape is
 * keyed by its JSON, as before. Shapes never share a table, so two rules meet only
 * when they have the same shape and equal values, which compile alike.
 */
import type { EntityRule } from "../model/index.js";
import type { EntityMatch } from "../rule/index.js";

type Port = number | string;

type Shape =
  | { kind: "selector"; selector: string }
  | { kind: "selector-in-namespaces"; selector: string; namespaceSelector: string }
  | { kind: "one-port"; port: Port }
  | { kind: "two-ports"; port: Port; second: Port }
  | { kind: "selector-one-port"; selector: string; port: Port }
  | { kind: "other" };

const OTHER: Shape = Object.freeze({ kind: "other" });

/** The shape of `er` and its key values. */
function shapeOf(er: EntityRule): Shape {
  let selector: unknown;
  let namespaceSelector: unknown;
  let ports: unknown;
  let fields = 0;
  for (const k in er) {
    fields++;
    if (k === "selector") selector = er.selector;
    else if (k === "namespaceSelector") namespaceSelector = er.namespaceSelector;
    else if (k === "ports") ports = er.ports;
    else return OTHER;
  }
  if (ports !== undefined) {
    if (!Array.isArray(ports) || ports.length === 0 || ports.length > 2) return OTHER;
    const p: unknown = ports[0];
    if (!isPort(p)) return OTHER;
    if (ports.length === 2) {
      const q: unknown = ports[1];
      return fields === 1 && isPort(q) ? { kind: "two-ports", port: p, second: q } : OTHER;
    }
    if (fields === 1) return { kind: "one-port", port: p };
    return fields === 2 && typeof selector === "string" ? { kind: "selector-one-port", selector, port: p } : OTHER;
  }
  if (typeof selector !== "string") return OTHER;
  if (fields === 1) return { kind: "selector", selector };
  if (fields === 2 && typeof namespaceSelector === "string") return { kind: "selector-in-namespaces", selector, namespaceSelector };
  return OTHER;
}

function isPort(p: unknown): p is Port {
  return typeof p === "number" || typeof p === "string";
}

/** Compiled entity rules of one (side, named-port protocol, namespace). */
class EntityTable {
  private bySelector: Map<string, EntityMatch> | undefined;
  /** namespaceSelector → selector → match (a namespace's rules use few namespace selectors). */
  private bySelectorInNamespaces: Map<string, Map<string, EntityMatch>> | undefined;
  private byPort: Map<Port, EntityMatch> | undefined;
  /** first port → second port → match. */
  private byTwoPorts: Map<Port, Map<Port, EntityMatch>> | undefined;
  /** port → selector → match. */
  private bySelectorAndPort: Map<Port, Map<string, EntityMatch>> | undefined;
  private byJson: Map<string, EntityMatch> | undefined;
  /** The JSON made by the last `get` of an other-shaped rule, which a miss's `set` reuses. */
  private lastRule: EntityRule | undefined;
  private lastJson: string | undefined;

  get(er: EntityRule): EntityMatch | undefined {
    const s = shapeOf(er);
    switch (s.kind) {
      case "selector":
        return this.bySelector?.get(s.selector);
      case "selector-in-namespaces":
        return this.bySelectorInNamespaces?.get(s.namespaceSelector)?.get(s.selector);
      case "one-port":
        return this.byPort?.get(s.port);
      case "two-ports":
        return this.byTwoPorts?.get(s.port)?.get(s.second);
      case "selector-one-port":
        return this.bySelectorAndPort?.get(s.port)?.get(s.selector);
      case "other": {
        const json = jsonOf(er);
        this.lastRule = er;
        this.lastJson = json;
        return json === undefined ? undefined : this.byJson?.get(json);
      }
    }
  }

  set(er: EntityRule, e: EntityMatch): void {
    const s = shapeOf(er);
    switch (s.kind) {
      case "selector":
        (this.bySelector ??= new Map()).set(s.selector, e);
        return;
      case "selector-in-namespaces":
        inner((this.bySelectorInNamespaces ??= new Map()), s.namespaceSelector).set(s.selector, e);
        return;
      case "one-port":
        (this.byPort ??= new Map()).set(s.port, e);
        return;
      case "two-ports":
        inner((this.byTwoPorts ??= new Map()), s.port).set(s.second, e);
        return;
      case "selector-one-port":
        inner((this.bySelectorAndPort ??= new Map()), s.port).set(s.selector, e);
        return;
      case "other": {
        const json = this.lastRule === er ? this.lastJson : jsonOf(er);
        if (json !== undefined) (this.byJson ??= new Map()).set(json, e);
      }
    }
  }
}

function inner<K, K2, V>(outer: Map<K, Map<K2, V>>, key: K): Map<K2, V> {
  let m = outer.get(key);
  if (!m) outer.set(key, (m = new Map()));
  return m;
}

function jsonOf(er: EntityRule): string | undefined {
  try {
    return JSON.stringify(er);
  } catch {
    return undefined; // not plain data (cyclic YAML aliases): not remembered
  }
}

/** Every table of one build, by slot (side and named-port protocol, see rule-compiler.ts) and
 *  namespace ("" for global policies and profiles). */
export class EntityMemo {
  private readonly slots: Array<Map<string, EntityTable> | undefined> = [];

  table(slot: number, namespace: string): EntityTable {
    let byNs = this.slots[slot];
    if (!byNs) this.slots[slot] = byNs = new Map();
    let t = byNs.get(namespace);
    if (!t) byNs.set(namespace, (t = new EntityTable()));
    return t;
  }

  clear(): void {
    this.slots.length = 0;
  }
}
