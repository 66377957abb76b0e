import { ruleTester, doc } from "./testdata/rule-tester.js";

const gnp = (name: string) => doc("GlobalNetworkPolicy", "selector: all()", { name });
const np = (name: string, ns = "ns") => doc("NetworkPolicy", "selector: all()", { name, namespace: ns });
const tier = (name: string) => doc("Tier", "order: 100", { name });
const gns = (name: string) => doc("GlobalNetworkSet", "nets: [10.0.0.0/8]", { name });
const k8s = (kind: string, name: string, apiVersion = "v1", extra = "") =>
  `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata:\n  name: ${name}\n  namespace: ns\n${extra}`;

ruleTester("names", {
  valid: [
    np("allow-dns"),
    np("security.allow-dns"), // tier-prefixed spelling (required up to v3.31) still accepted
    np("knp.default.a.b.c"),
    np("ossg.default.x"),
    np("a"),
    gnp("default-deny"),
    gnp("platform.default-deny"),
    gnp("0abc"),
    doc("StagedNetworkPolicy", "selector: all()", { name: "staged.one", namespace: "ns" }),
    tier("security"),
    tier("a".repeat(63)),
    gns("a.b.c.d"),
    gns("a".repeat(253)),
    doc("Profile", "", { name: "kns.default" }),
    k8s("Namespace", "production").replace("  namespace: ns\n", ""),
    k8s("ServiceAccount", "sa.with.dots"),
    k8s("Service", "frontend", "v1", "spec:\n  ports: [{port: 80}]\n"),
    k8s("NetworkPolicy", "a.b.c", "networking.k8s.io/v1", "spec: {}\n"),
  ],
  invalid: [
    { yaml: np("Allow-DNS"), codes: ["invalid-name"], paths: ["metadata.name"] },
    { yaml: np("a.b.c"), codes: ["invalid-name"] },
    { yaml: np("-a"), codes: ["invalid-name"] },
    { yaml: np("a_b"), codes: ["invalid-name"] },
    { yaml: np("knp.default.UPPER"), codes: ["invalid-name"] },
    { yaml: gnp("knp.default.x"), codes: ["invalid-name"] },
    { yaml: gnp("a."), codes: ["invalid-name"] },
    { yaml: gnp('""'), codes: ["invalid-name"] },
    { yaml: tier("a.b"), codes: ["invalid-name"] },
    { yaml: tier("a".repeat(64)), codes: ["name-too-long"] },
    { yaml: gns("a".repeat(254)), codes: ["name-too-long"] },
    { yaml: gns("a..b"), codes: ["invalid-name"] },
    { yaml: gnp(`a${"b".repeat(253)}`), codes: ["name-too-long"] },
    { name: "namespace must be a DNS label", yaml: np("x", "Prod"), codes: ["invalid-namespace"] },
    { name: "namespace with a dot", yaml: np("x", "a.b"), codes: ["invalid-namespace"] },
    {
      name: "cluster-scoped kind with a namespace",
      yaml: doc("GlobalNetworkPolicy", "selector: all()", { name: "x", namespace: "ns" }),
      codes: ["namespace-not-allowed"],
    },
    { name: "Service names are DNS-1035 labels", yaml: k8s("Service", "1frontend", "v1", "spec: {}\n"), codes: ["invalid-name"] },
    { name: "Namespace names are DNS labels", yaml: k8s("Namespace", "a.b").replace("  namespace: ns\n", ""), codes: ["invalid-name"] },
    { name: "missing name", yaml: "apiVersion: v1\nkind: Namespace\nmetadata: {}\n", codes: ["required"] },
    { name: "missing metadata", yaml: "apiVersion: v1\nkind: Namespace\n", codes: ["required"] },
  ],
});
