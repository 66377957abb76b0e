/**
 * Builds NETNS.md's topology from Pod (and WorkloadEndpoint / HostEndpoint) manifests and tears it
 * down again. One namespace per node, one per pod, and one "world" namespace holding a bridge that
 * links the nodes and owns every outside address a test uses:
 *
 *   pod ns  eth0 (pod IPs, /32 /128) ──veth── cali<11 hex> (node ns, ee:ee:ee:ee:ee:ee, proxy ARP)
 *   node ns uplink (eth0, or the host endpoint's interface name; 198.19.255.<i>, fd00:198:0:ff::<i>,
 *           plus the host endpoints' expectedIPs) ──veth── n<i> ─┐
 *   world ns br0 (198.19.255.254, fd00:198:0:ff::fe, plus every external test address) ◀──────────┘
 *
 * Routing: a node reaches its pods through /32 (/128) routes on the cali veth, other nodes' pods
 * and host addresses through that node's uplink address, everything else through the world
 * (default route; proxy ARP needs a unicast default route, NETNS.md §7). The world routes pod and
 * host addresses to their node. Pod-side and node-side settings are Calico's (NETNS.md §1).
 *
 * Names are unique per topology (`prefix`, default includes the PID and a random suffix); all
 * addresses come from the manifests or from 198.18.0.0/15 and fd00:198::/48. destroy() kills every
 * process inside (agents, servers) by PID and deletes every namespace, even after a partial build.
 */
import { exec } from "../kernel/index.js";
import { Agent } from "./agent-client.js";
import { caliInterfaceName } from "./cni.js";
import { createNamespace, deleteNamespace, uniqueName } from "./namespace.js";

export interface TopologySpec {
  /** Namespace-name prefix; default a unique "tt-<pid>-<rand>". */
  prefix?: string;
  /** Pods, WorkloadEndpoints and HostEndpoints; anything else is ignored. */
  resources: ReadonlyArray<unknown>;
  /** Outside addresses that probes use as sources or destinations (owned by the world namespace). */
  externalIPs?: string[];
  /** Nodes to create even without pods on them. */
  nodes?: string[];
}

export interface PodInfo {
  /** "namespace/name" (WorkloadEndpoints: "namespace/name" of the WEP). */
  ref: string;
  netns: string;
  node: string;
  iface: string;
  ips: string[];
}

export interface NodeInfo {
  name: string;
  netns: string;
  index: number;
  uplink: string;
  /** Uplink addresses (v4, v6) followed by host-endpoint addresses. */
  ips: string[];
  /** Host endpoints of this node: name → addresses. */
  hostEndpoints: Map<string, string[]>;
}

export interface ProbeTarget {
  netns: string;
  ip: string;
}

export interface ProbeRequest {
  from: ProbeTarget;
  to: ProbeTarget;
  /** IANA protocol number. */
  protocol: number;
  port?: number;
  icmp?: { type: number; code?: number };
  family: 4 | 6;
  /** How long a silent (dropped) probe waits; default 500 ms. */
  timeoutMs?: number;
}

export interface ProbeResult {
  allowed: boolean;
  outcome: string;
  ms: number;
  detail?: string;
}

type Manifest = { kind?: string; metadata?: { name?: string; namespace?: string }; spec?: Record<string, unknown>; status?: Record<string, unknown> };

const isV6 = (ip: string) => ip.includes(":");
const WORLD_V4 = "198.19.255.254";
const WORLD_V6 = "fd00:198:0:ff::fe";
const WORLD_MAC = "02:00:00:00:00:fe";
const nodeMac = (i: number) => `02:00:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`;

export class UnsupportedProbe extends Error {
  override readonly name = "UnsupportedProbe";
}

export class Topology {
  readonly pods = new Map<string, PodInfo>();
  readonly nodes = new Map<string, NodeInfo>();
  readonly world: { netns: string; ips: string[] };
  private readonly created: string[] = [];
  private readonly agents = new Map<string, Promise<Agent>>();
  private servedPorts: { tcp: number[]; udp: number[] } = { tcp: [], udp: [] };

  private constructor(readonly prefix: string) {
    this.world = { netns: `${prefix}-w`, ips: [] };
  }

  /** Creates the whole topology; on any failure removes what was created and rethrows. */
  static async create(spec: TopologySpec): Promise<Topology> {
    const t = new Topology(spec.prefix ?? uniqueName("tt"));
    try {
      await t.build(spec);
    } catch (e) {
      await t.destroy();
      throw e;
    }
    return t;
  }

  // ---------------------------------------------------------------------------------- build

  private async ns(name: string): Promise<void> {
    this.created.push(name);
    await createNamespace(name);
  }

  private async sh(netns: string, lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    await exec("sh", ["-ec", lines.join("\n")], { netns, timeoutMs: 30_000 });
  }

  private async ipBatch(netns: string | undefined, cmds: string[]): Promise<void> {
    if (cmds.length === 0) return;
    await exec("ip", [...(netns ? ["-n", netns] : []), "-batch", "-"], { input: cmds.join("\n") + "\n", timeoutMs: 30_000 });
  }

  private async build(spec: TopologySpec): Promise<void> {
    const manifests = spec.resources as Manifest[];
    // ---- collect nodes, pods and host endpoints
    const nodeNames = new Set<string>(spec.nodes ?? []);
    const podDefs: Array<{ ref: string; node: string; iface: string; ips: string[] }> = [];
    const heps: Array<{ name: string; node: string; iface?: string; ips: string[] }> = [];
    for (const m of manifests) {
      if (!m || typeof m !== "object") continue;
      const ns = m.metadata?.namespace || "default";
      const name = m.metadata?.name ?? "";
      if (m.kind === "Pod") {
        if ((m.spec as { hostNetwork?: boolean })?.hostNetwork) continue;
        const st = (m.status ?? {}) as { podIP?: string; podIPs?: Array<{ ip: string }> };
        const ips = [...new Set([...(st.podIPs ?? []).map((x) => x.ip), ...(st.podIP ? [st.podIP] : [])])];
        const node = ((m.spec as { nodeName?: string })?.nodeName as string) || "node1";
        podDefs.push({ ref: `${ns}/${name}`, node, iface: caliInterfaceName(ns, name), ips });
        nodeNames.add(node);
      } else if (m.kind === "WorkloadEndpoint") {
        const s = (m.spec ?? {}) as { node?: string; interfaceName?: string; ipNetworks?: string[] };
        const node = s.node || "node1";
        const ips = (s.ipNetworks ?? []).map((n) => n.split("/")[0]!);
        podDefs.push({ ref: `${ns}/${name}`, node, iface: s.interfaceName || caliInterfaceName(ns, name), ips });
        nodeNames.add(node);
      } else if (m.kind === "HostEndpoint") {
        const s = (m.spec ?? {}) as { node?: string; interfaceName?: string; expectedIPs?: string[] };
        const node = s.node || "node1";
        heps.push({ name, node, ...(s.interfaceName ? { iface: s.interfaceName } : {}), ips: s.expectedIPs ?? [] });
        nodeNames.add(node);
      }
    }
    const sortedNodes = [...nodeNames].sort();
    if (sortedNodes.length > 250) throw new Error("at most 250 nodes");
    const ifaces = new Set<string>();
    for (const p of podDefs) {
      if (ifaces.has(`${p.node}/${p.iface}`)) throw new Error(`two workloads on ${p.node} map to interface ${p.iface}`);
      ifaces.add(`${p.node}/${p.iface}`);
    }

    // ---- world
    await this.ns(this.world.netns);
    // An "external" address that is really a pod's or a host endpoint's stays with its owner.
    const owned = new Set([...podDefs.flatMap((p) => p.ips), ...heps.flatMap((h) => h.ips)]);
    this.world.ips = [...new Set(spec.externalIPs ?? [])].filter((ip) => !owned.has(ip));
    await this.sh(this.world.netns, ["echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad", "echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad"]);
    await this.ipBatch(this.world.netns, [
      `link add br0 address ${WORLD_MAC} type bridge`,
      "link set br0 up",
      `addr add ${WORLD_V4}/24 dev br0`,
      `addr add ${WORLD_V6}/64 dev br0 nodad`,
      ...this.world.ips.map((ip) => `addr add ${ip}/${isV6(ip) ? 128 : 32} dev br0${isV6(ip) ? " nodad" : ""}`),
    ]);

    // ---- nodes
    let index = 0;
    for (const name of sortedNodes) {
      index++;
      const netns = `${this.prefix}-n${index}`;
      const own = heps.filter((h) => h.node === name);
      const uplink = own.find((h) => h.iface && h.iface !== "*")?.iface ?? "eth0";
      const node: NodeInfo = { name, netns, index, uplink, ips: [`198.19.255.${index}`, `fd00:198:0:ff::${index.toString(16)}`], hostEndpoints: new Map() };
      for (const h of own) {
        node.hostEndpoints.set(h.name, h.ips);
        for (const ip of h.ips) if (!node.ips.includes(ip)) node.ips.push(ip);
      }
      this.nodes.set(name, node);
      await this.ns(netns);
      await this.sh(netns, [
        "echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad",
        "echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad",
        "echo 1 > /proc/sys/net/ipv4/ip_forward",
        "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding",
        "echo 1 > /proc/sys/net/ipv4/conf/all/rp_filter",
        "echo 1 > /proc/sys/net/ipv4/conf/default/rp_filter",
        "echo 0 > /proc/sys/net/ipv4/icmp_ratelimit",
        "echo 0 > /proc/sys/net/ipv6/icmp/ratelimit",
      ]);
      await this.ipBatch(this.world.netns, [
        `link add n${index} type veth peer name ${uplink} address ${nodeMac(index)} netns ${netns}`,
        `link set n${index} master br0`,
        `link set n${index} up`,
      ]);
      const extra = own.filter((h) => h.iface && h.iface !== "*" && h.iface !== uplink).map((h) => h.iface!);
      await this.ipBatch(netns, [
        `link set ${uplink} up`,
        `addr add ${node.ips[0]}/24 dev ${uplink}`,
        `addr add ${node.ips[1]}/64 dev ${uplink} nodad`,
        ...node.ips.slice(2).map((ip) => `addr add ${ip}/${isV6(ip) ? 128 : 32} dev ${uplink}${isV6(ip) ? " nodad" : ""}`),
        `route add default via ${WORLD_V4} dev ${uplink}`,
        `route add default via ${WORLD_V6} dev ${uplink}`,
        // Interfaces named by other host endpoints exist (ifb: no traffic), so their chains apply to nothing.
        ...[...new Set(extra)].flatMap((i) => [`link add ${i} type ifb`, `link set ${i} up`]),
      ]);
    }

    // ---- pods
    const perNode = new Map<string, number>();
    for (const p of podDefs) {
      const node = this.nodes.get(p.node)!;
      const k = (perNode.get(p.node) ?? 0) + 1;
      perNode.set(p.node, k);
      const ips = p.ips.length > 0 ? p.ips : [`198.18.${100 + node.index}.${k}`, `fd00:198:0:${(100 + node.index).toString(16)}::${k.toString(16)}`];
      const netns = `${this.prefix}-p${this.pods.size + 1}`;
      this.pods.set(p.ref, { ref: p.ref, netns, node: p.node, iface: p.iface, ips });
      await this.ns(netns);
      await this.sh(netns, ["echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad", "echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad"]);
      await this.ipBatch(node.netns, [`link add ${p.iface} address ee:ee:ee:ee:ee:ee type veth peer name eth0 netns ${netns}`]);
      await this.sh(node.netns, [
        `echo 1 > /proc/sys/net/ipv4/conf/${p.iface}/proxy_arp`,
        `echo 0 > /proc/sys/net/ipv4/neigh/${p.iface}/proxy_delay`,
        `echo 1 > /proc/sys/net/ipv4/conf/${p.iface}/forwarding`,
        `echo 1 > /proc/sys/net/ipv4/conf/${p.iface}/rp_filter`,
        `echo 1 > /proc/sys/net/ipv6/conf/${p.iface}/proxy_ndp`,
        `echo 1 > /proc/sys/net/ipv6/conf/${p.iface}/forwarding`,
        `echo 0 > /proc/sys/net/ipv6/conf/${p.iface}/accept_ra`,
      ]);
      await this.ipBatch(node.netns, [`link set ${p.iface} up`, ...ips.map((ip) => `route add ${ip}/${isV6(ip) ? 128 : 32} dev ${p.iface} scope link`)]);
      const podCmds = ["link set eth0 up", ...ips.map((ip) => `addr add ${ip}/${isV6(ip) ? 128 : 32} dev eth0${isV6(ip) ? " nodad" : ""}`)];
      if (ips.some((ip) => !isV6(ip))) podCmds.push("route add 169.254.1.1 dev eth0 scope link", "route add default via 169.254.1.1 dev eth0");
      if (ips.some(isV6)) podCmds.push("route add default via fe80::ecee:eeff:feee:eeee dev eth0");
      await this.ipBatch(netns, podCmds);
    }

    // ---- routes between nodes and from the world
    const worldRoutes: string[] = [];
    for (const node of this.nodes.values()) {
      const routes: string[] = [];
      for (const p of this.pods.values()) {
        const owner = this.nodes.get(p.node)!;
        for (const ip of p.ips) {
          const via = isV6(ip) ? owner.ips[1]! : owner.ips[0]!;
          if (owner === node) continue;
          routes.push(`route add ${ip}/${isV6(ip) ? 128 : 32} via ${via}`);
        }
      }
      for (const other of this.nodes.values()) {
        if (other === node) continue;
        for (const ip of other.ips.slice(2)) routes.push(`route add ${ip}/${isV6(ip) ? 128 : 32} via ${isV6(ip) ? other.ips[1] : other.ips[0]}`);
      }
      await this.ipBatch(node.netns, routes);
    }
    for (const p of this.pods.values()) {
      const owner = this.nodes.get(p.node)!;
      for (const ip of p.ips) worldRoutes.push(`route add ${ip}/${isV6(ip) ? 128 : 32} via ${isV6(ip) ? owner.ips[1] : owner.ips[0]}`);
    }
    for (const n of this.nodes.values()) {
      for (const ip of n.ips.slice(2)) worldRoutes.push(`route add ${ip}/${isV6(ip) ? 128 : 32} via ${isV6(ip) ? n.ips[1] : n.ips[0]}`);
    }
    await this.ipBatch(this.world.netns, worldRoutes);

    // ---- static neighbours on the uplink segment
    // Host-endpoint policy applies to IPv6 neighbour discovery too (Felix does not exempt it), so a
    // default-deny host endpoint would otherwise break its node's IPv6 before any probe runs.
    // Probes must measure policy on the probe packets, so the segment needs no ND or ARP at all.
    const neigh = (ip: string, mac: string, dev: string) => `neigh replace ${ip} lladdr ${mac} dev ${dev} nud permanent`;
    const worldNeigh: string[] = [];
    for (const n of this.nodes.values()) {
      const cmds = [neigh(WORLD_V4, WORLD_MAC, n.uplink), neigh(WORLD_V6, WORLD_MAC, n.uplink)];
      for (const o of this.nodes.values()) if (o !== n) cmds.push(neigh(o.ips[0]!, nodeMac(o.index), n.uplink), neigh(o.ips[1]!, nodeMac(o.index), n.uplink));
      await this.ipBatch(n.netns, cmds);
      worldNeigh.push(neigh(n.ips[0]!, nodeMac(n.index), "br0"), neigh(n.ips[1]!, nodeMac(n.index), "br0"));
    }
    await this.ipBatch(this.world.netns, worldNeigh);
  }

  // ---------------------------------------------------------------------------------- lookups

  node(name: string): NodeInfo {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no node ${name} in this topology`);
    return n;
  }

  pod(ref: string): PodInfo {
    const p = this.pods.get(ref);
    if (!p) throw new Error(`no pod ${ref} in this topology`);
    return p;
  }

  /** The namespace and address that play endpoint `ref`: "ns/pod", "hep:<name>", or an IP. */
  target(ref: string, family: 4 | 6): ProbeTarget {
    const pick = (ips: string[]) => ips.find((ip) => isV6(ip) === (family === 6));
    if (ref.startsWith("hep:")) {
      for (const n of this.nodes.values()) {
        const ips = n.hostEndpoints.get(ref.slice(4));
        if (ips) {
          const ip = pick(ips) ?? pick(n.ips.slice(0, 2));
          return { netns: n.netns, ip: ip! };
        }
      }
      throw new Error(`no host endpoint ${ref}`);
    }
    const p = this.pods.get(ref.startsWith("wep:") ? ref.slice(4) : ref);
    if (p) {
      const ip = pick(p.ips);
      if (!ip) throw new Error(`${ref} has no IPv${family} address`);
      return { netns: p.netns, ip };
    }
    for (const p2 of this.pods.values()) if (p2.ips.includes(ref)) return { netns: p2.netns, ip: ref };
    for (const n of this.nodes.values()) if (n.ips.includes(ref)) return { netns: n.netns, ip: ref };
    if (this.world.ips.includes(ref)) return { netns: this.world.netns, ip: ref };
    throw new Error(`${ref} is not a pod, host endpoint or external address of this topology`);
  }

  /** Every namespace of the topology (world, nodes, pods). */
  namespaces(): string[] {
    return [...this.created];
  }

  // ---------------------------------------------------------------------------------- agents

  agent(netns: string): Promise<Agent> {
    let a = this.agents.get(netns);
    if (!a) {
      a = Agent.start(netns);
      this.agents.set(netns, a);
    }
    return a;
  }

  private addressesOf(netns: string): string[] {
    if (netns === this.world.netns) return [WORLD_V4, WORLD_V6, ...this.world.ips];
    for (const n of this.nodes.values()) if (n.netns === netns) return n.ips;
    for (const p of this.pods.values()) if (p.netns === netns) return p.ips;
    return [];
  }

  /** Starts TCP and UDP echo servers on `ports` in every pod, node and world namespace. */
  async serve(ports: { tcp: number[]; udp: number[] }): Promise<void> {
    const tcp = ports.tcp.filter((p) => !this.servedPorts.tcp.includes(p));
    const udp = ports.udp.filter((p) => !this.servedPorts.udp.includes(p));
    if (tcp.length === 0 && udp.length === 0) return;
    await Promise.all(
      this.created.map(async (netns) => {
        const a = await this.agent(netns);
        await a.request("serve", { tcp, udp, addresses: this.addressesOf(netns) });
      }),
    );
    this.servedPorts = { tcp: [...this.servedPorts.tcp, ...tcp], udp: [...this.servedPorts.udp, ...udp] };
  }

  /**
   * One real connection attempt. TCP: connect + echo; UDP: datagram + echo (servers must be
   * running, see serve()); ICMP echo (type 8/128, code 0): ping; SCTP and other ICMP types/codes:
   * a raw packet, allowed when the destination saw it.
   */
  async probe(req: ProbeRequest): Promise<ProbeResult> {
    const timeoutMs = req.timeoutMs ?? 500;
    const from = await this.agent(req.from.netns);
    const src = req.from.ip;
    const t0 = Date.now();
    const icmpProto = req.family === 4 ? 1 : 58;
    let r: Record<string, unknown>;
    if (req.protocol === 6 || req.protocol === 17) {
      if (req.port === undefined) throw new UnsupportedProbe("TCP/UDP probes need a port");
      r = await from.request(req.protocol === 6 ? "tcp" : "udp", { dst: req.to.ip, port: req.port, src, timeoutMs });
      return { allowed: r.outcome === "ok", outcome: String(r.outcome), ms: Number(r.ms), ...(r.detail ? { detail: String(r.detail) } : {}) };
    }
    const echoType = req.family === 4 ? 8 : 128;
    if (req.protocol === icmpProto && (!req.icmp || (req.icmp.type === echoType && (req.icmp.code ?? 0) === 0))) {
      r = await from.request("ping", { dst: req.to.ip, family: req.family, src, timeoutMs });
      return { allowed: r.outcome === "ok", outcome: String(r.outcome), ms: Number(r.ms), ...(r.detail ? { detail: String(r.detail) } : {}) };
    }
    if (req.protocol !== 132 && req.protocol !== icmpProto) throw new UnsupportedProbe(`no probe for protocol ${req.protocol} in IPv${req.family}`);
    const to = await this.agent(req.to.netns);
    const nonce = (Math.random() * 0xfffffffe + 1) >>> 0;
    const sent = await from.request("raw", {
      family: req.family,
      proto: req.protocol,
      dst: req.to.ip,
      src,
      sport: 30000 + (nonce % 20000),
      dport: req.port ?? 0,
      type: req.icmp?.type ?? echoType,
      code: req.icmp?.code ?? 0,
      nonce,
    });
    if (sent.outcome !== "ok") return { allowed: false, outcome: "error", ms: Date.now() - t0, detail: String(sent.detail) };
    const seen = await to.request("seen", { nonce, timeoutMs });
    return { allowed: seen.seen === true, outcome: seen.seen ? "ok" : "timeout", ms: Date.now() - t0 };
  }

  /** Opens a long-lived TCP connection that echoes every `intervalMs` (see agent.ts `hold`). */
  async hold(key: string, from: ProbeTarget, to: ProbeTarget, port: number, intervalMs = 20, timeoutMs = 1000): Promise<boolean> {
    const a = await this.agent(from.netns);
    const r = await a.request("hold", { key, dst: to.ip, port, src: from.ip, intervalMs, timeoutMs });
    return r.outcome === "ok";
  }

  async holdStats(key: string, from: ProbeTarget, stop = false): Promise<{ sent: number; ok: number; failed: number; maxGapMs: number; closed: string | null }> {
    const a = await this.agent(from.netns);
    return (await a.request(stop ? "hold-stop" : "hold-stats", { key })) as never;
  }

  // ---------------------------------------------------------------------------------- teardown

  /** Stops agents and deletes every namespace this topology created (idempotent). */
  async destroy(): Promise<void> {
    const agents = [...this.agents.values()];
    this.agents.clear();
    await Promise.all(agents.map((p) => p.then((a) => a.stop()).catch(() => undefined)));
    const all = this.created.splice(0).reverse();
    // Pods first, then nodes, then the world: deleting a namespace removes its veth ends.
    await Promise.all(all.map((ns) => deleteNamespace(ns)));
  }
}
