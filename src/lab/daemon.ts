/**
 * The lab daemon: one detached process per lab (`tortie lab daemon --name N`, started by `lab up`).
 * It holds what only a living process can: the Topology (namespaces plus a helper process in each,
 * which runs the echo servers and sends probes), the node agents, and a watch on the datastore that
 * measures how long each change takes to reach the kernel. Other processes talk to it through
 * `<stateDir>/labs/<name>.sock`, one JSON object per line.
 *
 * Requests: {op:"status"} {op:"probe", from, to, protocol, port?, family?, icmp?, timeoutMs?}
 *           {op:"matrix", protocol?, port?, family?} {op:"watch"} (a stream of change events)
 *           {op:"down"} (tear everything down, then exit).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { openSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { createInterface } from "node:readline";
import { Applier, NftKernel } from "../apply/index.js";
import { modelFromScratch } from "../agent/index.js";
import { isNotFound, openStore, type DatastoreConfig, type Store, type Watch } from "../datastore/index.js";
import { Cluster, tryExplain, tryMatrix } from "../engine/index.js";
import { exec } from "../kernel/index.js";
import { describeResource, kindIdOf, type KindId, type Resource } from "../model/index.js";
import { Topology, type ProbeResult } from "../netns/index.js";
import { carriesPorts, protocolName, protocolNumber } from "../rule/index.js";
import { loadManifests } from "../validate/index.js";
import { labPrefix, logPath, socketPath, specPath, statePath, writeJson, type LabSpec, type LabState } from "./state.js";

type Json = Record<string, unknown>;
type Manifest = { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string }; spec?: Json; status?: Json };

const isV6 = (ip: string) => ip.includes(":");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ChangeEvent {
  revision: number;
  resource: string;
  type: "put" | "delete";
  /** ms from the moment the daemon saw the change to the moment a node's ruleset changed; null = no ruleset changed within 5 s. */
  ms: number | null;
  nodes: string[];
}

export function datastoreArgs(ds: DatastoreConfig): string[] {
  if (ds.type === "embedded") return ["--data-dir", ds.dataDir];
  const a = ["--datastore-type", "etcdv3", "--etcd-endpoints", ds.endpoints.join(",")];
  if (ds.caCertFile) a.push("--etcd-ca-cert-file", ds.caCertFile);
  if (ds.certFile) a.push("--etcd-cert-file", ds.certFile);
  if (ds.keyFile) a.push("--etcd-key-file", ds.keyFile);
  return a;
}

/** Programs each node's nft table from the whole datastore (used when the CLI has no agent verb). */
class BuiltinProgrammer {
  private watch: Watch | undefined;
  private readonly appliers = new Map<string, Applier>();
  private running: Promise<void> = Promise.resolve();
  private dirty = false;

  constructor(
    private readonly store: Store,
    private readonly nodes: Array<{ name: string; netns: string }>,
    private readonly denyAction: "drop" | "reject",
    private readonly log: (s: string) => void,
  ) {
    for (const n of nodes) this.appliers.set(n.name, new Applier(new NftKernel({ netns: n.netns })));
  }

  async start(): Promise<void> {
    await this.program();
    this.watch = this.store.watch(undefined, () => this.schedule(), { pollIntervalMs: 20 });
    await this.watch.ready;
  }

  private schedule(): void {
    if (this.dirty) return;
    this.dirty = true;
    this.running = this.running.then(async () => {
      this.dirty = false;
      await this.program().catch((e: Error) => this.log(`builtin programmer: ${e.message}`));
    });
  }

  private async program(): Promise<void> {
    const { items } = await this.store.snapshot();
    for (const n of this.nodes) {
      // The agent's own from-scratch oracle: the same model its incremental path must produce.
      const model = modelFromScratch(items, n.name, { config: { denyAction: this.denyAction } });
      await this.appliers.get(n.name)!.apply(model);
    }
  }

  async stop(): Promise<void> {
    await this.watch?.stop();
    await this.running;
    await Promise.all([...this.appliers.values()].map((a) => a.close().catch(() => undefined)));
  }
}

export class LabDaemon {
  private topo!: Topology;
  private store!: Store;
  private state!: LabState;
  private readonly agents = new Map<string, ChildProcess>();
  private builtin: BuiltinProgrammer | undefined;
  private watch: Watch | undefined;
  private server: net.Server | undefined;
  private readonly watchers = new Set<net.Socket>();
  private readonly changes: ChangeEvent[] = [];
  private rulesetHash = new Map<string, string>();
  private measuring: Promise<void> = Promise.resolve();
  private clusterCache: { revision: number; cluster: Cluster } | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly spec: LabSpec,
    private readonly log: (s: string) => void = (s) => process.stdout.write(`${new Date().toISOString()} ${s}\n`),
  ) {}

  static fromSpecFile(stateDir: string, name: string): LabDaemon {
    return new LabDaemon(JSON.parse(readFileSync(specPath(stateDir, name), "utf8")) as LabSpec);
  }

  private saveState(): void {
    writeJson(statePath(this.spec.stateDir, this.spec.name), this.state);
  }

  /** Builds the lab; on failure tears down what exists and records the error in the state file. */
  async start(): Promise<void> {
    const { spec } = this;
    const prefix = labPrefix(spec.name);
    this.state = {
      name: spec.name,
      status: "starting",
      prefix,
      daemonPid: process.pid,
      pids: [process.pid],
      namespaces: [],
      nodes: [],
      pods: [],
      world: { netns: `${prefix}-w`, ips: [] },
      socket: socketPath(spec.stateDir, spec.name),
      log: logPath(spec.stateDir, spec.name),
      datastore: spec.datastore,
      agent: spec.agent.mode === "tortie" ? "tortie agent" : "builtin (lab daemon)",
      denyAction: "reject",
      createdAt: new Date().toISOString(),
      stored: [],
    };
    // Record the namespaces we are about to create before creating them, so a crash mid-way still
    // leaves `lab down` a complete list.
    this.saveState();
    try {
      await this.build();
      this.state.status = "ready";
      this.saveState();
      this.log(`lab ${spec.name} ready`);
    } catch (e) {
      this.log(`lab ${spec.name} failed: ${(e as Error).stack ?? e}`);
      this.state.status = "failed";
      this.state.error = (e as Error).message;
      this.saveState();
      await this.teardown(false);
      throw e;
    }
  }

  private async build(): Promise<void> {
    const { spec } = this;
    const loaded = loadManifests(spec.files.map((path) => ({ path })));
    const errors = loaded.issues.filter((i) => i.severity === "error");
    if (errors.length > 0) throw new Error(`invalid manifests: ${errors.map((i) => `${i.resource ?? ""} ${i.message}`).join("; ")}`);
    const resources = loaded.resources.map((r) => r.resource as unknown as Manifest);

    // Nodes: node1…nodeN plus any node a pod names; pods with no node are spread round-robin.
    const nodeNames: string[] = [];
    for (let i = 1; i <= Math.max(1, spec.nodes); i++) nodeNames.push(`node${i}`);
    let rr = 0;
    for (const m of resources) {
      if (m.kind !== "Pod") continue;
      m.spec ??= {};
      if (!m.spec.nodeName) m.spec.nodeName = nodeNames[rr++ % nodeNames.length];
      if (!nodeNames.includes(String(m.spec.nodeName))) nodeNames.push(String(m.spec.nodeName));
    }
    // Never build over (or later delete) namespaces that are not ours: a lab of the same name
    // under another data dir uses the same names.
    const existing = (await exec("ip", ["netns", "list"])).stdout.split("\n").map((l) => l.split(" ")[0]!).filter((n) => n.startsWith(`${this.state.prefix}-`));
    if (existing.length > 0) throw new Error(`namespaces ${existing.slice(0, 3).join(", ")}${existing.length > 3 ? ", …" : ""} already exist: another lab named ${spec.name} (under another data dir?) is up; take it down or choose another --name`);
    // Planned names (Topology's scheme), recorded before anything exists.
    const podCount = resources.filter((m) => m.kind === "Pod" || m.kind === "WorkloadEndpoint").length;
    this.state.namespaces = [`${this.state.prefix}-w`, ...Array.from({ length: nodeNames.length + resources.filter((m) => m.kind === "HostEndpoint").length }, (_, i) => `${this.state.prefix}-n${i + 1}`), ...Array.from({ length: podCount }, (_, i) => `${this.state.prefix}-p${i + 1}`)];
    this.saveState();

    this.log(`building namespaces for ${podCount} pods on ${nodeNames.length} nodes`);
    const t0 = Date.now();
    this.topo = await Topology.create({ prefix: this.state.prefix, resources, externalIPs: spec.outside, nodes: nodeNames });
    this.state.namespaces = this.topo.namespaces();
    this.state.world = { netns: this.topo.world.netns, ips: [...this.topo.world.ips] };
    this.state.nodes = [...this.topo.nodes.values()].map((n) => ({ name: n.name, netns: n.netns, ips: n.ips, hostEndpoints: [...n.hostEndpoints.keys()] }));
    this.state.pods = [...this.topo.pods.values()].map((p) => ({ ref: p.ref, netns: p.netns, node: p.node, iface: p.iface, ips: p.ips }));
    this.saveState();
    this.log(`namespaces built in ${Date.now() - t0} ms`);

    // Generated addresses go into the stored Pod, so that the engine and the agent see them.
    for (const m of resources) {
      if (m.kind !== "Pod") continue;
      const p = this.topo.pods.get(`${m.metadata?.namespace || "default"}/${m.metadata?.name}`);
      const st = (m.status ??= {});
      if (p && !st.podIP && !(Array.isArray(st.podIPs) && st.podIPs.length > 0)) {
        st.podIP = p.ips.find((ip) => !isV6(ip)) ?? p.ips[0];
        st.podIPs = p.ips.map((ip) => ({ ip }));
        st.phase ??= "Running";
      }
    }

    this.store = await openStore(spec.datastore);
    await this.store.ensureInitialized();
    const failures: string[] = [];
    for (const m of resources) {
      try {
        const r = m as unknown as Resource;
        const existed = await this.store.get(kindIdOf(r), r.metadata.namespace, r.metadata.name);
        await this.store.apply(r);
        // Only what the lab created is deleted again by `lab down`.
        if (!existed) this.state.stored.push({ kind: kindIdOf(r), ...(r.metadata.namespace ? { namespace: r.metadata.namespace } : {}), name: r.metadata.name });
      } catch (e) {
        failures.push(`${describeResource(m as Resource)}: ${(e as Error).message}`);
      }
    }
    this.saveState();
    if (failures.length > 0) throw new Error(`storing the manifests failed: ${failures.join("; ")}`);
    this.log(`stored ${resources.length} resources`);

    // Echo servers on every container port (more are added when a probe asks for one).
    const tcp = new Set<number>([80]);
    const udp = new Set<number>([53]);
    for (const m of resources) {
      if (m.kind !== "Pod") continue;
      for (const c of ((m.spec?.containers ?? []) as Array<{ ports?: Array<{ containerPort?: number; protocol?: string }> }>)) {
        for (const p of c.ports ?? []) {
          if (!p.containerPort) continue;
          const proto = (p.protocol ?? "TCP").toUpperCase();
          if (proto === "TCP") tcp.add(p.containerPort);
          else if (proto === "UDP") udp.add(p.containerPort);
        }
      }
    }
    // The node agents start while the echo servers come up (both are process start-ups).
    await this.startAgents();
    await this.topo.serve({ tcp: [...tcp], udp: [...udp] });
    for (const netns of this.topo.namespaces()) {
      const a = await this.topo.agent(netns);
      this.state.pids.push(a.pid);
    }
    this.saveState();
    await this.waitProgrammed();

    const rev = await this.store.revision();
    this.watch = this.store.watch(rev, (ev) => {
      if (ev.type === "snapshot") return;
      this.noteChange(ev.revision, ev.type, describeResource(ev.resource));
    }, { pollIntervalMs: 20 });
    await this.watch.ready;
  }

  private async startAgents(): Promise<void> {
    const { spec } = this;
    const nodes = [...this.topo.nodes.values()];
    if (spec.agent.mode === "builtin") {
      this.builtin = new BuiltinProgrammer(this.store, nodes.map((n) => ({ name: n.name, netns: n.netns })), "reject", this.log);
      await this.builtin.start();
      return;
    }
    for (const n of nodes) {
      const logFile = `${logPath(spec.stateDir, spec.name).replace(/\.log$/, "")}-agent-${n.name}.log`;
      const fd = openSync(logFile, "a");
      const flowLog = `${logPath(spec.stateDir, spec.name).replace(/\.log$/, "")}-flows-${n.name}.log`;
      // Reject mode: a denied probe answers at once (TCP reset, ICMP prohibited) instead of timing out.
      const args = ["netns", "exec", n.netns, ...spec.agent.command, "agent", "--node", n.name, "--deny-action", "reject", "--flow-log", flowLog, ...datastoreArgs(spec.datastore), ...(spec.agent.extraArgs ?? [])];
      const child = spawn("ip", args, { stdio: ["ignore", fd, fd] });
      child.on("exit", (code, sig) => {
        if (!this.stopping) this.log(`agent for ${n.name} (pid ${child.pid}) exited: ${code ?? sig}`);
      });
      this.agents.set(n.name, child);
      this.state.pids.push(child.pid!);
      this.log(`agent for ${n.name}: pid ${child.pid}, log ${logFile}`);
    }
    this.saveState();
  }

  /** Waits (≤ 20 s) until every node has a non-empty ruleset: the agent's first programming. */
  private async waitProgrammed(): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (const n of this.topo.nodes.values()) {
      for (;;) {
        const text = await this.rulesetText(n.netns);
        if (/cali|tortie/.test(text)) {
          this.rulesetHash.set(n.name, hash(text));
          break;
        }
        const agent = this.agents.get(n.name);
        if (agent && agent.exitCode !== null) throw new Error(`the agent for ${n.name} exited (${agent.exitCode}) before programming anything; see its log`);
        if (Date.now() > deadline) throw new Error(`the agent for ${n.name} programmed nothing within 20 s`);
        await sleep(50);
      }
    }
  }

  private async rulesetText(netns: string): Promise<string> {
    try {
      // Everything an agent may program: nftables (and iptables-nft), ipsets, iptables-legacy.
      const script = "nft list ruleset; ipset save 2>/dev/null; iptables-legacy-save 2>/dev/null | grep -v '^#'; ip6tables-legacy-save 2>/dev/null | grep -v '^#'; true";
      return (await exec("sh", ["-c", script], { netns, timeoutMs: 10_000 })).stdout;
    } catch {
      return "";
    }
  }

  private async rulesetDigest(netns: string): Promise<string> {
    return hash(await this.rulesetText(netns));
  }

  /**
   * A datastore change: how long until a node's ruleset changes? Measured from the moment this
   * daemon's watch saw the change (it polls the store like the agent does) to the first ruleset
   * listing that differs. Changes that do not concern the lab's nodes show as null after 5 s.
   */
  private noteChange(revision: number, type: "put" | "delete", resource: string): void {
    const t0 = Date.now();
    this.measuring = this.measuring.then(async () => {
      const nodes = [...this.topo.nodes.values()];
      const changed = new Set<string>();
      while (Date.now() - t0 < 5000 && changed.size === 0) {
        for (const n of nodes) {
          const h = await this.rulesetDigest(n.netns);
          if (h !== this.rulesetHash.get(n.name)) {
            changed.add(n.name);
            this.rulesetHash.set(n.name, h);
          }
        }
        if (changed.size === 0) await sleep(10);
      }
      const ev: ChangeEvent = { revision, resource, type, ms: changed.size > 0 ? Date.now() - t0 : null, nodes: [...changed] };
      this.changes.push(ev);
      if (this.changes.length > 50) this.changes.shift();
      this.log(ev.ms === null ? `change r${revision} ${type} ${resource}: no ruleset change within 5 s` : `change r${revision} ${type} ${resource}: programmed on ${ev.nodes.join(",")} in ${ev.ms} ms`);
      for (const w of this.watchers) w.write(JSON.stringify({ event: "change", ...ev }) + "\n");
    });
  }

  // ------------------------------------------------------------------------------------ requests

  async listen(): Promise<void> {
    const path = this.state.socket;
    rmSync(path, { force: true });
    this.server = net.createServer((sock) => {
      sock.on("error", () => sock.destroy());
      const lines = createInterface({ input: sock });
      lines.on("error", () => undefined); // readline re-emits socket errors; a client that hangs up must not crash the lab
      lines.on("line", (line) => {
        let req: Json;
        try {
          req = JSON.parse(line) as Json;
        } catch {
          sock.write(JSON.stringify({ error: "bad request" }) + "\n");
          return;
        }
        if (req.op === "watch") {
          this.watchers.add(sock);
          sock.on("close", () => this.watchers.delete(sock));
          sock.write(JSON.stringify({ event: "watching", recent: this.changes.slice(-5) }) + "\n");
          return;
        }
        this.handle(req).then(
          (res) => {
            sock.write(JSON.stringify(res) + "\n");
            if (req.op === "down") {
              sock.end();
              setTimeout(() => process.exit(0), 50);
            }
          },
          (e: Error) => sock.write(JSON.stringify({ error: e.message }) + "\n"),
        );
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(path, () => resolve());
    });
  }

  private async handle(req: Json): Promise<unknown> {
    switch (req.op) {
      case "status":
        return { ...this.state, changes: this.changes.slice(-10), agents: this.agentStatus() };
      case "probe":
        return this.probe(req);
      case "matrix":
        return this.matrix(req);
      case "down":
        await this.shutdown();
        return { ok: true };
      default:
        return { error: `unknown op ${String(req.op)}` };
    }
  }

  private agentStatus(): Array<{ node: string; pid: number | undefined; running: boolean }> {
    return [...this.agents].map(([node, c]) => ({ node, pid: c.pid, running: c.exitCode === null && c.signalCode === null }));
  }

  private async cluster(): Promise<Cluster> {
    const rev = await this.store.revision();
    if (this.clusterCache?.revision === rev) return this.clusterCache.cluster;
    const cluster = Cluster.fromResources((await this.store.snapshot()).items);
    this.clusterCache = { revision: rev, cluster };
    return cluster;
  }

  /** Puts an outside address into the world namespace (no NAT: policies see the real address). */
  private async ensureOutside(ip: string): Promise<void> {
    if (this.topo.world.ips.includes(ip)) return;
    const known = [...this.topo.pods.values()].some((p) => p.ips.includes(ip)) || [...this.topo.nodes.values()].some((n) => n.ips.includes(ip));
    if (known) return;
    await exec("ip", ["-n", this.topo.world.netns, "addr", "add", `${ip}/${isV6(ip) ? 128 : 32}`, "dev", "br0", ...(isV6(ip) ? ["nodad"] : [])]);
    this.topo.world.ips.push(ip);
    this.state.world.ips = [...this.topo.world.ips];
    this.saveState();
  }

  private async probe(req: Json): Promise<Json> {
    const from = String(req.from ?? "");
    const to = String(req.to ?? "");
    const protocol = protocolNumber((req.protocol as string | number) ?? "TCP");
    if (protocol === undefined) throw new Error(`unknown protocol ${JSON.stringify(req.protocol)}`);
    const port = req.port === undefined ? undefined : Number(req.port);
    if (carriesPorts(protocol) && port === undefined) throw new Error(`a ${protocolName(protocol)} probe needs --port`);
    let family = req.family as 4 | 6 | undefined;
    for (const end of [from, to]) if (net.isIP(end)) family ??= net.isIP(end) === 6 ? 6 : 4;
    family ??= protocol === 58 ? 6 : 4;
    for (const end of [from, to]) if (net.isIP(end)) await this.ensureOutside(end);
    if (port !== undefined && (protocol === 6 || protocol === 17)) await this.topo.serve(protocol === 6 ? { tcp: [port], udp: [] } : { tcp: [], udp: [port] });
    const src = this.topo.target(from, family);
    const dst = this.topo.target(to, family);
    const icmp = req.icmp as { type: number; code?: number } | undefined;
    const r: ProbeResult = await this.topo.probe({ from: src, to: dst, protocol, family, timeoutMs: Number(req.timeoutMs ?? 500), ...(port !== undefined ? { port } : {}), ...(icmp ? { icmp } : {}) });
    const out: Json = {
      verdict: r.allowed ? "allow" : "deny",
      outcome: r.outcome,
      ms: r.ms,
      from: { ref: from, ip: src.ip, netns: src.netns },
      to: { ref: to, ip: dst.ip, netns: dst.netns },
      protocol: protocolName(protocol),
      family,
      ...(port !== undefined ? { port } : {}),
      ...(r.detail ? { detail: r.detail } : {}),
    };
    const ex = tryExplain(await this.cluster(), { from, to, protocol, family, ...(port !== undefined ? { port } : {}), ...(icmp ? { icmp } : {}) });
    if (ex.ok) out.explain = ex.value.verdict;
    const last = this.changes.at(-1);
    if (last) out.lastChange = last;
    // A verdict from a node whose agent died reflects stale rules: say so.
    const dead = this.agentStatus().filter((a) => !a.running).map((a) => a.node);
    if (dead.length > 0) out.warning = `the agent of ${dead.join(", ")} is not running (see its log); the kernel keeps its last rules`;
    return out;
  }

  private async matrix(req: Json): Promise<Json> {
    const t0 = Date.now();
    const cluster = await this.cluster();
    const queries: Array<{ protocol: number; port?: number }> = [];
    if (req.protocol !== undefined) {
      const p = protocolNumber(req.protocol as string);
      if (p === undefined) throw new Error(`unknown protocol ${JSON.stringify(req.protocol)}`);
      queries.push({ protocol: p, ...(req.port !== undefined ? { port: Number(req.port) } : {}) });
    } else {
      // Every TCP container port of the pods in the datastore (named or not); TCP/80 if none.
      const ports = new Set<number>();
      for (const r of (await this.store.snapshot()).items) {
        if (r.kind !== "Pod") continue;
        for (const c of (((r as unknown as Manifest).spec?.containers ?? []) as Array<{ ports?: Array<{ containerPort?: number; protocol?: string }> }>)) {
          for (const p of c.ports ?? []) if (p.containerPort && (p.protocol ?? "TCP").toUpperCase() === "TCP") ports.add(p.containerPort);
        }
      }
      if (ports.size === 0) ports.add(80);
      for (const port of [...ports].sort((a, b) => a - b)) queries.push({ protocol: 6, port });
    }
    const family = (req.family as 4 | 6 | undefined) ?? 4;
    const tables: Json[] = [];
    const disagreements: Json[] = [];
    let probes = 0;
    for (const q of queries) {
      const m = tryMatrix(cluster, { protocol: q.protocol, family, ...(q.port !== undefined ? { port: q.port } : {}) });
      if (!m.ok) throw new Error(m.issues.map((i) => i.message).join("; "));
      const eps = m.value.endpoints.filter((e) => this.topo.pods.has(e));
      const idx = eps.map((e) => m.value.endpoints.indexOf(e));
      if (q.port !== undefined) await this.topo.serve(q.protocol === 6 ? { tcp: [q.port], udp: [] } : q.protocol === 17 ? { tcp: [], udp: [q.port] } : { tcp: [], udp: [] });
      const kernel: Array<Array<"allow" | "deny" | null>> = eps.map(() => eps.map(() => null));
      const jobs: Array<() => Promise<void>> = [];
      eps.forEach((a, i) =>
        eps.forEach((b, j) => {
          if (i === j) return;
          const want = m.value.verdict(idx[i]!, idx[j]!);
          jobs.push(async () => {
            let src, dst;
            try {
              src = this.topo.target(a, family);
              dst = this.topo.target(b, family);
            } catch {
              return; // no address in this family
            }
            const r = await this.topo.probe({ from: src, to: dst, protocol: q.protocol, family, timeoutMs: 500, ...(q.port !== undefined ? { port: q.port } : {}) });
            probes++;
            const got = r.allowed ? "allow" : "deny";
            kernel[i]![j] = got;
            if (want && want !== got) disagreements.push({ from: a, to: b, protocol: protocolName(q.protocol), port: q.port, family, engine: want, kernel: got, outcome: r.outcome });
          });
        }),
      );
      await runLimited(jobs, 16);
      tables.push({ protocol: protocolName(q.protocol), port: q.port, family, endpoints: eps, kernel, engine: idx.map((i) => idx.map((j) => m.value.verdict(i, j))) });
    }
    return { tables, disagreements, probes, ms: Date.now() - t0 };
  }

  // ------------------------------------------------------------------------------------ teardown

  shutdown(): Promise<void> {
    this.stopping ??= this.teardown(true);
    return this.stopping;
  }

  private async teardown(removeFiles: boolean): Promise<void> {
    this.stopping ??= Promise.resolve();
    if (this.state) {
      this.state.status = "stopping";
      this.saveState();
    }
    for (const w of this.watchers) w.end();
    await this.watch?.stop().catch(() => undefined);
    await this.builtin?.stop().catch(() => undefined);
    await this.measuring.catch(() => undefined);
    await Promise.all(
      [...this.agents.values()].map(async (c) => {
        if (c.exitCode !== null || c.signalCode !== null) return;
        const gone = new Promise<void>((r) => c.once("exit", () => r()));
        c.kill("SIGTERM");
        const t = setTimeout(() => c.kill("SIGKILL"), 2000);
        await gone;
        clearTimeout(t);
      }),
    );
    await this.topo?.destroy().catch((e: Error) => this.log(`destroy: ${e.message}`));
    if (this.store) await deleteStored(this.store, this.state.stored).catch((e: Error) => this.log(`removing stored resources: ${e.message}`));
    await this.store?.close().catch(() => undefined);
    this.server?.close();
    if (removeFiles) {
      for (const p of [statePath(this.spec.stateDir, this.spec.name), specPath(this.spec.stateDir, this.spec.name), socketPath(this.spec.stateDir, this.spec.name)]) rmSync(p, { force: true });
    }
    this.log(`lab ${this.spec.name} down`);
  }
}

/** Deletes what the lab stored (resources that existed before `lab up` are not in the list). */
export async function deleteStored(store: Store, stored: LabState["stored"]): Promise<void> {
  for (const r of [...stored].reverse()) {
    try {
      await store.delete(r.kind as KindId, r.namespace, r.name);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
}

function hash(s: string): string {
  return createHash("sha1").update(s).digest("hex");
}

async function runLimited(jobs: Array<() => Promise<void>>, limit: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, jobs.length) }, async () => {
      while (next < jobs.length) await jobs[next++]!();
    }),
  );
}

/** Entry point of `tortie lab daemon`: build, serve requests, tear down on SIGTERM/SIGINT or "down". */
export async function runLabDaemon(stateDir: string, name: string): Promise<void> {
  const d = LabDaemon.fromSpecFile(stateDir, name);
  const stop = () => void d.shutdown().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  try {
    await d.start();
  } catch {
    process.exit(1);
  }
  await d.listen();
}
