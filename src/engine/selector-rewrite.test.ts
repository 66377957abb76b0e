import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseSelector, Selector } from "../selector/index.js";
import { selectorNodes } from "../selector/testing.js";
import {
  combineMatches,
  entityRuleSelectorText,
  namespacedAnd,
  policySelectorText,
  type EntitySelectorInput,
  type PolicySelectorInput,
} from "./selector-rewrite.js";

// Expected texts are the ones Calico's own tests assert (libcalico-go updateprocessors
// rules_test.go and globalnetworkpolicyprocessor_test.go), so set ids hash the same text Felix does.
describe("entityRuleSelectorText (Calico GetEntityRuleSelector)", () => {
  const cases: Array<[string, EntitySelectorInput, string, string]> = [
    ["namespaced selector", { selector: "mylabel = value1", notSelector: "has(label1)" }, "namespace2", "(projectcalico.org/namespace == 'namespace2') && (mylabel = value1)"],
    ["lone notSelector in a namespaced policy is namespaced", { notSelector: "has(label2)" }, "namespace2", "projectcalico.org/namespace == 'namespace2'"],
    ["namespaceSelector replaces the namespace", { namespaceSelector: "namespacelabel1 == 'value1'", notSelector: "has(label2)" }, "namespace1", 'pcns.namespacelabel1 == "value1"'],
    ["profile (no namespace)", { selector: "has(foo)" }, "", "has(foo)"],
    ["no selector fields: any address", {}, "ns", ""],
    ["selector + namespaceSelector", { selector: "projectcalico.org/orchestrator == 'k8s'", namespaceSelector: "key == 'value'" }, "namespace", "(pcns.key == \"value\") && (projectcalico.org/orchestrator == 'k8s')"],
    ["complex namespace selector", { namespaceSelector: "!has(key) || (has(key) && !key in {'value'})" }, "namespace", '(!has(pcns.key) || (has(pcns.key) && !pcns.key in {"value"}))'],
    [
      "service accounts (names + selector)",
      { serviceAccounts: { names: ["sa1", "sa2"], selector: "key == 'value1'" } },
      "namespace",
      "(projectcalico.org/namespace == 'namespace') && ((pcsa.key == \"value1\") && (projectcalico.org/serviceaccount in {\"sa1\", \"sa2\"}))",
    ],
    [
      "service accounts with namespaceSelector",
      { namespaceSelector: "nskey == 'nsvalue'", serviceAccounts: { names: ["sa3"], selector: "key == 'value2'" } },
      "namespace",
      "(pcns.nskey == \"nsvalue\") && ((pcsa.key == \"value2\") && (projectcalico.org/serviceaccount in {\"sa3\"}))",
    ],
    ["service accounts, global policy", { serviceAccounts: { names: ["sa1", "sa2"], selector: "key == 'value1'" } }, "", "(pcsa.key == \"value1\") && (projectcalico.org/serviceaccount in {\"sa1\", \"sa2\"})"],
    ["empty service account match", { serviceAccounts: {} }, "", ""],
    [
      "service accounts + selector + namespaceSelector",
      { namespaceSelector: "nskey == 'nsvalue'", serviceAccounts: { names: ["sa3"], selector: "key == 'value2'" }, selector: "has(label1)" },
      "namespace",
      "(pcns.nskey == \"nsvalue\") && (((pcsa.key == \"value2\") && (projectcalico.org/serviceaccount in {\"sa3\"})) && (has(label1)))",
    ],
    ["namespaceSelector all()", { namespaceSelector: "all()" }, "", "has(projectcalico.org/namespace)"],
    ["namespaceSelector global()", { namespaceSelector: "global()" }, "ns", "!has(projectcalico.org/namespace)"],
  ];
  it.each(cases)("%s", (_n, er, ns, want) => {
    expect(entityRuleSelectorText(er, ns)).toBe(want);
  });
});

describe("combineMatches (Felix rule scanner)", () => {
  it("folds the negative selector into a positive one", () => {
    expect(combineMatches("a == 'x'", "has(b)")).toEqual({ positive: "(a == 'x') && (!(has(b)))", negative: "" });
  });
  it("keeps a lone negative selector separate", () => {
    expect(combineMatches("", "has(b)")).toEqual({ positive: "", negative: "has(b)" });
  });
});

describe("policySelectorText", () => {
  const sel = "mylabel == 'selectme'";
  const cases: Array<[string, PolicySelectorInput, string]> = [
    ["GNP plain", { selector: sel }, sel],
    ["GNP + SA selector", { selector: sel, serviceAccountSelector: "role == 'development'" }, `(mylabel == 'selectme') && pcsa.role == "development"`],
    ["GNP + SA all()", { selector: sel, serviceAccountSelector: "all()" }, `(mylabel == 'selectme') && has(projectcalico.org/serviceaccount)`],
    ["GNP + NS selector", { selector: sel, namespaceSelector: "name == 'testing'" }, `(mylabel == 'selectme') && pcns.name == "testing"`],
    ["GNP + NS all()", { selector: sel, namespaceSelector: "all()" }, `(mylabel == 'selectme') && has(projectcalico.org/namespace)`],
    ["GNP + NS + SA", { selector: sel, namespaceSelector: "name == 'testing'", serviceAccountSelector: "role == 'development'" }, `((mylabel == 'selectme') && pcns.name == "testing") && pcsa.role == "development"`],
    ["GNP SA only", { serviceAccountSelector: "role == 'development'" }, `pcsa.role == "development"`],
    ["GNP NS only", { namespaceSelector: "name == 'testing'" }, `pcns.name == "testing"`],
    ["GNP NS + SA", { namespaceSelector: "name == 'testing'", serviceAccountSelector: "role == 'development'" }, `(pcns.name == "testing") && pcsa.role == "development"`],
    ["GNP empty selects everything", {}, ""],
    ["NP", { namespace: "prod", selector: "app == 'web'" }, "(app == 'web') && projectcalico.org/namespace == 'prod'"],
    ["NP empty selector", { namespace: "prod" }, "projectcalico.org/namespace == 'prod'"],
    ["NP + SA", { namespace: "prod", serviceAccountSelector: "role == 'x'" }, `(projectcalico.org/namespace == 'prod') && pcsa.role == "x"`],
    ["GNP blunt all() replace hits the user selector too", { selector: "all()", namespaceSelector: "a == 'b'" }, `(has(projectcalico.org/namespace)) && pcns.a == "b"`],
  ];
  it.each(cases)("%s", (_n, input, want) => {
    expect(policySelectorText(input)).toBe(want);
  });

  it("the NP texts parse to the canonical selector Felix hashes", () => {
    expect(parseSelector(policySelectorText({ namespace: "prod", selector: "app == 'web'" })).toString()).toBe(
      '(app == "web" && projectcalico.org/namespace == "prod")',
    );
  });
});

describe("namespacedAnd: the glued text's parse, built from the parts", () => {
  // Valid texts (printed trees, with odd spacing and quotes), raw fragments (mostly invalid, some
  // that only balance once glued), blanks and all(); namespaces including ones that break quoting.
  const LABELS = ["app", "tier", "a.b/c"];
  const VALUES = ["x", "y z", "it's", "all()", ""];
  const printed = selectorNodes(LABELS, VALUES).map((n) => new Selector(n).toString());
  const respaced = printed.chain((t) => fc.constantFrom(t, ` ${t} `, t.replace(/ /g, "  "), t.replace(/"/g, "'")));
  const PIECES = ["(", ")", "app", "==", "'x'", "&&", "||", "!", "has(app)", "all()", " ", "tier in {'a'}", "global()"];
  const raw = fc.array(fc.constantFrom(...PIECES), { maxLength: 8 }).map((a) => a.join(" "));
  const text = fc.oneof(respaced, raw, fc.constantFrom("", "   ", "all()", "app == 'x') && (tier == 'y'", "(".repeat(999) + "has(a)" + ")".repeat(999)));
  const ns = fc.constantFrom("ns-1", "default", "a'b", "x y", "");

  const parsed = (t: string) => {
    try {
      return parseSelector(t);
    } catch {
      return undefined;
    }
  };

  it("is undefined or equals parsing Calico's glued text (tree and canonical text)", () => {
    fc.assert(
      fc.property(ns, text, fc.constantFrom("policy" as const, "rule" as const), (n, t, form) => {
        const built = namespacedAnd(n, t, form);
        if (built === undefined) return;
        const glued =
          form === "policy"
            ? policySelectorText({ namespace: n, selector: t })
            : entityRuleSelectorText({ selector: t }, n);
        const want = parsed(glued);
        expect(want, glued).toBeDefined();
        expect(built.ast).toEqual(want!.ast);
        expect(built.toString()).toBe(want!.toString());
      }),
      { numRuns: 3000 },
    );
  });

  it("takes the usual texts, and leaves blanks, all() and invalid texts to the text path", () => {
    expect(namespacedAnd("ns-1", "app == 'web'", "rule")?.toString()).toBe(parseSelector("(projectcalico.org/namespace == 'ns-1') && (app == 'web')").toString());
    expect(namespacedAnd("ns-1", "app == 'web' && tier in {'a', 'b'}", "policy")?.toString()).toBe(
      parseSelector("(app == 'web' && tier in {'a', 'b'}) && projectcalico.org/namespace == 'ns-1'").toString(),
    );
    for (const t of ["", "  ", "all()", "app == 'x') && (tier == 'y'", "app =="]) expect(namespacedAnd("ns-1", t, "rule"), t).toBeUndefined();
    expect(namespacedAnd("a'b", "app == 'x'", "rule")).toBeUndefined();
  });
});
