/**
 * fast-check generators of small, valid ClusterIRs over a fixed set of endpoints (the pods of the
 * netns test topology), for property tests: renderer output must load, deltas must converge, and
 * the kernel's verdict must equal rule/match.ts's.
 *
 * The generated IR is "engine-shaped": programs list the tiers/policies that select each endpoint,
 * sets hold the IPs of endpoints whose labels match, and every rule is valid per Calico's
 * validation (ports only with TCP/UDP/SCTP, ICMP fields only with the family's ICMP protocol).
 */
import fc from "fast-check";
import { ChunkedMap } from "../../model/index.js";
import type { ClusterIR, DirectionProgram, EndpointIR, EntityMatch, PolicyIR, PortRange, RuleIR, RuleMatch, SetDef } from "../../rule/index.js";

export interface ArbPod {
  name: string;
  iface: string;
  v4: string;
  v6: string;
  node: string;
}

/** Label values each pod may carry; selector sets are "role == X" for X in ROLES. */
export const ROLES = ["a", "b", "c"] as const;
export const PORTS = [80, 443, 8080, 9090] as const;

export interface ArbSpec {
  pods: ArbPod[];
  /** Extra external CIDRs that may appear in nets and network sets. */
  externalNets: string[];
}

const arbPortRanges: fc.Arbitrary<PortRange[]> = fc.array(
  fc.oneof(
    fc.constantFrom(...PORTS).map((p) => ({ first: p, last: p })),
    fc.constantFrom(...PORTS).map((p) => ({ first: p, last: p + 10 })),
  ),
  { minLength: 1, maxLength: 2 },
);

function arbEntity(spec: ArbSpec, setIds: string[], withPorts: boolean): fc.Arbitrary<EntityMatch> {
  const podNets = spec.pods.flatMap((p) => [`${p.v4}/32`, `${p.v6}/128`]);
  const nets = [...podNets, ...spec.externalNets];
  return fc
    .record(
      {
        nets: fc.subarray(nets, { minLength: 1, maxLength: 2 }),
        notNets: fc.subarray(nets, { minLength: 1, maxLength: 2 }),
        sets: fc.subarray(setIds, { minLength: 1, maxLength: 1 }),
        notSets: fc.subarray(setIds, { minLength: 1, maxLength: 1 }),
        ports: withPorts ? arbPortRanges : fc.constant(undefined),
        notPorts: withPorts ? arbPortRanges : fc.constant(undefined),
      },
      { requiredKeys: [] },
    )
    .map((e) => {
      const out: EntityMatch = {};
      for (const [k, v] of Object.entries(e)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
      return out;
    });
}

function arbMatch(spec: ArbSpec, setIds: string[]): fc.Arbitrary<RuleMatch> {
  return fc.oneof(
    // TCP/UDP/SCTP with optional ports.
    fc.record({
      protocol: fc.constantFrom(6, 17, 132),
      src: arbEntity(spec, setIds, true),
      dst: arbEntity(spec, setIds, true),
    }),
    // ICMP of one family, optional type/code.
    fc
      .record({
        v: fc.constantFrom(4 as const, 6 as const),
        icmp: fc.option(fc.record({ type: fc.constantFrom(8, 128, 0, 3), code: fc.option(fc.constantFrom(0, 1), { nil: undefined }) }), { nil: undefined }),
        neg: fc.boolean(),
        src: arbEntity(spec, setIds, false),
      })
      .map(({ v, icmp, neg, src }) => {
        const m: RuleMatch = { protocol: v === 4 ? 1 : 58, ipVersion: v, src, dst: {} };
        if (icmp) {
          const i = icmp.code === undefined ? { type: icmp.type } : { type: icmp.type, code: icmp.code };
          if (neg) m.notIcmp = i;
          else m.icmp = i;
        }
        return m;
      }),
    // No protocol: addresses only, maybe notProtocol.
    fc
      .record({ src: arbEntity(spec, setIds, false), dst: arbEntity(spec, setIds, false), notProtocol: fc.option(fc.constantFrom(6, 17, 1), { nil: undefined }) })
      .map(({ src, dst, notProtocol }) => (notProtocol === undefined ? { src, dst } : { src, dst, notProtocol })),
  );
}

const arbAction = fc.constantFrom<RuleIR["action"]>("Allow", "Allow", "Deny", "Pass", "Log");

export interface ArbCluster {
  ir: ClusterIR;
}

/** A random cluster: 1–2 tiers, 1–4 policies with 0–4 rules per direction, random labels. */
/** Three pods of the netns test topology on node n1, and external nets of two lengths. */
export const THREE_POD_SPEC: ArbSpec = {
  pods: [
    { name: "a", iface: "cali5e1c4d6c68c", v4: "198.18.1.10", v6: "fd00:198:0:1::10", node: "n1" },
    { name: "b", iface: "cali2f5353dd8c5", v4: "198.18.1.11", v6: "fd00:198:0:1::11", node: "n1" },
    { name: "c", iface: "cali3754a2f57f6", v4: "198.18.1.12", v6: "fd00:198:0:1::12", node: "n1" },
  ],
  externalNets: ["198.19.0.0/16", "198.19.4.0/24", "fd00:198:99::/64"],
};

export function arbCluster(spec: ArbSpec): fc.Arbitrary<ClusterIR> {
  const setIds = ROLES.map((r) => `s:role-${r}`);
  const arbPolicy = fc.record({
    tier: fc.constantFrom("t1", "default"),
    selectRoles: fc.subarray([...ROLES], { minLength: 1 }),
    ingress: fc.option(fc.array(fc.record({ action: arbAction, match: arbMatch(spec, setIds) }), { maxLength: 4 }), { nil: undefined }),
    egress: fc.option(fc.array(fc.record({ action: arbAction, match: arbMatch(spec, setIds) }), { maxLength: 4 }), { nil: undefined }),
  });
  return fc
    .record({
      labels: fc.array(fc.constantFrom(...ROLES), { minLength: spec.pods.length, maxLength: spec.pods.length }),
      t1Default: fc.constantFrom<"Deny" | "Pass">("Deny", "Pass"),
      policies: fc.array(arbPolicy, { minLength: 1, maxLength: 4 }),
      netSetRole: fc.option(fc.constantFrom(...ROLES), { nil: undefined }),
      profileAllows: fc.boolean(),
    })
    .map(({ labels, t1Default, policies, netSetRole, profileAllows }) => {
      const role = (i: number) => labels[i]!;
      const pols: Record<string, PolicyIR> = {};
      policies.forEach((p, i) => {
        const key = `gnp/p${i}`;
        const rules = (dir: "ingress" | "egress", rs: Array<{ action: RuleIR["action"]; match: RuleMatch }> | undefined): RuleIR[] =>
          (rs ?? []).map((r, index) => ({ action: r.action, match: r.match, origin: { tier: p.tier, policy: key, direction: dir, index } }));
        pols[key] = {
          key,
          kind: "GlobalNetworkPolicy",
          name: `p${i}`,
          tier: p.tier,
          order: i,
          staged: false,
          selector: p.selectRoles.map((r) => `role == '${r}'`).join(" || "),
          governs: { ingress: p.ingress !== undefined, egress: p.egress !== undefined },
          ingress: rules("ingress", p.ingress),
          egress: rules("egress", p.egress),
          applyOnForward: false,
          preDNAT: false,
          doNotTrack: false,
        };
      });
      const tiers = [
        { name: "t1", order: 10, defaultAction: t1Default },
        { name: "default", order: 1_000_000, defaultAction: "Deny" as const },
      ];
      const sets: Record<string, SetDef> = {};
      for (const r of ROLES) {
        const members = spec.pods.flatMap((p, i) => (role(i) === r ? [`${p.v4}/32`, `${p.v6}/128`] : []));
        if (netSetRole === r) members.push(...spec.externalNets);
        sets[`s:role-${r}`] = { kind: "selector", id: `s:role-${r}`, selector: `role == '${r}'`, members: [...new Set(members)].sort() };
      }
      const program = (i: number, dir: "ingress" | "egress"): DirectionProgram => ({
        direction: dir,
        tiers: tiers
          .map((t) => ({
            tier: t.name,
            defaultAction: t.defaultAction,
            policies: Object.values(pols)
              .filter((p) => p.tier === t.name && p.governs[dir] && policies[Number(p.key.slice(5))]!.selectRoles.includes(role(i)))
              .map((p) => p.key),
          }))
          .filter((t) => t.policies.length > 0),
        stagedTiers: [],
        profiles: ["pro/kns.default"],
      });
      const endpoints: EndpointIR[] = spec.pods.map((p, i) => ({
        key: `wep/default/${p.name}`,
        kind: "workload",
        name: p.name,
        namespace: "default",
        pod: `default/${p.name}`,
        node: p.node,
        interfaceName: p.iface,
        ips: [p.v4, p.v6],
        labels: { role: role(i) },
        namedPorts: [],
        ingress: program(i, "ingress"),
        egress: program(i, "egress"),
      }));
      endpoints.sort((a, b) => (a.key < b.key ? -1 : 1));
      const allow = (dir: "ingress" | "egress"): RuleIR[] =>
        profileAllows ? [{ action: "Allow", match: { src: {}, dst: {} }, origin: { tier: "", policy: "pro/kns.default", direction: dir, index: 0 } }] : [];
      const ir: ClusterIR = {
        tiers,
        policies: ChunkedMap.fromRecord(pols),
        profiles: { "pro/kns.default": { key: "pro/kns.default", name: "kns.default", ingress: allow("ingress"), egress: allow("egress") } },
        sets: ChunkedMap.fromRecord(sets),
        endpoints,
      };
      return ir;
    });
}
