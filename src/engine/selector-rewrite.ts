/**
 * The selector texts Calico builds for policies and rules (SEMANTICS §1.6; libcalico-go
 * updateprocessors/{rules,networkpolicyprocessor,globalnetworkpolicyprocessor,selectors}.go and
 * felix calc/rule_scanner.go combineMatchesIfPossible).
 *
 * Calico glues *texts* together ("(%s) && %s", blunt strings.Replace of "all()") and Felix parses
 * the result; the set id is the hash of the re-parsed canonical form. We reproduce the texts step
 * by step and parse once at the end, so ids equal Felix's.
 */
import {
  and,
  LABEL_NAMESPACE,
  MAX_NESTING,
  SelectorParseError,
  LABEL_SERVICE_ACCOUNT,
  NAMESPACE_LABEL_PREFIX as NS_LABEL_PREFIX,
  prefixLabels,
  replaceInText,
  SERVICE_ACCOUNT_LABEL_PREFIX as SA_LABEL_PREFIX,
  type Selector,
} from "../selector/index.js";
import { parseSel as parseSelector } from "./selector-cache.js";

const HAS_NAMESPACE = `has(${LABEL_NAMESPACE})`;
const NOT_HAS_NAMESPACE = `!has(${LABEL_NAMESPACE})`;
const HAS_SERVICE_ACCOUNT = `has(${LABEL_SERVICE_ACCOUNT})`;

/** parseSelectorAttachPrefix: parse, prefix every label, print canonical. */
function prefixed(text: string, prefix: string): string {
  return prefixLabels(parseSelector(text), prefix).toString();
}

function prefixAndAppend(current: string, extra: string | undefined, prefix: string): string {
  if (!extra) return current;
  const p = prefixed(extra, prefix);
  if (p === "") return current;
  return current ? `(${current}) && ${p}` : p;
}

export interface PolicySelectorInput {
  namespace?: string; // set for namespaced policies
  selector?: string;
  namespaceSelector?: string; // GNP only
  serviceAccountSelector?: string;
}

/** The policy's endpoint selector text as Felix receives it. Throws SelectorParseError. */
export function policySelectorText(p: PolicySelectorInput): string {
  let sel = p.selector ?? "";
  if (p.namespace) {
    const nsSel = `${LABEL_NAMESPACE} == '${p.namespace}'`;
    sel = sel ? `(${sel}) && ${nsSel}` : nsSel;
    sel = prefixAndAppend(sel, p.serviceAccountSelector, SA_LABEL_PREFIX);
    return sel;
  }
  if (p.namespaceSelector) {
    sel = prefixAndAppend(sel, p.namespaceSelector, NS_LABEL_PREFIX);
    sel = replaceInText(sel, "all()", HAS_NAMESPACE);
  }
  if (p.serviceAccountSelector) {
    sel = prefixAndAppend(sel, p.serviceAccountSelector, SA_LABEL_PREFIX);
    sel = replaceInText(sel, "all()", HAS_SERVICE_ACCOUNT);
  }
  return sel;
}

export function policySelector(p: PolicySelectorInput): Selector {
  return parseSelector(policySelectorText(p));
}

/** `projectcalico.org/namespace == '<ns>'`, the term Calico glues onto namespaced selectors. */
function namespaceTermText(ns: string): string {
  return `${LABEL_NAMESPACE} == '${ns}'`;
}

/**
 * A text parsed on its own, when its parse is certainly what the same text gives inside the
 * parentheses Calico glues around it; undefined otherwise. Not for a text whose parse is all():
 * a blank text parses alone as all() but is an error inside parentheses. Not for a text near the
 * nesting limit, which the parentheses would cross. A valid text ends in a closed token (a
 * quote, `)` or `}`), so the `)` after it never joins its last token.
 */
function parsedAlone(text: unknown): Selector | undefined {
  if (typeof text !== "string" || text.length >= MAX_NESTING) return undefined;
  try {
    const sel = parseSelector(text);
    return sel.ast.type === "all" ? undefined : sel;
  } catch (e) {
    if (e instanceof SelectorParseError) return undefined;
    throw e;
  }
}

/**
 * Felix's parse of a glued namespaced text, built from the parses of its parts instead of parsing
 * the glued text: parentheses make no node, so `(a) && b` parses as and(a, b) whenever a and b
 * parse alone (parsedAlone). Saves tokenizing and parsing ~60k glued texts at 100k pods. Undefined
 * where that is not certain; the caller then glues and parses, as Calico and Felix do.
 *  - policy: `(selector) && projectcalico.org/namespace == 'ns'` (policySelectorText)
 *  - rule:   `(projectcalico.org/namespace == 'ns') && (selector)` (entityRuleSelectorText)
 */
export function namespacedAnd(ns: string, selector: string, form: "policy" | "rule", term: Selector | null = namespaceTerm(ns)): Selector | undefined {
  // `term`: the namespace's parsed term, or null where it does not parse alone (a namespace that
  // breaks the quoting); callers that keep it per namespace pass it.
  if (!ns || !term) return undefined; // not namespaced: Calico glues nothing
  const inner = parsedAlone(selector);
  if (!inner) return undefined;
  return form === "policy" ? and(inner, term) : and(term, inner);
}

/** The parsed namespace term of `ns`, or null where it does not parse alone (parsedAlone). */
function namespaceTerm(ns: string): Selector | null {
  return (ns ? parsedAlone(namespaceTermText(ns)) : undefined) ?? null;
}

/**
 * Namespaced policy selectors of one build by (namespace, selector text): most policies of a
 * namespace repeat a few selectors, and each lookup would otherwise build the combined text
 * ("(sel) && projectcalico.org/namespace == 'ns'") and hash it in the parse cache.
 */
export class NamespacedSelectorMemo {
  private readonly byNamespace = new Map<string, Map<string | undefined, Selector>>();
  private readonly rulesByNamespace = new Map<string, Map<string, Selector>>();
  /** namespaceTerm per namespace (null where it does not parse alone): one text and parse-cache
   *  lookup per namespace, not one per selector. */
  private readonly namespaceTerms = new Map<string, Selector | null>();

  private term(ns: string): Selector | null {
    let t = this.namespaceTerms.get(ns);
    if (t === undefined) this.namespaceTerms.set(ns, (t = namespaceTerm(ns)));
    return t;
  }

  /** policySelector(input), remembered when (namespace, selector) decide it: a namespaced policy
   *  without a serviceAccountSelector (its namespaceSelector is ignored). */
  get(input: PolicySelectorInput): Selector {
    if (!input.namespace || input.serviceAccountSelector !== undefined) return policySelector(input);
    let bySelector = this.byNamespace.get(input.namespace);
    if (!bySelector) this.byNamespace.set(input.namespace, (bySelector = new Map()));
    let sel = bySelector.get(input.selector);
    if (!sel) {
      // Throws on an invalid text: not remembered.
      sel = (input.selector ? namespacedAnd(input.namespace, input.selector, "policy", this.term(input.namespace)) : undefined) ?? policySelector(input);
      bySelector.set(input.selector, sel);
    }
    return sel;
  }

  /** The positive selector of a rule side in namespace `ns` whose only selector field is
   *  `selector` (non-empty): entityRuleSelectorText's `(namespace term) && (selector)`, parsed.
   *  Undefined where namespacedAnd is not certain; the caller parses the text. */
  ruleSelector(ns: string, selector: string): Selector | undefined {
    let bySelector = this.rulesByNamespace.get(ns);
    if (!bySelector) this.rulesByNamespace.set(ns, (bySelector = new Map()));
    let sel = bySelector.get(selector);
    if (!sel) {
      sel = namespacedAnd(ns, selector, "rule", this.term(ns));
      if (sel) bySelector.set(selector, sel);
    }
    return sel;
  }

  clear(): void {
    this.byNamespace.clear();
    this.rulesByNamespace.clear();
    this.namespaceTerms.clear();
  }
}

export interface EntitySelectorInput {
  selector?: string;
  notSelector?: string;
  namespaceSelector?: string;
  serviceAccounts?: { names?: string[]; selector?: string };
}

/** parseServiceAccounts (rules.go). */
function serviceAccountText(sam: { names?: string[]; selector?: string }): string {
  let updated = "";
  if (sam.selector) updated = prefixed(sam.selector, SA_LABEL_PREFIX);
  const names = sam.names ?? [];
  if (names.length === 0) return updated;
  const namesSel = parseSelector(`${LABEL_SERVICE_ACCOUNT} in { '${names.join("', '")}' }`).toString();
  return updated ? `(${updated}) && (${namesSel})` : namesSel;
}

/**
 * GetEntityRuleSelector (rules.go): the positive selector text of one EntityRule after Calico's
 * v3 → v1 conversion; "" means "no selector match". `ns` is the policy namespace ("" for global
 * policies and profiles). The notSelector is passed through verbatim by Calico.
 */
export function entityRuleSelectorText(er: EntitySelectorInput, ns: string): string {
  const saSel = er.serviceAccounts ? serviceAccountText(er.serviceAccounts) : "";
  let nsSel = "";
  if (er.namespaceSelector) {
    nsSel = prefixed(er.namespaceSelector, NS_LABEL_PREFIX);
    nsSel = replaceInText(nsSel, "all()", HAS_NAMESPACE);
    nsSel = replaceInText(nsSel, "global()", NOT_HAS_NAMESPACE);
  } else if (ns) {
    nsSel = `${LABEL_NAMESPACE} == '${ns}'`;
  }
  const parts = [saSel, er.selector ?? ""].filter((x) => x !== "");
  let sel = parts.length === 0 ? "" : parts.length === 1 ? parts[0]! : `(${parts.join(") && (")})`;
  if (nsSel && (sel || er.notSelector || er.namespaceSelector)) sel = sel ? `(${nsSel}) && (${sel})` : nsSel;
  return sel;
}

/**
 * Felix rule scanner combineMatchesIfPossible: with a positive selector, the negative one is folded
 * into it (the rule can only match known endpoints anyway). Without one, the negative selector
 * stays separate so that it can also match addresses outside every endpoint.
 */
export function combineMatches(positive: string, negative: string): { positive: string; negative: string } {
  if (positive && negative) return { positive: `(${positive}) && (!(${negative}))`, negative: "" };
  return { positive, negative };
}

/** The positive and negative selector texts the rule's IP sets are built from. */
export function entitySelectorTexts(er: EntitySelectorInput, ns: string): { positive: string; negative: string } {
  return combineMatches(entityRuleSelectorText(er, ns), er.notSelector ?? "");
}
