/**
 * Deterministic synthetic clusters for engine benchmarks: namespaces, pods with a realistic spread
 * of labels (so that many pods share label sets, as replicas do), network sets, tiers, and a mix of
 * Calico NetworkPolicies, GlobalNetworkPolicies and Kubernetes NetworkPolicies. Same seed, same
 * cluster.
 */
import type { Resource } from "../src/model/index.js";

/** mulberry32: tiny, fast, good enough for benchmark data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SyntheticOptions {
  pods: number;
  policies: number;
  namespaces?: number;
  apps?: number;
  seed?: number;
}

export function syntheticCluster(o: SyntheticOptions): Resource[] {
  const rand = rng(o.seed ?? 42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const nsCount = o.namespaces ?? 20;
  const apps = o.apps ?? 50;
  const tiers = ["web", "api", "db", "cache"];
  const out: Resource[] = [];
  const nss = Array.from({ length: nsCount }, (_, i) => `ns-${i}`);
  nss.forEach((name, i) => out.push({ apiVersion: "v1", kind: "Namespace", metadata: { name, labels: { team: `team-${i % 5}`, env: i % 3 === 0 ? "prod" : "dev" } } } as Resource));
  out.push(
    { apiVersion: "projectcalico.org/v3", kind: "Tier", metadata: { name: "security" }, spec: { order: 100, defaultAction: "Pass" } } as Resource,
    { apiVersion: "projectcalico.org/v3", kind: "Tier", metadata: { name: "platform" }, spec: { order: 200 } } as Resource,
  );
  for (let i = 0; i < 20; i++) {
    out.push({
      apiVersion: "projectcalico.org/v3",
      kind: "GlobalNetworkSet",
      metadata: { name: `ext-${i}`, labels: { "ext-role": `role-${i % 4}` } },
      spec: { nets: [`198.${18 + (i % 2)}.${i}.0/24`] },
    } as Resource);
  }
  // Pods come from deployments (replicas share labels, namespace, service account and ports), as
  // in real clusters; ~7 replicas per deployment on average.
  const deployments = Array.from({ length: Math.max(1, Math.round(o.pods / 7)) }, (_, d) => ({
    app: `app-${d % apps}`,
    tier: pick(tiers),
    version: rand() < 0.8 ? "v1" : "v2",
    ns: nss[Math.floor(rand() * nsCount)]!,
    ports: rand() < 0.5 ? [{ name: "http", containerPort: 8080 }, { name: "metrics", containerPort: 9090 }] : [],
  }));
  for (let i = 0; i < o.pods; i++) {
    const d = deployments[Math.floor(rand() * deployments.length)]!;
    out.push({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: `pod-${i}`, namespace: d.ns, labels: { app: d.app, tier: d.tier, version: d.version } },
      spec: { nodeName: `node-${i % 20}`, serviceAccountName: `sa-${d.app}`, containers: [{ name: "c", ports: d.ports }] },
      status: { podIP: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, phase: "Running" },
    } as Resource);
  }
  const sel = () => {
    const r = rand();
    if (r < 0.4) return `app == 'app-${Math.floor(rand() * apps)}'`;
    if (r < 0.6) return `tier == '${pick(tiers)}'`;
    if (r < 0.8) return `app == 'app-${Math.floor(rand() * apps)}' && tier in {'${pick(tiers)}', '${pick(tiers)}'}`;
    return `has(app) && version != 'v2'`;
  };
  const entity = (): Record<string, unknown> => {
    const r = rand();
    if (r < 0.35) return { selector: sel() };
    if (r < 0.5) return { selector: sel(), namespaceSelector: `team == 'team-${Math.floor(rand() * 5)}'` };
    if (r < 0.6) return { nets: [`172.16.${Math.floor(rand() * 4)}.0/24`] };
    if (r < 0.7) return { selector: `ext-role == 'role-${Math.floor(rand() * 4)}'`, ...(rand() < 0.5 ? { namespaceSelector: "global()" } : {}) };
    if (r < 0.8) return { notSelector: sel() };
    return {};
  };
  const rule = (dir: "ingress" | "egress"): Record<string, unknown> => {
    const action = rand() < 0.7 ? "Allow" : rand() < 0.5 ? "Deny" : rand() < 0.5 ? "Pass" : "Log";
    const r: Record<string, unknown> = { action };
    const ports = rand() < 0.6 ? [pick([80, 443, 8080, "8000:8100", "http", "metrics"])] : undefined;
    if (ports) r.protocol = "TCP";
    else if (rand() < 0.2) r.protocol = pick(["UDP", "ICMP"]);
    const peer = entity();
    const dst: Record<string, unknown> = ports ? { ports } : {};
    if (dir === "ingress") {
      if (Object.keys(peer).length > 0) r.source = peer;
      if (Object.keys(dst).length > 0) r.destination = dst;
    } else {
      const d = { ...peer, ...dst };
      if (Object.keys(d).length > 0) r.destination = d;
    }
    return r;
  };
  for (let i = 0; i < o.policies; i++) {
    const kind = rand();
    const ingress = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => rule("ingress"));
    const egress = rand() < 0.4 ? Array.from({ length: 1 + Math.floor(rand() * 2) }, () => rule("egress")) : [];
    if (kind < 0.6) {
      out.push({
        apiVersion: "projectcalico.org/v3",
        kind: "NetworkPolicy",
        metadata: { name: `np-${i}`, namespace: pick(nss) },
        spec: { tier: rand() < 0.2 ? "platform" : "default", order: Math.floor(rand() * 1000), selector: sel(), ingress, egress },
      } as unknown as Resource);
    } else if (kind < 0.8) {
      out.push({
        apiVersion: "projectcalico.org/v3",
        kind: "GlobalNetworkPolicy",
        metadata: { name: `gnp-${i}` },
        spec: { tier: rand() < 0.5 ? "security" : "default", order: rand() < 0.9 ? Math.floor(rand() * 1000) : undefined, selector: sel(), ingress, egress },
      } as unknown as Resource);
    } else if (kind < 0.95) {
      const app = `app-${Math.floor(rand() * apps)}`;
      out.push({
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: `knp-${i}`, namespace: pick(nss) },
        spec: {
          podSelector: { matchLabels: { app } },
          policyTypes: ["Ingress"],
          ingress: [{ from: [{ podSelector: { matchLabels: { tier: pick(tiers) } } }, { namespaceSelector: { matchLabels: { env: "prod" } } }], ports: [{ port: pick([80, 8080, 443]) }] }],
        },
      } as Resource);
    } else {
      out.push({
        apiVersion: "projectcalico.org/v3",
        kind: "StagedNetworkPolicy",
        metadata: { name: `snp-${i}`, namespace: pick(nss) },
        spec: { selector: sel(), ingress: [{ action: "Deny" }] },
      } as Resource);
    }
  }
  return out;
}
