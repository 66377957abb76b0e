/**
 * Compiles an AST once into a tree of closures (SEMANTICS §1.3 evaluation table), so matching is
 * a few monomorphic calls instead of a tree walk with a switch per node.
 *
 * Absent-key semantics: `!=` and `not in` are true when the key is absent, every other label test
 * is false. A key is "present" when the map holds a string under it as an own property; we test
 * `typeof v === "string"`, which also makes inherited Object.prototype members (`constructor`,
 * `toString`, …) count as absent without an Object.hasOwn call.
 */
import type { SelectorNode } from "./ast.js";

export type LabelMap = Readonly<Record<string, string>>;
/** Label lookup for inherited/effective label views: undefined = absent. */
export type LabelGetter = (key: string) => string | undefined;

export type MapMatcher = (labels: LabelMap) => boolean;
export type GetterMatcher = (get: LabelGetter) => boolean;

const TRUE = () => true;

/** Sets of a few members are faster as arrays; larger ones use a Set. */
function memberTest(values: readonly string[]): (v: string) => boolean {
  if (values.length === 0) return () => false;
  if (values.length === 1) {
    const a = values[0];
    return (v) => v === a;
  }
  if (values.length <= 4) {
    const arr = values.slice();
    return (v) => arr.includes(v);
  }
  const set = new Set(values);
  return (v) => set.has(v);
}

export function compileMap(n: SelectorNode): MapMatcher {
  switch (n.type) {
    case "all":
    case "global":
      return TRUE;
    case "has": {
      const k = n.label;
      return (l) => typeof l[k] === "string";
    }
    case "eq": {
      const k = n.label;
      const v = n.value;
      return (l) => l[k] === v;
    }
    case "ne": {
      const k = n.label;
      const v = n.value;
      return (l) => l[k] !== v;
    }
    case "contains": {
      const k = n.label;
      const v = n.value;
      return (l) => {
        const x = l[k];
        return typeof x === "string" && x.includes(v);
      };
    }
    case "startsWith": {
      const k = n.label;
      const v = n.value;
      return (l) => {
        const x = l[k];
        return typeof x === "string" && x.startsWith(v);
      };
    }
    case "endsWith": {
      const k = n.label;
      const v = n.value;
      return (l) => {
        const x = l[k];
        return typeof x === "string" && x.endsWith(v);
      };
    }
    case "in": {
      const k = n.label;
      const has = memberTest(n.values);
      return (l) => {
        const x = l[k];
        return typeof x === "string" && has(x);
      };
    }
    case "notIn": {
      const k = n.label;
      const has = memberTest(n.values);
      return (l) => {
        const x = l[k];
        return typeof x !== "string" || !has(x);
      };
    }
    case "not": {
      const a = compileMap(n.operand);
      return (l) => !a(l);
    }
    case "and": {
      const ops = n.operands.map(compileMap);
      if (ops.length === 2) {
        const [a, b] = ops;
        return (l) => a(l) && b(l);
      }
      if (ops.length === 3) {
        const [a, b, c] = ops;
        return (l) => a(l) && b(l) && c(l);
      }
      return (l) => {
        for (const op of ops) if (!op(l)) return false;
        return true;
      };
    }
    case "or": {
      const ops = n.operands.map(compileMap);
      if (ops.length === 2) {
        const [a, b] = ops;
        return (l) => a(l) || b(l);
      }
      if (ops.length === 3) {
        const [a, b, c] = ops;
        return (l) => a(l) || b(l) || c(l);
      }
      return (l) => {
        for (const op of ops) if (op(l)) return true;
        return false;
      };
    }
  }
}

export function compileGetter(n: SelectorNode): GetterMatcher {
  switch (n.type) {
    case "all":
    case "global":
      return TRUE;
    case "has": {
      const k = n.label;
      return (g) => g(k) !== undefined;
    }
    case "eq": {
      const k = n.label;
      const v = n.value;
      return (g) => g(k) === v;
    }
    case "ne": {
      const k = n.label;
      const v = n.value;
      return (g) => g(k) !== v;
    }
    case "contains":
    case "startsWith":
    case "endsWith": {
      const k = n.label;
      const v = n.value;
      const t = n.type;
      return (g) => {
        const x = g(k);
        if (x === undefined) return false;
        return t === "contains" ? x.includes(v) : t === "startsWith" ? x.startsWith(v) : x.endsWith(v);
      };
    }
    case "in": {
      const k = n.label;
      const has = memberTest(n.values);
      return (g) => {
        const x = g(k);
        return x !== undefined && has(x);
      };
    }
    case "notIn": {
      const k = n.label;
      const has = memberTest(n.values);
      return (g) => {
        const x = g(k);
        return x === undefined || !has(x);
      };
    }
    case "not": {
      const a = compileGetter(n.operand);
      return (g) => !a(g);
    }
    case "and": {
      const ops = n.operands.map(compileGetter);
      return (g) => {
        for (const op of ops) if (!op(g)) return false;
        return true;
      };
    }
    case "or": {
      const ops = n.operands.map(compileGetter);
      return (g) => {
        for (const op of ops) if (op(g)) return true;
        return false;
      };
    }
  }
}
