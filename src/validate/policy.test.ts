import { doc, ruleTester } from "./testdata/rule-tester.js";

const np = (spec: string) => doc("NetworkPolicy", spec, { namespace: "ns" });
const gnp = (spec: string) => doc("GlobalNetworkPolicy", spec);
const snp = (spec: string) => doc("StagedNetworkPolicy", spec, { namespace: "ns" });
const sgnp = (spec: string) => doc("StagedGlobalNetworkPolicy", spec);
const tier = (name: string, spec: string) => doc("Tier", spec, { name });

ruleTester("policy level", {
  valid: [
    np("order: 100\nselector: app == 'web'\ntypes: [Ingress, Egress]"),
    np("order: -5.5\ntier: security"),
    np("types: []"),
    np("types: [Egress]\ningress: [{action: Allow}]"),
    np("performanceHints: [AssumeNeededOnEveryNode]"),
    np(""),
    gnp("doNotTrack: true\napplyOnForward: true\ningress: [{action: Allow}]\negress: [{action: Allow}]"),
    gnp("preDNAT: true\napplyOnForward: true\ningress: [{action: Deny}]"),
    gnp("namespaceSelector: has(team)\nserviceAccountSelector: role == 'x'"),
    snp("stagedAction: Set\nselector: all()"),
    snp("stagedAction: Learn"),
    snp("stagedAction: Delete\ntier: security"),
    sgnp("stagedAction: Ignore\npreDNAT: true\napplyOnForward: true"),
    tier("security", "order: 100\ndefaultAction: Pass"),
    tier("nothing", ""),
    tier("default", "order: 1000000"),
    tier("default", "order: 1000000\ndefaultAction: Deny"),
    tier("kube-admin", "order: 1000\ndefaultAction: Pass"),
    tier("kube-baseline", "order: 10000000\ndefaultAction: Pass"),
    doc("Profile", "ingress: [{action: Allow}]\negress: [{action: Deny}]\nlabelsToApply: {a: b}", { name: "kns.prod" }),
  ],
  invalid: [
    { yaml: np("order: .inf"), codes: ["invalid-order"] },
    { yaml: np(`order: "100"`), codes: ["invalid-type"] },
    { yaml: np("types: [ingress]"), codes: ["invalid-types"] },
    { yaml: np("types: [Ingress, Ingress]"), codes: ["invalid-types"] },
    { yaml: np("types: [Ingress, Egress, Ingress]"), codes: ["invalid-types", "invalid-types"] },
    { yaml: np("types: Ingress"), codes: ["invalid-type"] },
    { yaml: np("performanceHints: [Fast]"), codes: ["invalid-performance-hint"] },
    { yaml: np("performanceHints: [AssumeNeededOnEveryNode, AssumeNeededOnEveryNode]"), codes: ["invalid-performance-hint"] },
    { yaml: np("tier: Security"), codes: ["invalid-tier"] },
    { name: "namespaceSelector is only for GNP", yaml: np("namespaceSelector: all()"), codes: ["unknown-field"] },
    { name: "doNotTrack is only for GNP", yaml: np("doNotTrack: true"), codes: ["unknown-field"] },
    { yaml: gnp("doNotTrack: true\npreDNAT: true\napplyOnForward: true"), codes: ["invalid-policy-flags"] },
    { yaml: gnp("doNotTrack: true"), codes: ["invalid-policy-flags"] },
    { yaml: gnp("preDNAT: true"), codes: ["invalid-policy-flags"] },
    { yaml: gnp("preDNAT: true\napplyOnForward: true\negress: [{action: Allow}]"), codes: ["invalid-policy-flags"] },
    { yaml: gnp("preDNAT: true\napplyOnForward: true\ntypes: [Ingress, Egress]"), codes: ["invalid-policy-flags"] },
    { yaml: gnp("applyOnForward: yes please"), codes: ["invalid-type"] },
    { yaml: snp("stagedAction: Remove"), codes: ["invalid-staged-action"] },
    { yaml: snp("stagedAction: Delete\nselector: all()"), codes: ["staged-delete-not-empty"] },
    { yaml: sgnp("stagedAction: Delete\ningress: [{action: Allow}]\norder: 3"), codes: ["staged-delete-not-empty", "staged-delete-not-empty"] },
    { yaml: sgnp("preDNAT: true"), codes: ["invalid-policy-flags"] },
    { yaml: tier("security", "defaultAction: Allow"), codes: ["invalid-default-action"] },
    { yaml: tier("security", "order: 100\nselector: all()"), codes: ["unknown-field"] },
    { yaml: tier("default", "order: 100"), codes: ["builtin-tier"] },
    { yaml: tier("default", ""), codes: ["builtin-tier"] },
    { yaml: tier("default", "order: 1000000\ndefaultAction: Pass"), codes: ["builtin-tier"] },
    { name: "kube-admin must say Pass explicitly", yaml: tier("kube-admin", "order: 1000"), codes: ["builtin-tier"] },
    { yaml: tier("kube-baseline", "order: 1000\ndefaultAction: Pass"), codes: ["builtin-tier"] },
    { yaml: doc("Profile", "selector: all()", { name: "p" }), codes: ["unknown-field"] },
    { name: "top-level selector hint", yaml: "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: a}\nselector: all()\n", codes: ["unknown-field"] },
  ],
});
