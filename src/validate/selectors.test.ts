import { doc, egressRule, ruleTester } from "./testdata/rule-tester.js";

const npSel = (sel: string) => doc("NetworkPolicy", `selector: ${sel}`, { namespace: "ns" });
const gnp = (spec: string) => doc("GlobalNetworkPolicy", spec);

ruleTester("selectors", {
  valid: [
    npSel(`"app == 'web' && tier in {'a', 'b'}"`),
    npSel("all()"),
    npSel('""'),
    npSel(`"has(a) || !has(b)"`),
    gnp(`namespaceSelector: "name == 'x'"\nserviceAccountSelector: "role == 'db'"`),
    egressRule(`action: Allow\ndestination:\n  namespaceSelector: global()`),
    egressRule(`action: Allow\ndestination:\n  namespaceSelector: "  global()  "`),
    egressRule(`action: Allow\ndestination:\n  notSelector: global()`),
    egressRule(`action: Allow\ndestination:\n  serviceAccounts:\n    selector: "team == 'a'"\n    names: [api]`),
    npSel(`"${"a == 'x' && ".repeat(84)}b == 'y'"`),
  ],
  invalid: [
    { yaml: npSel(`"app = 'web'"`), codes: ["invalid-selector"], paths: ["spec.selector"] },
    { yaml: npSel(`"app == web"`), codes: ["invalid-selector"] },
    { yaml: npSel(`"app == 'web"`), codes: ["invalid-selector"] },
    { yaml: npSel(`"has (a)"`), codes: ["invalid-selector"] },
    { yaml: npSel(`"a & b"`), codes: ["invalid-selector"] },
    {
      name: "a YAML | block leaves a trailing newline, which Calico rejects",
      yaml: doc("NetworkPolicy", "selector: |\n  app == 'web'", { namespace: "ns" }),
      codes: ["invalid-selector"],
    },
    { yaml: npSel(`"${"a == 'x' && ".repeat(85)}b == 'y'"`), codes: ["selector-too-long"] },
    { name: "label longer than 512", yaml: npSel(`"${"a".repeat(513)} == 'x'"`), codes: ["invalid-selector"] },
    { name: "global() in a policy selector", yaml: npSel("global()"), codes: ["global-selector"] },
    { yaml: doc("NetworkPolicy", `serviceAccountSelector: "global()"`, { namespace: "ns" }), codes: ["global-selector"] },
    { name: "global() in a GNP namespaceSelector", yaml: gnp("namespaceSelector: global()"), codes: ["global-selector"] },
    {
      name: "global() in a rule selector",
      yaml: egressRule(`action: Allow\ndestination:\n  selector: global()`),
      codes: ["global-selector"],
    },
    {
      name: "global() combined with another term",
      yaml: egressRule(`action: Allow\ndestination:\n  namespaceSelector: "global() && a == 'b'"`),
      codes: ["global-selector"],
    },
    {
      name: "negated global()",
      yaml: egressRule(`action: Allow\ndestination:\n  namespaceSelector: "!global()"`),
      codes: ["global-selector"],
    },
    {
      yaml: egressRule(`action: Allow\nsource:\n  serviceAccounts:\n    selector: "a =="`),
      codes: ["invalid-selector"],
    },
    { yaml: egressRule(`action: Allow\nsource:\n  notSelector: "((a)"`), codes: ["invalid-selector"] },
  ],
});
