import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { comparePolicies, compareTiers, type PolicyIR, type TierIR } from "../rule/index.js";
import { parseSelector } from "../selector/index.js";
import { PolicyResolver, policyKey, type CompiledPolicy } from "./policy-resolver.js";

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
