import { describe, expect, it } from "vitest";
import {
  LABEL_NAMESPACE,
  and,
  containsGlobal,
  isOnlyGlobal,
  notSelector,
  orSelectors,
  prefixLabels,
  replaceAll,
  replaceGlobal,
  replaceInText,
} from "./rewrite.js";
import { parseSelector } from "./selector.js";

const p = parseSelector;
/** What Felix ends up with for a Calico-produced text: its canonical form. */
const felix = (calicoText: string) => p(calicoText).toString();

describe("prefixLabels (Calico PrefixVisitor tests)", () => {
  it.each([
    ["k == 'v'", 'visited/k == "v"'],
    ["k != 'v'", 'visited/k != "v"'],
    ["k contains 'v'", 'visited/k contains "v"'],
    ["k starts with 'v'", 'visited/k starts with "v"'],
    ["k ends with 'v'", 'visited/k ends with "v"'],
    ["k == 'v' && x == 'y'", '(visited/k == "v" && visited/x == "y")'],
    ["k == 'v' || has(x)", '(visited/k == "v" || has(visited/x))'],
    ["!(k == 'v')", '!visited/k == "v"'],
    ["k in {'v'}", 'visited/k in {"v"}'],
    ["k not in {'v'}", 'visited/k not in {"v"}'],
    [
      "!(!(k == 'v' && has(t) || all()) && (a in {'b', 'c'}))",
      '!(!((visited/k == "v" && has(visited/t)) || all()) && visited/a in {"b", "c"})',
    ],
    ["all()", "all()"],
    ["global()", "global()"],
    // Values are never touched, even when they look like labels.
    ["k == 'k'", 'visited/k == "k"'],
  ])("%j", (input, out) => {
    expect(prefixLabels(p(input), "visited/").toString()).toBe(out);
  });

  it("collapses !! the way Felix's re-parse of Calico's text does", () => {
    expect(prefixLabels(p("!(!a == 'b')"), "pcns.").toString()).toBe('pcns.a == "b"');
  });

  it("matches the original on prefixed label maps", () => {
    const sel = p(`a == "1" && !has(b) || c not in {"x"}`);
    const pre = prefixLabels(sel, "pcsa.");
    const maps: Array<Record<string, string>> = [{ a: "1" }, { a: "1", b: "" }, { c: "x" }, {}];
    for (const l of maps) {
      const prefixed = Object.fromEntries(Object.entries(l).map(([k, v]) => [`pcsa.${k}`, v]));
      expect(pre.matches(prefixed)).toBe(sel.matches(l));
    }
  });
});

/**
 * Calico rules_test.go expectations, rebuilt with our helpers. Calico's text is what Felix parses,
 * so we compare with the canonical form of Calico's expected text.
 */
describe("Calico rule-selector pipeline (rules_test.go)", () => {
  const nsEq = (ns: string) => p(`${LABEL_NAMESPACE} == '${ns}'`);
  const hasNs = p(`has(${LABEL_NAMESPACE})`);
  const notHasNs = p(`!has(${LABEL_NAMESPACE})`);
  const nsSel = (s: string) => replaceGlobal(replaceAll(prefixLabels(p(s), "pcns."), hasNs), notHasNs);

  it("namespaced rule selector", () => {
    expect(and(nsEq("namespace2"), p("mylabel == 'value1'")).toString()).toBe(
      felix("(projectcalico.org/namespace == 'namespace2') && (mylabel == 'value1')"),
    );
  });

  it("namespace selector and selector", () => {
    expect(and(nsSel("key == 'value'"), p("projectcalico.org/orchestrator == 'k8s'")).toString()).toBe(
      felix(`(pcns.key == "value") && (projectcalico.org/orchestrator == 'k8s')`),
    );
  });

  it("complex namespace selector", () => {
    expect(nsSel("!has(key) || (has(key) && !key in {'value'})").toString()).toBe(
      '(!has(pcns.key) || (has(pcns.key) && !pcns.key in {"value"}))',
    );
  });

  it("service accounts: names AND selector, then namespace", () => {
    const sa = and(prefixLabels(p("key == 'value1'"), "pcsa."), p("projectcalico.org/serviceaccount in { 'sa1', 'sa2' }"));
    expect(and(nsEq("namespace"), sa).toString()).toBe(
      felix(`(projectcalico.org/namespace == 'namespace') && ((pcsa.key == "value1") && (projectcalico.org/serviceaccount in {"sa1", "sa2"}))`),
    );
  });

  it("namespaceSelector all() → has(projectcalico.org/namespace), global() → !has(...)", () => {
    expect(nsSel("all()").toString()).toBe("has(projectcalico.org/namespace)");
    expect(nsSel("global()").toString()).toBe("!has(projectcalico.org/namespace)");
    expect(nsSel("!global()").toString()).toBe(felix("!!has(projectcalico.org/namespace)"));
    expect(nsSel("!global()").toString()).toBe("has(projectcalico.org/namespace)");
    expect(nsSel("a == 'x' || all()").toString()).toBe('(pcns.a == "x" || has(projectcalico.org/namespace))');
  });

  it("reproduces Calico's blunt text replace inside values (and can be told not to)", () => {
    const calico = felix(replaceInText(prefixLabels(p(`a == "all()" && b in {"zz", "all()"}`), "pcns.").toString(), "all()", "has(projectcalico.org/namespace)"));
    expect(replaceAll(prefixLabels(p(`a == "all()" && b in {"zz", "all()"}`), "pcns."), hasNs).toString()).toBe(calico);
    expect(calico).toBe('(pcns.a == "has(projectcalico.org/namespace)" && pcns.b in {"has(projectcalico.org/namespace)", "zz"})');
    expect(replaceAll(p(`a == "all()"`), hasNs, { inValues: false }).toString()).toBe('a == "all()"');
  });

  it("GNP policy selector: all() in the user's selector becomes has(namespace)", () => {
    const sel = replaceAll(and(p("all()"), prefixLabels(p("env == 'prod'"), "pcns.")), hasNs);
    expect(sel.toString()).toBe(felix(`(has(projectcalico.org/namespace)) && pcns.env == "prod"`));
  });
});

describe("boolean helpers", () => {
  it("and/or keep operands nested as parentheses would", () => {
    expect(and(p("a == '1' && b == '2'"), p("c == '3'")).toString()).toBe('((a == "1" && b == "2") && c == "3")');
    expect(and(p("has(a)")).toString()).toBe("has(a)");
    expect(and().toString()).toBe("all()");
    expect(orSelectors(p("has(a)"), p("has(b)")).toString()).toBe("(has(a) || has(b))");
    expect(orSelectors().matches({})).toBe(false);
    expect(notSelector(p("!has(a)")).toString()).toBe("has(a)");
    expect(notSelector(p("has(a) && has(b)")).toString()).toBe("!(has(a) && has(b))");
  });
});

describe("global() checks", () => {
  it.each([
    // text, contains, only (Calico's token check on text), only (AST: parentheses make no node)
    ["global()", true, true, true],
    [" global( ) ", true, true, true],
    ["!global()", true, false, false],
    ["global() && has(a)", true, false, false],
    ["(global())", true, false, true],
    ["has(a)", false, false, false],
  ])("%j contains=%s only=%s", (text, contains, onlyText, onlyAst) => {
    expect(containsGlobal(p(text))).toBe(contains);
    expect(isOnlyGlobal(p(text))).toBe(onlyAst);
    expect(containsGlobal(text)).toBe(contains);
    expect(isOnlyGlobal(text)).toBe(onlyText);
  });

  it("textual check fires on values like Calico's CEL rule", () => {
    expect(containsGlobal(`a == "global("`)).toBe(true);
    expect(containsGlobal(p(`a == "global("`))).toBe(false);
  });
});
