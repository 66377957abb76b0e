import { describe, expect, it } from "vitest";
import { parseSelector } from "../selector/index.js";
import { combineMatches, entityRuleSelectorText, policySelectorText, type EntitySelectorInput, type PolicySelectorInput } from "./selector-rewrite.js";

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
