import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { comparePolicies, compareTiers, type PolicyIR, type TierIR } from "../rule/index.js";
import { parseSelector } from "../selector/index.js";
import { PolicyResolver, policyHead, policyKey, type CompiledPolicy, type PolicyInput } from "./policy-resolver.js";
import { NamespacedSelectorMemo } from "./selector-rewrite.js";

const TIERS: TierIR[] = (
  [
    { name: "kube-admin", order: 1000, defaultAction: "Pass" },
    { name: "security", order: 50, defaultAction: "Deny" },
    { name: "default", order: 1_000_000, defaultAction: "Deny" },
  ] satisfies TierIR[]
).sort(compareTiers);

// Names mix ASCII with characters whose UTF-16 order differs from their UTF-8 byte order
// (U+FF5A is above U+D83D, the lead surrogate of 😀, in UTF-16, but below it in UTF-8).
const nameChar = fc.constantFrom("a", "b", "z", "-", ".", "é", "ｚ", "😀");
const policyArb = fc.record({
  tier: fc.constantFrom("kube-admin", "security", "default"),
  order: fc.option(fc.constantFrom(0, 1, 1.5, 100, 1000), { nil: null }),
  name: fc.array(nameChar, { minLength: 1, maxLength: 4 }).map((cs) => cs.join("")),
  namespace: fc.option(fc.constantFrom("ns-a", "ns-é", "ns-ｚ"), { nil: undefined }),
});

function compiled(p: { tier: string; order: number | null; name: string; namespace: string | undefined }): CompiledPolicy {
  const kind = p.namespace === undefined ? "GlobalNetworkPolicy" : "NetworkPolicy";
  const ir = {
    key: policyKey(kind, p.name, p.namespace),
    kind,
    name: p.name,
    ...(p.namespace !== undefined ? { namespace: p.namespace } : {}),
    tier: p.tier,
    order: p.order,
    staged: false,
    selector: "all()",
    governs: { ingress: true, egress: false },
    ingress: [],
    egress: [],
    applyOnForward: false,
    preDNAT: false,
    doNotTrack: false,
  } as PolicyIR;
  return { ir, selector: parseSelector("all()") };
}

describe("PolicyResolver ordering", () => {
  it("orders policies by tier, then comparePolicies (order, then name/namespace/kind in UTF-8 byte order)", () => {
    fc.assert(
      fc.property(fc.uniqueArray(policyArb, { selector: (p) => `${p.name}/${p.namespace ?? ""}`, maxLength: 40 }), (raw) => {
        const policies = raw.map(compiled);
        const resolver = new PolicyResolver(TIERS, policies);
        const program = resolver.programsFor("workload", policies.map((_, i) => i), []).ingress;
        const got = program.tiers.flatMap((t) => t.policies);
        const tierIndex = new Map(TIERS.map((t, i) => [t.name, i]));
        const want = [...policies]
          .sort((a, b) => tierIndex.get(a.ir.tier)! - tierIndex.get(b.ir.tier)! || comparePolicies(a.ir, b.ir))
          .map((p) => p.ir.key);
        expect(got).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });

  it("selecting() finds the same policies through its candidate index as plain evaluation", () => {
    const texts = ["app == 'a'", "app in {'a', 'b'}", "has(app)", "all()", "app == 'a' && tier == 'x'", "!has(app)", "app in {}"];
    const policies = texts.map((t, i) => ({ ...compiled({ tier: "default", order: i, name: `p${i}`, namespace: undefined }), selector: parseSelector(t) }));
    const resolver = new PolicyResolver(TIERS, policies);
    const cases: Array<Record<string, string>> = [{}, { app: "a" }, { app: "b" }, { app: "a", tier: "x" }, { tier: "x" }, { app: "c" }];
    for (const labels of cases) {
      const want = policies.filter((p) => p.selector.matches(labels)).map((p) => p.ir.key);
      expect(resolver.selecting(labels).map((p) => p.ir.key), JSON.stringify(labels)).toEqual(want);
    }
  });
});

describe("policyHead with the per-build selector memo", () => {
  const inputs: PolicyInput[] = [
    { kind: "NetworkPolicy", label: "a", resource: { apiVersion: "projectcalico.org/v3", kind: "NetworkPolicy", metadata: { name: "a", namespace: "prod" }, spec: { selector: "app == 'web'" } } },
    { kind: "NetworkPolicy", label: "b", resource: { apiVersion: "projectcalico.org/v3", kind: "NetworkPolicy", metadata: { name: "b", namespace: "prod" }, spec: { selector: "app == 'web'" } } },
    { kind: "NetworkPolicy", label: "c", resource: { apiVersion: "projectcalico.org/v3", kind: "NetworkPolicy", metadata: { name: "c", namespace: "dev" }, spec: { selector: "app == 'web'" } } },
    { kind: "NetworkPolicy", label: "d", resource: { apiVersion: "projectcalico.org/v3", kind: "NetworkPolicy", metadata: { name: "d", namespace: "prod" }, spec: {} } },
    { kind: "NetworkPolicy", label: "e", resource: { apiVersion: "projectcalico.org/v3", kind: "NetworkPolicy", metadata: { name: "e", namespace: "prod" }, spec: { selector: "app == " } } },
    { kind: "NetworkPolicy", label: "f", resource: { apiVersion: "projectcalico.org/v3", kind: "NetworkPolicy", metadata: { name: "f", namespace: "prod" }, spec: { selector: "app == " } } },
    { kind: "NetworkPolicy", label: "g", resource: { apiVersion: "projectcalico.org/v3", kind: "NetworkPolicy", metadata: { name: "g", namespace: "prod" }, spec: { selector: "app == 'web'", serviceAccountSelector: "role == 'x'" } } },
    { kind: "GlobalNetworkPolicy", label: "h", resource: { apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkPolicy", metadata: { name: "h" }, spec: { selector: "app == 'web'", namespaceSelector: "team == 'a'" } } },
  ];

  it("gives what policyHead gives without it, invalid selectors included (never remembered)", () => {
    const memo = new NamespacedSelectorMemo();
    for (const input of [...inputs, ...inputs]) {
      const plain = policyHead(input);
      const memoised = policyHead(input, memo);
      expect(memoised.issues).toEqual(plain.issues);
      expect(memoised.head?.key).toBe(plain.head?.key);
      expect(memoised.head?.selector.toString()).toBe(plain.head?.selector.toString());
    }
    const [a, b, c] = inputs.map((i) => policyHead(i, memo).head!);
    expect(b!.selector).toBe(a!.selector);
    expect(c!.selector.toString()).not.toBe(a!.selector.toString());
  });
});
