/**
 * Selector AST: plain, frozen data (printable with JSON.stringify, comparable structurally).
 * Shapes follow Calico's parser/ast.go node types one to one, so that the canonical printer can
 * reproduce Calico's collectFragments output exactly.
 */

export type ValueOp = "eq" | "ne" | "contains" | "startsWith" | "endsWith";
export type SetOp = "in" | "notIn";

export type SelectorNode =
  | { readonly type: "all" }
  | { readonly type: "global" }
  | { readonly type: "has"; readonly label: string }
  | { readonly type: ValueOp; readonly label: string; readonly value: string }
  /** `values` are sorted in byte (UTF-8) order and de-duplicated, as Calico's StringSet. */
  | { readonly type: SetOp; readonly label: string; readonly values: readonly string[] }
  | { readonly type: "not"; readonly operand: SelectorNode }
  /** Always ≥ 2 operands; the parser never builds single-operand groups. */
  | { readonly type: "and" | "or"; readonly operands: readonly SelectorNode[] };

export type LabelNode = Extract<SelectorNode, { label: string }>;

export function isLabelNode(n: SelectorNode): n is LabelNode {
  return "label" in n;
}

/**
 * Compares strings the way Go compares them: by UTF-8 bytes, which is code-point order.
 * JS `<` compares UTF-16 code units, which differs when a surrogate pair meets U+E000–U+FFFF.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Move surrogates (D800–DFFF) above E000–FFFF so unit order equals code point order.
    if (x >= 0xd800) x += x <= 0xdfff ? 0x2000 : -0x800;
    if (y >= 0xd800) y += y <= 0xdfff ? 0x2000 : -0x800;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/** Calico's ConvertToStringSetInPlace: sorted (byte order) and de-duplicated. */
export function toStringSet(values: Iterable<string>): string[] {
  const sorted = [...values].sort(compareUtf8);
  const out: string[] = [];
  for (const v of sorted) if (out.length === 0 || out[out.length - 1] !== v) out.push(v);
  return out;
}

export function deepFreeze(n: SelectorNode): SelectorNode {
  if (Object.isFrozen(n)) return n;
  if (n.type === "and" || n.type === "or") {
    for (const o of n.operands) deepFreeze(o);
    Object.freeze(n.operands);
  } else if (n.type === "not") {
    deepFreeze(n.operand);
  } else if (n.type === "in" || n.type === "notIn") {
    Object.freeze(n.values);
  }
  return Object.freeze(n);
}

/** Depth-first walk over every node (pre-order). */
export function walk(n: SelectorNode, visit: (n: SelectorNode) => void): void {
  visit(n);
  if (n.type === "and" || n.type === "or") for (const o of n.operands) walk(o, visit);
  else if (n.type === "not") walk(n.operand, visit);
}

/** Rebuilds the tree bottom-up through `f` (children first). */
export function mapNodes(n: SelectorNode, f: (n: SelectorNode) => SelectorNode): SelectorNode {
  if (n.type === "and" || n.type === "or") return f({ type: n.type, operands: n.operands.map((o) => mapNodes(o, f)) });
  if (n.type === "not") return f({ type: "not", operand: mapNodes(n.operand, f) });
  return f(n);
}
