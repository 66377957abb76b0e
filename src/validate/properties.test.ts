/**
 * Properties over generated input: valid policies load clean and come back as applyDefaults of
 * themselves, whether written as YAML or JSON; one injected mistake gives exactly its issue, at
 * the right path; port parsing agrees across spellings.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { Resource } from "../model/index.js";
import { applyDefaults } from "./defaults.js";
import { loadManifests } from "./load.js";
import { parseCalicoPort } from "./ports.js";

const label = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/);
const v4cidr = fc
  .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.constantFrom(8, 16, 24, 32))
  .map(([a, b, p]) => (p === 8 ? `${a}.0.0.0/8` : p === 16 ? `${a}.${b}.0.0/16` : p === 24 ? `${a}.${b}.7.0/24` : `${a}.${b}.7.9/32`));
const port = fc.oneof(
  fc.integer({ min: 1, max: 65535 }),
  fc.tuple(fc.integer({ min: 1, max: 30000 }), fc.integer({ min: 0, max: 30000 })).map(([a, d]) => `${a}:${a + d}`),
  fc.constantFrom("http", "metrics", "dns-tcp"),
);
const entity = fc.record(
  {
    selector: label.map((l) => `${l} == 'x'`),
    namespaceSelector: fc.constantFrom("all()", "team == 'a'", "global()"),
    nets: fc.array(v4cidr, { minLength: 1, maxLength: 3 }).map((xs) => [...new Set(xs)]),
    ports: fc.array(port, { minLength: 1, maxLength: 4 }),
  },
  { requiredKeys: [] },
);
const rule = fc.record(
  {
    action: fc.constantFrom("Allow", "Deny", "Log", "Pass"),
    protocol: fc.constantFrom("TCP", "UDP", "SCTP", 6, 17),
    source: entity,
    destination: entity,
  },
  { requiredKeys: ["action", "protocol"] },
);
const policy = fc.record({
  name: label,
  namespace: label,
  // -0 is excluded: JSON has no negative zero, so it round-trips as 0 (not a loader property).
  order: fc.option(fc.double({ min: -1e6, max: 1e6, noNaN: true }).map((n) => (Object.is(n, -0) ? 0 : n)), { nil: undefined }),
  ingress: fc.array(rule, { maxLength: 3 }),
  egress: fc.array(rule, { maxLength: 3 }),
}).map((p) => ({
  apiVersion: "projectcalico.org/v3",
  kind: "NetworkPolicy",
  metadata: { name: p.name, namespace: p.namespace },
  spec: {
    selector: "all()",
    ...(p.order !== undefined ? { order: p.order } : {}),
    ...(p.ingress.length ? { ingress: p.ingress } : {}),
    ...(p.egress.length ? { egress: p.egress } : {}),
  },
}));

describe("generated policies", () => {
  it("valid ones load clean, as YAML and as JSON, and equal applyDefaults(input)", () => {
    fc.assert(
      fc.property(policy, fc.boolean(), (p, asJson) => {
        const text = asJson ? JSON.stringify(p) : stringify(p, { version: "1.1" });
        const r = loadManifests({ text });
        expect(r.issues).toEqual([]);
        expect(r.resources[0]!.resource).toEqual(applyDefaults(p as unknown as Resource));
      }),
      { numRuns: 200 },
    );
  });

  it("one wrong action gives exactly one invalid-action issue at its path", () => {
    fc.assert(
      fc.property(
        policy.filter((p) => (p.spec.ingress?.length ?? 0) > 0),
        fc.nat(),
        fc.constantFrom("allow", "DENY", "Drop", "accept"),
        (p, n, bad) => {
          const i = n % p.spec.ingress!.length;
          (p.spec.ingress![i] as { action: string }).action = bad;
          const r = loadManifests({ text: stringify(p, { version: "1.1" }) });
          expect(r.issues.map((x) => [x.code, x.path])).toEqual([["invalid-action", ["spec", "ingress", i, "action"]]]);
          expect(r.resources).toEqual([]);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe("parseCalicoPort", () => {
  it("a number and its decimal string parse the same; 'n:n' is the same port", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 65535 }), (n) => {
        const want = { ok: true, port: { kind: "range", min: n, max: n } };
        expect(parseCalicoPort(n)).toEqual(want);
        expect(parseCalicoPort(String(n))).toEqual(want);
        expect(parseCalicoPort(`${n}:${n}`)).toEqual(want);
      }),
    );
  });

  it("ranges are accepted exactly when 1 ≤ min ≤ max ≤ 65535", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 70000 }), fc.integer({ min: 0, max: 70000 }), (a, b) => {
        expect(parseCalicoPort(`${a}:${b}`).ok).toBe(a >= 1 && a <= b && b <= 65535);
      }),
    );
  });

  it("never throws", () => {
    fc.assert(fc.property(fc.anything(), (v) => void parseCalicoPort(v)));
  });
});
