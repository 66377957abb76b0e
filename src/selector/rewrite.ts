/**
 * Selector rewrites Calico applies when it turns v3 policies into Felix's model (SEMANTICS §1.6;
 * libcalico-go/lib/backend/syncersv1/updateprocessors/{selectors,rules,*policyprocessor}.go).
 *
 * Calico does these on strings: it parses, renames labels with a visitor, prints the canonical
 * text, glues texts together with "(%s) && %s", runs strings.Replace("all()", …) over the result,
 * and Felix later parses that text again. We work on the AST but reproduce the text Felix would
 * end up with, i.e. every helper returns what parse(calicoText) would give:
 *  - re-parsing collapses runs of `!` (so `!` applied to `!has(x)` becomes `has(x)`), and
 *    re-sorts set literals; `normalise` below does both structurally;
 *  - Calico's blunt text replace of "all()" also hits label *values* containing "all()"; the
 *    replace helpers do the same by default (`inValues: false` turns it off).
 * For a raw (non-canonical) user text that Calico pastes in verbatim, see replaceInText.
 */
import { type SelectorNode, mapNodes, toStringSet, walk } from "./ast.js";
import { Selector } from "./selector.js";

/** What Felix gets when it re-parses the printed form of `n`. */
function normalise(n: SelectorNode): SelectorNode {
  return mapNodes(n, (m) => {
    if (m.type === "not" && m.operand.type === "not") return m.operand.operand;
    if (m.type === "in" || m.type === "notIn") return { type: m.type, label: m.label, values: toStringSet(m.values) };
    return m;
  });
}

/**
 * Calico PrefixVisitor + String(): every label name gets `prefix` prepended; values are untouched.
 * A label pushed past 512 characters is kept (Felix would fail to re-parse Calico's text).
 */
export function prefixLabels(sel: Selector, prefix: string): Selector {
  return new Selector(
    normalise(mapNodes(sel.ast, (n) => ("label" in n ? ({ ...n, label: prefix + n.label } as SelectorNode) : n))),
  );
}

/**
 * Conjunction, as Felix parses Calico's `(a) && (b)` texts: one `&&` group whose operands are the
 * given roots, without flattening (a root that is itself a group stays nested, as parentheses
 * keep it). One argument is returned unchanged; none gives all().
 * Note Calico only adds a conjunct when its source string is non-empty; callers decide that.
 */
export function and(...sels: Selector[]): Selector {
  if (sels.length === 0) return new Selector({ type: "all" });
  if (sels.length === 1) return sels[0];
  return Selector.group("and", sels);
}

/** Disjunction, analogous to `and`; no args gives `!all()`. */
export function orSelectors(...sels: Selector[]): Selector {
  if (sels.length === 0) return new Selector({ type: "not", operand: { type: "all" } });
  if (sels.length === 1) return sels[0];
  return Selector.group("or", sels);
}

export function notSelector(sel: Selector): Selector {
  return new Selector(normalise({ type: "not", operand: sel.ast }));
}

export interface ReplaceOptions {
  /** Also replace the text inside label values, as Calico's strings.Replace does. Default true. */
  inValues?: boolean;
}

function replaceFn(sel: Selector, target: "all" | "global", replacement: Selector, opts: ReplaceOptions): Selector {
  const needle = `${target}()`;
  const text = replacement.toString();
  const inValues = opts.inValues ?? true;
  const out = mapNodes(sel.ast, (n) => {
    if (n.type === target) return replacement.ast;
    if (!inValues) return n;
    if ("value" in n && n.value.includes(needle)) return { ...n, value: n.value.split(needle).join(text) } as SelectorNode;
    if ("values" in n && n.values.some((v) => v.includes(needle))) {
      return { ...n, values: n.values.map((v) => v.split(needle).join(text)) } as SelectorNode;
    }
    return n;
  });
  return new Selector(normalise(out));
}

/**
 * Replaces every `all()` with `replacement`, e.g. `has(projectcalico.org/namespace)` for a
 * prefixed namespaceSelector (rules.go) or after adding a GNP's namespace part.
 */
export function replaceAll(sel: Selector, replacement: Selector, opts: ReplaceOptions = {}): Selector {
  return replaceFn(sel, "all", replacement, opts);
}

/** Replaces every `global()` with `replacement` (Calico: `!has(projectcalico.org/namespace)`). */
export function replaceGlobal(sel: Selector, replacement: Selector, opts: ReplaceOptions = {}): Selector {
  return replaceFn(sel, "global", replacement, opts);
}

/** Go strings.Replace(text, needle, replacement, -1), for reproducing Calico on raw user text. */
export function replaceInText(text: string, needle: string, replacement: string): string {
  return needle === "" ? text : text.split(needle).join(replacement);
}

/**
 * For a Selector: true if the AST has a `global()` node. For a string: Calico's CEL check
 * (`selector.contains('global(')`), which is textual and so also fires on values like "global(".
 */
export function containsGlobal(sel: Selector | string): boolean {
  if (typeof sel === "string") return sel.includes("global(");
  let found = false;
  walk(sel.ast, (n) => {
    if (n.type === "global") found = true;
  });
  return found;
}

/** True if the selector is exactly `global()` (any whitespace), i.e. not combined with anything. */
export function isOnlyGlobal(sel: Selector | string): boolean {
  if (typeof sel === "string") {
    // Calico's validateEntityRule tokenizes and wants exactly [TokGlobal, TokEOF].
    const r = /^[ \t]*global\([ \t]*\)[ \t]*$/.test(sel);
    return r;
  }
  return sel.ast.type === "global";
}

/** Calico's constant labels and prefixes used by the rewrites. */
export const LABEL_NAMESPACE = "projectcalico.org/namespace";
export const LABEL_SERVICE_ACCOUNT = "projectcalico.org/serviceaccount";
export const LABEL_ORCHESTRATOR = "projectcalico.org/orchestrator";
export const NAMESPACE_LABEL_PREFIX = "pcns.";
export const SERVICE_ACCOUNT_LABEL_PREFIX = "pcsa.";
