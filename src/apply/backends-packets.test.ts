/**
 * Real packets through both backends: one node namespace with the fixture's three local pods
 * (web, db, client) wired the way Calico's CNI plugin wires them, the fixture's dataplane model
 * programmed by nftables, then by iptables (default = nf_tables variant here), then by
 * iptables-legacy, and the same TCP probe matrix (IPv4 and IPv6) run each time. Every backend must
 * give the verdicts the fixture's policies say. Denies are rejects (TCP reset), so a denied probe
 * fails at once instead of timing out.
 *
 * Then the same for a compiled Allow/Deny run (fixtures.ts runFixtureIR): web's ingress is three
 * policies of exact Allow and Deny rules, grouped into one chain and compiled into a drop and an
 * accept lookup per family; a Deny listed before an Allow for the same peer and port must win, and
 * an Allow listed before a Deny must win, in every backend.
 */
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDataplane, type DataplaneModel } from "../dataplane/index.js";
import { fixtureIR, NODE, runFixtureIR } from "../dataplane/testdata/fixtures.js";
import { exec } from "../kernel/index.js";
import { canUseNetns, createNamespace, deleteNamespace, uniqueName } from "../netns/index.js";
import { Applier, makeDataplane, type DataplaneChoice } from "./index.js";

const root = canUseNetns();
const tag = uniqueName("bp").slice(3);
const nodeNs = `bpn-${tag}`;
const PODS = {
  web: { iface: "cali5e1c4d6c68c", v4: "198.18.1.10", v6: "fd00:198:0:1::10" },
  db: { iface: "cali2f5353dd8c5", v4: "198.18.1.11", v6: "fd00:198:0:1::11" },
  client: { iface: "cali3754a2f57f6", v4: "198.18.1.12", v6: "fd00:198:0:1::12" },
} as const;
type Pod = keyof typeof PODS;
const podNs = (p: Pod) => `bp${p[0]}-${tag}`;
const PORTS = [80, 443, 5432, 8080];

const sh = (ns: string, script: string) => exec("sh", ["-ec", script], { netns: ns });

async function buildTopology(): Promise<void> {
  await createNamespace(nodeNs);
  await sh(
    nodeNs,
    `sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
     sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
     ip link add uplink0 type ifb && ip link set uplink0 up
     ip route add default dev uplink0 && ip -6 route add default dev uplink0 metric 1024`,
  );
  for (const [pod, p] of Object.entries(PODS) as Array<[Pod, (typeof PODS)[Pod]]>) {
    const ns = podNs(pod);
    await createNamespace(ns);
    await sh(ns, "sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0");
    await exec("ip", ["-n", nodeNs, "link", "add", p.iface, "address", "ee:ee:ee:ee:ee:ee", "type", "veth", "peer", "name", "eth0", "netns", ns]);
    await sh(
      nodeNs,
      `sysctl -qw net.ipv4.conf.${p.iface}.proxy_arp=1 net.ipv4.neigh.${p.iface}.proxy_delay=0 net.ipv4.conf.${p.iface}.forwarding=1
       sysctl -qw net.ipv6.conf.${p.iface}.forwarding=1 net.ipv6.conf.${p.iface}.accept_ra=0
       ip link set ${p.iface} up
       ip route add ${p.v4}/32 dev ${p.iface} scope link
       ip -6 route add ${p.v6}/128 dev ${p.iface}`,
    );
    await sh(
      ns,
      `ip link set eth0 up
       ip addr add ${p.v4}/32 dev eth0
       ip route add 169.254.1.1 dev eth0 scope link
       ip route add default via 169.254.1.1 dev eth0
       ip -6 addr add ${p.v6}/128 dev eth0 nodad
       ip -6 route add default via fe80::ecee:eeff:feee:eeee dev eth0`,
    );
    // Listeners on every probed port (v4 and v6); killed by PID with the namespace.
    const server = `for (const port of ${JSON.stringify(PORTS)}) require("net").createServer((c) => c.end()).listen({ port, host: "::", ipv6Only: false });`;
    const child = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", server], { stdio: "ignore", detached: false });
    child.unref();
  }
  // Wait until every listener is up (the first probe must not race them).
  for (const pod of Object.keys(PODS) as Pod[]) {
    for (let i = 0; i < 100; i++) {
      const ss = (await exec("ss", ["-ltnH"], { netns: podNs(pod) })).stdout;
      if (PORTS.every((p) => ss.includes(`:${p} `))) break;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** What the fixture's policies say (see dataplane/testdata/fixtures.ts). */
function expected(src: Pod, dst: Pod, port: number): boolean {
  if (dst === "web") return src === "client" && (port === 80 || port === 443); // np/prod/web; end of tier denies
  if (dst === "db") return port === 5432; // knp/prod/db allows its named port "postgres" from anyone
  return src === "web"; // client: profile allows all; db's egress stops at the default tier
}

async function probe(src: Pod, dst: Pod, port: number, family: 4 | 6): Promise<boolean> {
  const ip = family === 4 ? PODS[dst].v4 : PODS[dst].v6;
  try {
    await exec("nc", ["-z", "-w", "2", ip, String(port)], { netns: podNs(src) });
    return true;
  } catch {
    return false;
  }
}

async function matrix(): Promise<string[]> {
  const jobs: Array<Promise<string>> = [];
  for (const src of Object.keys(PODS) as Pod[]) {
    for (const dst of Object.keys(PODS) as Pod[]) {
      if (src === dst) continue;
      for (const port of PORTS) {
        for (const family of [4, 6] as const) {
          jobs.push(probe(src, dst, port, family).then((ok) => `${src}->${dst}:${port}/v${family} ${ok ? "allow" : "deny"}`));
        }
      }
    }
  }
  return (await Promise.all(jobs)).sort();
}

function expectedMatrix(): string[] {
  const out: string[] = [];
  for (const src of Object.keys(PODS) as Pod[]) {
    for (const dst of Object.keys(PODS) as Pod[]) {
      if (src === dst) continue;
      for (const port of PORTS) for (const family of [4, 6]) out.push(`${src}->${dst}:${port}/v${family} ${expected(src, dst, port) ? "allow" : "deny"}`);
    }
  }
  return out.sort();
}

describe.skipIf(!root)("real packets: nftables and iptables enforce the fixture alike", () => {
  beforeAll(buildTopology, 60_000);
  afterAll(async () => {
    for (const ns of [nodeNs, ...(Object.keys(PODS) as Pod[]).map(podNs)]) await deleteNamespace(ns);
  });

  const model = buildDataplane(fixtureIR(), NODE, { config: { denyAction: "reject" } });
  const backends: Array<[string, DataplaneChoice]> = [
    ["nftables", { kind: "nftables", netns: nodeNs }],
    ["iptables (default: nf_tables)", { kind: "iptables", netns: nodeNs }],
    ["iptables-legacy", { kind: "iptables", netns: nodeNs, iptablesVariant: "legacy" }],
  ];

  it("without policy every probe passes (the topology works)", async () => {
    expect((await matrix()).filter((l) => l.endsWith("deny"))).toEqual([]);
  });

  const runModel = buildDataplane(runFixtureIR(), NODE, { config: { denyAction: "reject" } });
  /** runFixtureIR: first match across policies (see its comment). */
  const runExpected = (src: Pod, port: number) => src === "client" && port !== 80; // db's own egress stops its probes
  async function webMatrix(): Promise<string[]> {
    const jobs: Array<Promise<string>> = [];
    for (const src of ["client", "db"] as const) for (const port of PORTS) for (const family of [4, 6] as const) jobs.push(probe(src, "web", port, family).then((ok) => `${src}->web:${port}/v${family} ${ok ? "allow" : "deny"}`));
    return (await Promise.all(jobs)).sort();
  }
  const webExpected = () => (["client", "db"] as const).flatMap((src) => PORTS.flatMap((port) => [4, 6].map((f) => `${src}->web:${port}/v${f} ${runExpected(src, port) ? "allow" : "deny"}`))).sort();

  it("the run model is compiled: web's policies are one chain with a drop and an accept lookup per family", () => {
    const group = runModel.chains.valueList().find((c) => c.name.startsWith("cali-gi-"))!;
    expect(group.rules.map((r) => [r.match.map((m) => m.kind), r.verdict?.kind])).toEqual([
      [["concat-set"], "reject"],
      [["concat-set"], "return"],
      [["concat-set"], "reject"],
      [["concat-set"], "return"],
    ]);
  });

  /** Programs `m` through the backend, runs `check` on a clean conntrack table, removes it. */
  async function withModel(choice: DataplaneChoice, m: DataplaneModel, check: () => Promise<void>): Promise<void> {
    const { kernel, backend } = makeDataplane(choice);
    const applier = new Applier(kernel, { backend, sleep: async () => {}, retry: { maxAttempts: 1 } });
    await applier.apply(m);
    try {
      await exec("conntrack", ["-F"], { netns: nodeNs, okCodes: [0, 1] });
      await check();
    } finally {
      await applier.remove();
    }
  }

  for (const [name, choice] of backends) {
    it(`${name}: compiled Allow/Deny run — the first matching rule wins, Deny before Allow and Allow before Deny`, () =>
      withModel(choice, runModel, async () => expect(await webMatrix()).toEqual(webExpected())));
  }

  // The same run as a group chain in pieces (build.ts groupChunks), uncompiled so that the group
  // has enough rules to cut: an Allow or Pass inside a piece must end the group, a Deny drop.
  const piecesModel = buildDataplane(runFixtureIR(), NODE, { config: { denyAction: "reject", compileAllowRuns: false, groupChunkRules: 1 } });
  it("the pieces model jumps from web's group chain to pieces", () => {
    const group = piecesModel.chains.valueList().find((c) => c.name.startsWith("cali-gi-"))!;
    const jumps = group.rules.filter((r) => r.verdict?.kind === "jump" && r.verdict.chain.startsWith("cali-gci-"));
    expect(jumps.length).toBeGreaterThan(1);
  });
  for (const [name, choice] of backends) {
    it(`${name}: a group chain in pieces decides as the whole chain`, () =>
      withModel(choice, piecesModel, async () => expect(await webMatrix()).toEqual(webExpected())));
  }

  for (const [name, choice] of backends) {
    it(`${name}: the probe matrix matches the policies`, () => withModel(choice, model, async () => expect(await matrix()).toEqual(expectedMatrix())));
  }
});
