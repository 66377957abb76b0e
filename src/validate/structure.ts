/**
 * The shape of every kind: which fields exist, their JSON types, which are required. Unknown
 * fields are rejected (like `kubectl --validate=strict`) for the kinds tortie owns the schema of:
 * all projectcalico.org/v3 kinds and networking.k8s.io/v1 NetworkPolicy. Kubernetes core kinds
 * (Pod, Service, …) have far larger upstream schemas than we read, so only the parts tortie uses
 * are typed and everything else passes through.
 *
 * Value rules (enums, ranges, formats) are not here; they live in the per-concern modules so
 * that each Calico rule is stated once with its own message.
 */
import { z } from "zod";
import type { Issue, IssuePath } from "../model/index.js";
import type { KindId } from "../model/index.js";

type Schema = z.ZodType;

const str = z.string();
const num = z.number();
const int = z.number().int();
const bool = z.boolean();
const strList = z.array(str);
const strMap = z.record(z.string(), z.string());
const intOrString = z.union([int, str]);
const opt = <T extends Schema>(s: T) => z.optional(s);
const anything = z.unknown();

// ---------------------------------------------------------------- metadata

const objectMeta = z.strictObject({
  name: str,
  generateName: opt(str),
  namespace: opt(str),
  labels: opt(strMap),
  annotations: opt(strMap),
  uid: opt(str),
  resourceVersion: opt(str),
  generation: opt(int),
  creationTimestamp: opt(z.union([str, z.null()])),
  deletionTimestamp: opt(str),
  deletionGracePeriodSeconds: opt(int),
  ownerReferences: opt(z.array(anything)),
  finalizers: opt(strList),
  managedFields: opt(z.array(anything)),
  selfLink: opt(str),
});

// ---------------------------------------------------------------- Calico rules

const icmpFields = z.strictObject({ type: opt(int), code: opt(int) });

const entityRule = z.strictObject({
  nets: opt(strList),
  notNets: opt(strList),
  selector: opt(str),
  notSelector: opt(str),
  namespaceSelector: opt(str),
  // Ports are uint16 or strings in Go; a fraction is a type error, range checks are semantic.
  ports: opt(z.array(intOrString)),
  notPorts: opt(z.array(intOrString)),
  serviceAccounts: opt(z.strictObject({ names: opt(strList), selector: opt(str) })),
  services: opt(z.strictObject({ name: opt(str), namespace: opt(str) })),
});

const rule = z.strictObject({
  action: str,
  ipVersion: opt(int),
  protocol: opt(intOrString),
  notProtocol: opt(intOrString),
  icmp: opt(icmpFields),
  notICMP: opt(icmpFields),
  source: opt(entityRule),
  destination: opt(entityRule),
  http: opt(
    z.strictObject({
      methods: opt(strList),
      paths: opt(z.array(z.strictObject({ exact: opt(str), prefix: opt(str) }))),
    }),
  ),
  metadata: opt(z.strictObject({ annotations: opt(strMap) })),
});

const rules = opt(z.array(rule));

const npSpecShape = {
  tier: opt(str),
  order: opt(num),
  selector: opt(str),
  serviceAccountSelector: opt(str),
  types: opt(strList),
  ingress: rules,
  egress: rules,
  performanceHints: opt(strList),
};

const gnpSpecShape = {
  ...npSpecShape,
  namespaceSelector: opt(str),
  doNotTrack: opt(bool),
  preDNAT: opt(bool),
  applyOnForward: opt(bool),
};

// ---------------------------------------------------------------- Kubernetes NetworkPolicy

const labelSelector = z.strictObject({
  matchLabels: opt(strMap),
  matchExpressions: opt(z.array(z.strictObject({ key: str, operator: str, values: opt(strList) }))),
});

const k8sPeer = z.strictObject({
  podSelector: opt(labelSelector),
  namespaceSelector: opt(labelSelector),
  ipBlock: opt(z.strictObject({ cidr: str, except: opt(strList) })),
});

const k8sPort = z.strictObject({ protocol: opt(str), port: opt(intOrString), endPort: opt(int) });

const k8sNpSpecShape = {
  // Optional since Kubernetes 1.31 (+optional); absent means {} (all pods in the namespace).
  podSelector: opt(labelSelector),
  policyTypes: opt(strList),
  ingress: opt(z.array(z.strictObject({ from: opt(z.array(k8sPeer)), ports: opt(z.array(k8sPort)) }))),
  egress: opt(z.array(z.strictObject({ to: opt(z.array(k8sPeer)), ports: opt(z.array(k8sPort)) }))),
};

// ---------------------------------------------------------------- endpoints

const endpointPort = z.strictObject({ name: str, protocol: intOrString, port: int });

const wepSpec = z.strictObject({
  orchestrator: opt(str),
  workload: opt(str),
  node: opt(str),
  containerID: opt(str),
  pod: opt(str),
  endpoint: opt(str),
  serviceAccountName: opt(str),
  ipNetworks: opt(strList),
  ipNATs: opt(z.array(z.strictObject({ internalIP: str, externalIP: str }))),
  ipv4Gateway: opt(str),
  ipv6Gateway: opt(str),
  profiles: opt(strList),
  interfaceName: opt(str),
  mac: opt(str),
  ports: opt(
    z.array(
      z.strictObject({ name: opt(str), protocol: intOrString, port: int, hostPort: opt(int), hostIP: opt(str) }),
    ),
  ),
  allowSpoofedSourcePrefixes: opt(strList),
  qosControls: opt(z.record(z.string(), anything)),
});

// ---------------------------------------------------------------- Kubernetes core

const k8sProtocol = opt(str);

const pod = {
  spec: opt(
    z.looseObject({
      nodeName: opt(str),
      serviceAccountName: opt(str),
      hostNetwork: opt(bool),
      containers: opt(
        z.array(
          z.looseObject({
            name: str,
            image: opt(str),
            ports: opt(
              z.array(
                z.strictObject({
                  name: opt(str),
                  containerPort: int,
                  protocol: k8sProtocol,
                  hostPort: opt(int),
                  hostIP: opt(str),
                }),
              ),
            ),
          }),
        ),
      ),
    }),
  ),
  status: opt(
    z.looseObject({
      podIP: opt(str),
      podIPs: opt(z.array(z.strictObject({ ip: str }))),
      phase: opt(str),
    }),
  ),
};

const service = {
  spec: opt(
    z.looseObject({
      selector: opt(strMap),
      ports: opt(
        z.array(
          z.looseObject({ name: opt(str), protocol: k8sProtocol, port: int, targetPort: opt(intOrString), nodePort: opt(int) }),
        ),
      ),
      clusterIP: opt(str),
      clusterIPs: opt(strList),
      type: opt(str),
    }),
  ),
  status: opt(anything),
};

const endpointSlice = {
  addressType: str,
  endpoints: opt(
    z.array(
      z.looseObject({
        addresses: strList,
        conditions: opt(z.looseObject({ ready: opt(bool), serving: opt(bool), terminating: opt(bool) })),
        nodeName: opt(str),
        targetRef: opt(anything),
      }),
    ),
  ),
  ports: opt(z.array(z.strictObject({ name: opt(str), protocol: k8sProtocol, port: opt(int), appProtocol: opt(str) }))),
};

// ---------------------------------------------------------------- top level

function top(extra: Record<string, Schema>): Schema {
  return z.strictObject({ apiVersion: str, kind: str, metadata: objectMeta, ...extra });
}

export const SCHEMAS: Record<KindId, Schema> = {
  NetworkPolicy: top({ spec: opt(z.strictObject(npSpecShape)) }),
  GlobalNetworkPolicy: top({ spec: opt(z.strictObject(gnpSpecShape)) }),
  StagedNetworkPolicy: top({ spec: opt(z.strictObject({ ...npSpecShape, stagedAction: opt(str) })) }),
  StagedGlobalNetworkPolicy: top({ spec: opt(z.strictObject({ ...gnpSpecShape, stagedAction: opt(str) })) }),
  StagedKubernetesNetworkPolicy: top({ spec: opt(z.strictObject({ ...k8sNpSpecShape, stagedAction: opt(str) })) }),
  Tier: top({
    spec: opt(z.strictObject({ order: opt(num), defaultAction: opt(str) })),
    status: opt(anything),
  }),
  NetworkSet: top({ spec: opt(z.strictObject({ nets: opt(strList) })) }),
  GlobalNetworkSet: top({ spec: opt(z.strictObject({ nets: opt(strList) })) }),
  Profile: top({ spec: opt(z.strictObject({ ingress: rules, egress: rules, labelsToApply: opt(strMap) })) }),
  HostEndpoint: top({
    spec: opt(
      z.strictObject({
        node: opt(str),
        interfaceName: opt(str),
        expectedIPs: opt(strList),
        profiles: opt(strList),
        ports: opt(z.array(endpointPort)),
      }),
    ),
  }),
  WorkloadEndpoint: top({ spec: opt(wepSpec) }),
  KubernetesNetworkPolicy: top({ spec: opt(z.strictObject(k8sNpSpecShape)) }),
  Namespace: top({ spec: opt(z.looseObject({ finalizers: opt(strList) })), status: opt(anything) }),
  Pod: top(pod),
  ServiceAccount: top({
    secrets: opt(z.array(anything)),
    imagePullSecrets: opt(z.array(anything)),
    automountServiceAccountToken: opt(bool),
  }),
  Service: top(service),
  EndpointSlice: top(endpointSlice),
};

// ---------------------------------------------------------------- zod issues → our issues

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  if (Array.isArray(v)) return "list";
  if (typeof v === "object") return "mapping";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function valueAt(root: unknown, path: IssuePath): unknown {
  let cur: unknown = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

interface ZodDef {
  type: string;
  shape?: Record<string, { _zod: { def: ZodDef } }>;
  element?: { _zod: { def: ZodDef } };
  innerType?: { _zod: { def: ZodDef } };
  options?: Array<{ _zod: { def: ZodDef } }>;
  valueType?: { _zod: { def: ZodDef } };
}

function defOf(s: Schema): ZodDef {
  return (s as unknown as { _zod: { def: ZodDef } })._zod.def;
}

/** The field names an object schema at `path` knows, for "did you mean" hints. */
function knownKeysAt(schema: Schema, path: IssuePath): string[] {
  let def = defOf(schema);
  const unwrap = () => {
    while (def.innerType) def = def.innerType._zod.def;
  };
  unwrap();
  for (const seg of path) {
    if (def.type === "object" && def.shape && typeof seg === "string" && def.shape[seg]) def = def.shape[seg]._zod.def;
    else if (def.type === "array" && def.element) def = def.element._zod.def;
    else if (def.type === "record" && def.valueType) def = def.valueType._zod.def;
    else return [];
    unwrap();
  }
  return def.type === "object" && def.shape ? Object.keys(def.shape) : [];
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}

/** Common misplacements, keyed by "<parent field>.<unknown field>". */
const PLACEMENT_HINTS: Record<string, string> = {
  "rule.ports": "ports belong under source or destination",
  "rule.notPorts": "notPorts belong under source or destination",
  "rule.nets": "nets belong under source or destination",
  "rule.selector": "selector belongs under source or destination",
  "rule.namespaceSelector": "namespaceSelector belongs under source or destination",
  "entity.protocol": "protocol belongs on the rule, next to action",
  "entity.action": "action belongs on the rule, not under source/destination",
  "metadata.tier": "tier belongs in spec",
  "top.selector": "selector belongs in spec",
  "top.ingress": "ingress belongs in spec",
  "top.egress": "egress belongs in spec",
};

function suggest(schema: Schema, parent: IssuePath, key: string): string {
  const known = knownKeysAt(schema, parent);
  const last = parent[parent.length - 1];
  const ctx =
    parent.length === 0
      ? "top"
      : last === "metadata"
        ? "metadata"
        : last === "source" || last === "destination"
          ? "entity"
          : typeof last === "number" && (parent[parent.length - 2] === "ingress" || parent[parent.length - 2] === "egress")
            ? "rule"
            : "";
  const hint = PLACEMENT_HINTS[`${ctx}.${key}`];
  if (hint) return ` (${hint})`;
  const exact = known.find((k) => k.toLowerCase() === key.toLowerCase());
  if (exact) return ` (did you mean "${exact}"? field names are case-sensitive)`;
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(k.toLowerCase(), key.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  if (best && bestD <= Math.max(1, Math.floor(key.length / 4))) return ` (did you mean "${best}"?)`;
  return "";
}

function expectedText(e: string): string {
  if (e === "int") return "integer";
  if (e === "object") return "mapping";
  if (e === "array") return "list";
  return e;
}

function quoteHint(expected: string, got: unknown): string {
  if (expected === "string" && typeof got === "boolean")
    return "; YAML reads unquoted true/false/yes/no/on/off/y/n as booleans, so quote the value";
  if (expected === "string" && typeof got === "number") return "; quote the value to make it a string";
  return "";
}

interface ZodIssueLike {
  code: string;
  path: PropertyKey[];
  expected?: string;
  keys?: string[];
  errors?: ZodIssueLike[][];
}

function unionExpected(iss: ZodIssueLike): string[] {
  const out = new Set<string>();
  for (const branch of iss.errors ?? []) for (const b of branch) if (b.expected) out.add(expectedText(b.expected));
  return [...out];
}

/** Checks the JSON structure of a resource of a known kind. */
export function checkStructure(kind: KindId, obj: unknown): Issue[] {
  const schema = SCHEMAS[kind];
  const res = schema.safeParse(obj);
  if (res.success) return [];
  const out: Issue[] = [];
  for (const raw of res.error.issues as unknown as ZodIssueLike[]) {
    const path = raw.path.filter((p): p is string | number => typeof p !== "symbol");
    const got = valueAt(obj, path);
    switch (raw.code) {
      case "unrecognized_keys":
        for (const key of raw.keys ?? []) {
          out.push({
            code: "unknown-field",
            path: [...path, key],
            severity: "error",
            message: `unknown field "${key}"${suggest(schema, path, key)}`,
          });
        }
        break;
      case "invalid_type":
        if (typeof got === "number" && !Number.isFinite(got) && raw.expected === "number") {
          // Reported by the value checks (e.g. invalid-order) with a better message.
          break;
        }
        if (got === undefined) {
          out.push({
            code: "required",
            path,
            severity: "error",
            message: `missing required field "${String(path[path.length - 1] ?? "")}"`,
          });
        } else {
          const exp = expectedText(raw.expected ?? "");
          out.push({
            code: "invalid-type",
            path,
            severity: "error",
            message: `expected ${exp}, got ${typeName(got)}${quoteHint(exp, got)}`,
          });
        }
        break;
      case "invalid_union": {
        const exp = unionExpected(raw);
        out.push({
          code: "invalid-type",
          path,
          severity: "error",
          message: `expected ${exp.length > 0 ? exp.join(" or ") : "another type"}, got ${typeName(got)}`,
        });
        break;
      }
      default:
        out.push({ code: "invalid-type", path, severity: "error", message: `invalid value (${raw.code})` });
    }
  }
  return out;
}
