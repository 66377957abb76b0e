/**
 * Synthetic cluster generator for the scale benchmarks: namespaces, deployments of pods with a
 * realistic (skewed) label distribution, Kubernetes NetworkPolicies and Calico policies (tiers,
 * GlobalNetworkPolicies, NetworkSets / GlobalNetworkSets, named ports, staged policies).
 * Deterministic: the same options give the same resources, byte for byte.
 *
 * Shape, chosen to look like real clusters rather than random noise:
 *  - namespaces ≈ pods / 100 (≥ 8); each namespace belongs to a team and an env (prod / staging / dev);
 *  - deployments per namespace ≈ 8, sized by a Zipf-like draw (a few big apps, many small ones),
 *    so most pods share their label set with their replicas (what equivalence classes exploit);
 *  - every pod: app, tier (frontend / backend / db / cache / worker), version, team,
 *    pod-template-hash; containers declare named ports (http, grpc, metrics) per tier;
 *  - nodes ≈ pods / 250, pods round-robin over them, so node-0 has ~250 local pods;
 *  - policies: ~45 % Kubernetes NetworkPolicy, ~35 % Calico NetworkPolicy (tiers security /
 *    platform / default), ~12 % GlobalNetworkPolicy, ~3 % StagedNetworkPolicy, rest reference
 *    network sets; most select one app in their own namespace and allow a few peers on named or
 *    numeric ports, as per-app policies do.
 * Pod IPs are 198.18.0.0 + index + 256 (IPv4 only; 100k pods end below 198.19.135.0), so even if
 * rendered into a namespace they stay in the lab range.
 */
import type { Resource } from "../../src/model/index.js";

/** mulberry32. */
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

export interface GenOptions {
  pods: number;
  policies: number;
  seed?: number;
  /** Default max(8, pods / 100). */
  namespaces?: number;
  /** Default max(1, round(pods / 250)). */
  nodes?: number;
  /**
   * Pods as the Kubernetes API serves them (~5.5 KB of JSON each): owner references, managed
   * fields, two containers with env, resources, probes and mounts, volumes, tolerations, status
   * conditions and container statuses. Nothing tortie reads changes; the policy-relevant fields
   * are those of the plain pods. Default false (the bare fields tortie reads).
   */
  realisticPods?: boolean;
}

export interface GenSize {
  name: string;
  pods: number;
  policies: number;
}

/** The issue's sizes, smallest first. */
export const SIZES: GenSize[] = [
  { name: "1k", pods: 1_000, policies: 500 },
  { name: "10k", pods: 10_000, policies: 5_000 },
  { name: "30k", pods: 30_000, policies: 20_000 },
  { name: "100k", pods: 100_000, policies: 75_000 },
];

export interface GeneratedCluster {
  resources: Resource[];
  /** Node names; node-0 carries ~250 pods at every size. */
  nodes: string[];
  namespaces: string[];
  pods: Resource[];
  counts: Record<string, number>;
}

const TIERS = ["frontend", "backend", "db", "cache", "worker"] as const;
const ENVS = ["prod", "staging", "dev"] as const;
const PORTS_BY_TIER: Record<string, Array<{ name: string; containerPort: number; protocol?: string }>> = {
  frontend: [{ name: "http", containerPort: 8080 }, { name: "metrics", containerPort: 9090 }],
  backend: [{ name: "grpc", containerPort: 9000 }, { name: "http", containerPort: 8080 }, { name: "metrics", containerPort: 9090 }],
  db: [{ name: "postgres", containerPort: 5432 }, { name: "metrics", containerPort: 9187 }],
  cache: [{ name: "redis", containerPort: 6379 }],
  worker: [{ name: "metrics", containerPort: 9090 }],
};

/** Pod i's address: 198.18.0.0 + i + 256. */
export function podIP(i: number): string {
  const n = (198 << 24) + (18 << 16) + 256 + i;
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

interface Deployment {
  ns: string;
  app: string;
  tier: (typeof TIERS)[number];
  team: string;
  hash: string;
}

interface RealisticPod {
  metadata: Record<string, unknown> & { name: string; namespace: string };
  spec: { containers: Array<Record<string, unknown>> } & Record<string, unknown>;
  status: Record<string, unknown>;
}

/** The fields an API server adds to a pod that no policy reads (see GenOptions.realisticPods). */
function addApiServerFields(p: RealisticPod, i: number, app: string): void {
  const image = (c: number) => `registry.example.com/${p.metadata.namespace}/${app}:1.${c}.${i % 9}`;
  const env = Array.from({ length: 12 }, (_, k) => ({ name: `ENV_VAR_${k}`, value: `value-${k}-${"x".repeat(30)}` }));
  const details = (c: number) => ({
    image: image(c),
    env,
    resources: { limits: { cpu: "500m", memory: "512Mi" }, requests: { cpu: "100m", memory: "128Mi" } },
    volumeMounts: [{ name: "config", mountPath: "/etc/app" }, { name: "kube-api-access", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount", readOnly: true }],
    livenessProbe: { httpGet: { path: "/healthz", port: 8080 }, periodSeconds: 10 },
    terminationMessagePath: "/dev/termination-log",
    imagePullPolicy: "IfNotPresent",
  });
  Object.assign(p.spec.containers[0]!, details(0));
  p.spec.containers.push({ name: "sidecar", ...details(1) });
  Object.assign(p.metadata, {
    uid: `${i.toString(16).padStart(8, "0")}-0000-4000-8000-${"0".repeat(12)}`,
    resourceVersion: String(1_000_000 + i),
    creationTimestamp: "2026-11-01T10:00:00Z",
    generateName: `${app}-`,
    annotations: { "kubectl.kubernetes.io/restartedAt": "2026-11-01T09:59:00Z", "prometheus.io/scrape": "true" },
    ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: `${app}-7d9f8b6c5`, uid: "rs-uid", controller: true, blockOwnerDeletion: true }],
    managedFields: [
      { manager: "kube-controller-manager", operation: "Update", apiVersion: "v1", time: "2026-11-01T10:00:00Z", fieldsType: "FieldsV1", fieldsV1: { "f:metadata": { "f:generateName": {}, "f:labels": { ".": {} }, "f:ownerReferences": {} }, "f:spec": { "f:containers": { 'k:{"name":"main"}': { ".": {}, "f:env": {}, "f:image": {}, "f:ports": {} } } } } },
      { manager: "kubelet", operation: "Update", apiVersion: "v1", time: "2026-11-01T10:00:05Z", fieldsType: "FieldsV1", subresource: "status", fieldsV1: { "f:status": { "f:conditions": {}, "f:containerStatuses": {}, "f:podIP": {}, "f:podIPs": {} } } },
    ],
  });
  Object.assign(p.spec, {
    volumes: [{ name: "config", configMap: { name: "app-config" } }, { name: "kube-api-access", projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: "token" } }] } }],
    restartPolicy: "Always",
    dnsPolicy: "ClusterFirst",
    schedulerName: "default-scheduler",
    tolerations: [{ key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 }],
  });
  Object.assign(p.status, {
    hostIP: "192.168.0.10",
    startTime: "2026-11-01T10:00:01Z",
    qosClass: "Burstable",
    conditions: ["Initialized", "Ready", "ContainersReady", "PodScheduled"].map((type) => ({ type, status: "True", lastProbeTime: null, lastTransitionTime: "2026-11-01T10:00:03Z" })),
    containerStatuses: [0, 1].map((c) => ({ name: c === 0 ? "main" : "sidecar", ready: true, restartCount: 0, image: image(c), imageID: `registry.example.com/app@sha256:${"ab".repeat(32)}`, containerID: `containerd://${"cd".repeat(32)}`, started: true, state: { running: { startedAt: "2026-11-01T10:00:02Z" } } })),
  });
}

export function generateCluster(o: GenOptions): GeneratedCluster {
  const rand = rng(o.seed ?? 1);
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  /** Zipf-ish index in [0, n): small indexes much more likely. */
  const skewed = (n: number) => Math.min(n - 1, Math.floor(n * Math.pow(rand(), 2.2)));

  const nsCount = o.namespaces ?? Math.max(8, Math.round(o.pods / 100));
  const nodeCount = o.nodes ?? Math.max(1, Math.round(o.pods / 250));
  const teams = Math.max(3, Math.round(nsCount / 6));
  const out: Resource[] = [];
  const counts: Record<string, number> = {};
  const push = (r: Resource) => {
    out.push(r);
    counts[r.kind] = (counts[r.kind] ?? 0) + 1;
  };

  // ---- namespaces
  const namespaces: string[] = [];
  const nsEnv = new Map<string, string>();
  for (let i = 0; i < nsCount; i++) {
    const name = `ns-${i}`;
    const env = ENVS[i % 7 < 4 ? 0 : i % 7 < 6 ? 1 : 2]!;
    namespaces.push(name);
    nsEnv.set(name, env);
    push({ apiVersion: "v1", kind: "Namespace", metadata: { name, labels: { team: `team-${i % teams}`, env, "kubernetes.io/metadata.name": name } } } as unknown as Resource);
  }

  // ---- tiers, network sets
  push({ apiVersion: "projectcalico.org/v3", kind: "Tier", metadata: { name: "security" }, spec: { order: 100 } } as unknown as Resource);
  push({ apiVersion: "projectcalico.org/v3", kind: "Tier", metadata: { name: "platform" }, spec: { order: 200, defaultAction: "Pass" } } as unknown as Resource);
  const gnsCount = Math.max(4, Math.round(o.policies / 500));
  for (let i = 0; i < gnsCount; i++) {
    const nets = Array.from({ length: 1 + int(8) }, () => `203.0.${int(256)}.${int(4) * 64}/26`);
    push({
      apiVersion: "projectcalico.org/v3",
      kind: "GlobalNetworkSet",
      metadata: { name: `gns-${i}`, labels: { "ext-role": `role-${i % 6}`, feed: i % 2 === 0 ? "threat" : "partner" } },
      spec: { nets },
    } as unknown as Resource);
  }
  const nsSets: Array<{ ns: string; name: string }> = [];
  for (let i = 0; i < Math.max(2, Math.round(nsCount / 4)); i++) {
    const ns = namespaces[i % nsCount]!;
    const name = `ns-set-${i}`;
    nsSets.push({ ns, name });
    push({
      apiVersion: "projectcalico.org/v3",
      kind: "NetworkSet",
      metadata: { name, namespace: ns, labels: { "net-role": `egress-${i % 3}` } },
      spec: { nets: [`192.0.2.${(i % 32) * 8}/29`] },
    } as unknown as Resource);
  }

  // ---- deployments and pods
  const deployments: Deployment[] = [];
  const depsPerNs = 8;
  for (const ns of namespaces) {
    const team = `team-${Number(ns.slice(3)) % teams}`;
    for (let d = 0; d < depsPerNs; d++) {
      deployments.push({ ns, app: `${ns}-app-${d}`, tier: TIERS[d % TIERS.length]!, team, hash: (Math.floor(rand() * 0xffffffff) >>> 0).toString(16) });
    }
  }
  const appsByNs = new Map<string, Deployment[]>();
  for (const d of deployments) {
    let l = appsByNs.get(d.ns);
    if (!l) appsByNs.set(d.ns, (l = []));
    l.push(d);
  }
  const nodes = Array.from({ length: nodeCount }, (_, i) => `node-${i}`);
  const pods: Resource[] = [];
  for (let i = 0; i < o.pods; i++) {
    // Namespaces get skewed shares too (a few busy ones), deployments within them as well.
    const ns = namespaces[skewed(nsCount)]!;
    const apps = appsByNs.get(ns)!;
    const d = apps[skewed(apps.length)]!;
    const labels: Record<string, string> = { app: d.app, tier: d.tier, team: d.team, version: rand() < 0.85 ? "v1" : "v2", "pod-template-hash": d.hash };
    if (rand() < 0.1) labels.canary = "true";
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: `${d.app}-${i.toString(36)}`, namespace: ns, labels },
      spec: { nodeName: nodes[i % nodeCount]!, serviceAccountName: d.app, containers: [{ name: "main", ports: PORTS_BY_TIER[d.tier] }] },
      status: { phase: "Running", podIP: podIP(i), podIPs: [{ ip: podIP(i) }] },
    } as unknown as Resource;
    if (o.realisticPods) addApiServerFields(pod as unknown as RealisticPod, i, d.app);
    pods.push(pod);
    push(pod);
  }

  // ---- policies
  const peerSelector = (own: Deployment): string => {
    const r = rand();
    const other = pick(appsByNs.get(own.ns)!);
    if (r < 0.5) return `app == '${other.app}'`;
    if (r < 0.7) return `tier == '${pick(TIERS)}'`;
    if (r < 0.85) return `app == '${other.app}' && version != 'v2'`;
    return `tier in {'frontend', 'backend'} && !has(canary)`;
  };
  const portsFor = (d: Deployment): Array<number | string> => {
    const named = PORTS_BY_TIER[d.tier]!;
    const r = rand();
    if (r < 0.5) return [named[0]!.name];
    if (r < 0.7) return [named[0]!.containerPort];
    if (r < 0.85) return named.map((p) => p.name);
    return [pick([80, 443, "8000:8100", 9090])];
  };
  const calicoIngress = (d: Deployment): Record<string, unknown> => {
    const r = rand();
    let source: Record<string, unknown>;
    if (r < 0.55) source = { selector: peerSelector(d) };
    else if (r < 0.75) source = { selector: `tier == '${pick(TIERS)}'`, namespaceSelector: `team == '${d.team}'` };
    else if (r < 0.85) source = { selector: `ext-role == 'role-${int(6)}'`, namespaceSelector: "global()" };
    else if (r < 0.92) source = { nets: [`10.${int(256)}.0.0/16`] };
    else source = { namespaceSelector: `env == '${nsEnv.get(d.ns)}'` };
    const action = rand() < 0.9 ? "Allow" : rand() < 0.5 ? "Deny" : "Log";
    return { action, protocol: "TCP", source, destination: { ports: portsFor(d) } };
  };
  const calicoEgress = (d: Deployment): Record<string, unknown> => {
    const r = rand();
    if (r < 0.4) return { action: "Allow", protocol: "TCP", destination: { selector: peerSelector(d), ports: [pick(["http", "grpc", 5432, 6379])] } };
    if (r < 0.6) return { action: "Allow", protocol: "UDP", destination: { selector: "k8s-app == 'kube-dns'", namespaceSelector: "global()", ports: [53] } };
    if (r < 0.8) {
      const s = pick(nsSets);
      return { action: "Allow", destination: { selector: `net-role == '${`egress-${int(3)}`}'`, namespaceSelector: `kubernetes.io/metadata.name == '${s.ns}'` } };
    }
    return { action: rand() < 0.5 ? "Deny" : "Allow", destination: { selector: `feed == 'threat'`, namespaceSelector: "global()" } };
  };

  for (let i = 0; i < o.policies; i++) {
    const d = deployments[skewed(deployments.length)]!;
    const r = rand();
    const nIngress = 1 + int(3);
    if (r < 0.45) {
      const ingress = Array.from({ length: nIngress }, () => {
        const from: unknown[] = [];
        const f = rand();
        if (f < 0.5) from.push({ podSelector: { matchLabels: { app: pick(appsByNs.get(d.ns)!).app } } });
        else if (f < 0.75) from.push({ namespaceSelector: { matchLabels: { team: d.team } }, podSelector: { matchExpressions: [{ key: "tier", operator: "In", values: ["frontend", "backend"] }] } });
        else if (f < 0.9) from.push({ namespaceSelector: { matchLabels: { env: nsEnv.get(d.ns)! } } });
        else {
          const b = int(256);
          from.push({ ipBlock: { cidr: `10.${b}.0.0/16`, except: [`10.${b}.${1 + int(255)}.0/24`] } });
        }
        const ports = PORTS_BY_TIER[d.tier]!.slice(0, 1 + int(2)).map((p) => ({ protocol: "TCP", port: rand() < 0.6 ? p.name : p.containerPort }));
        return { from, ports };
      });
      const egress = rand() < 0.3 ? [{ to: [{ podSelector: { matchLabels: { tier: "db" } } }], ports: [{ protocol: "TCP", port: 5432 }] }] : undefined;
      push({
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: `knp-${i}`, namespace: d.ns },
        spec: { podSelector: { matchLabels: rand() < 0.8 ? { app: d.app } : { tier: d.tier } }, policyTypes: egress ? ["Ingress", "Egress"] : ["Ingress"], ingress, ...(egress ? { egress } : {}) },
      } as unknown as Resource);
    } else if (r < 0.8) {
      const tier = rand() < 0.7 ? "default" : rand() < 0.5 ? "platform" : "security";
      const name = tier === "default" ? `np-${i}` : `${tier}.np-${i}`;
      const ingress = Array.from({ length: nIngress }, () => calicoIngress(d));
      const egress = rand() < 0.35 ? Array.from({ length: 1 + int(2) }, () => calicoEgress(d)) : [];
      push({
        apiVersion: "projectcalico.org/v3",
        kind: "NetworkPolicy",
        metadata: { name, namespace: d.ns },
        spec: {
          tier,
          order: int(1000),
          selector: rand() < 0.8 ? `app == '${d.app}'` : `tier == '${d.tier}' && version == 'v1'`,
          types: egress.length > 0 ? ["Ingress", "Egress"] : ["Ingress"],
          ingress,
          egress,
        },
      } as unknown as Resource);
    } else if (r < 0.92) {
      const tier = rand() < 0.6 ? "security" : rand() < 0.5 ? "platform" : "default";
      const name = tier === "default" ? `gnp-${i}` : `${tier}.gnp-${i}`;
      const sel = rand() < 0.5 ? `tier == '${d.tier}' && team == '${d.team}'` : `app == '${d.app}'`;
      const ingress = rand() < 0.5 ? [{ action: "Deny", source: { selector: "feed == 'threat'" } }, { action: "Pass" }] : [calicoIngress(d)];
      push({
        apiVersion: "projectcalico.org/v3",
        kind: "GlobalNetworkPolicy",
        metadata: { name },
        spec: { tier, order: rand() < 0.9 ? int(1000) : undefined, selector: sel, types: ["Ingress"], ingress },
      } as unknown as Resource);
    } else if (r < 0.95) {
      push({
        apiVersion: "projectcalico.org/v3",
        kind: "StagedNetworkPolicy",
        metadata: { name: `snp-${i}`, namespace: d.ns },
        spec: { selector: `app == '${d.app}'`, types: ["Ingress"], ingress: [{ action: "Deny", source: { selector: peerSelector(d) } }] },
      } as unknown as Resource);
    } else {
      const s = pick(nsSets);
      push({
        apiVersion: "projectcalico.org/v3",
        kind: "NetworkPolicy",
        metadata: { name: `np-egress-${i}`, namespace: s.ns },
        spec: {
          selector: `tier == '${pick(TIERS)}'`,
          types: ["Egress"],
          egress: [{ action: "Allow", destination: { selector: `net-role == 'egress-${int(3)}'` } }, { action: "Allow", protocol: "UDP", destination: { ports: [53] } }],
        },
      } as unknown as Resource);
    }
  }
  return { resources: out, nodes, namespaces, pods, counts };
}
