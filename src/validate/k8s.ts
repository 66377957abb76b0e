/**
 * Kubernetes kinds, judged as the API server would (k8s.io/kubernetes pkg/apis/networking and
 * core validation, apimachinery label-selector validation): networking.k8s.io/v1 NetworkPolicy in
 * full, and the parts of Namespace, Pod, ServiceAccount, Service and EndpointSlice that tortie
 * reads (names, labels, ports, addresses).
 *
 * StagedKubernetesNetworkPolicy gets the NetworkPolicy checks too: Calico validates it by
 * converting it to a Calico policy, which fails on the same bad ports and peers.
 */
import type { IssuePath } from "../model/index.js";
import { cidrContains, parseAddr, parseCidr } from "../rule/index.js";
import { arr, num, obj, quote, str, type Obj, type Report } from "./check-util.js";
import { checkLabels, labelValueProblem, qualifiedNameProblem } from "./labels.js";
import { dns1123LabelProblem, dns1123SubdomainProblem } from "./names.js";
import { checkStagedAction, checkStagedDeleteEmpty } from "./policy.js";
import { K8S_PROTOCOLS, portNameProblem } from "./ports.js";

const SELECTOR_OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist"] as const;

/** metav1 LabelSelector validation. */
export function checkLabelSelector(value: unknown, path: IssuePath, report: Report): void {
  const sel = obj(value);
  if (!sel) return;
  checkLabels(sel.matchLabels, [...path, "matchLabels"], report);
  arr(sel.matchExpressions).forEach((ev, i) => {
    const e = obj(ev);
    if (!e) return;
    const ep: IssuePath = [...path, "matchExpressions", i];
    const key = str(e.key);
    if (key !== undefined) {
      const p = qualifiedNameProblem(key);
      if (p) report("invalid-label-selector", [...ep, "key"], `invalid label key ${quote(key)}: ${p}`);
    }
    const op = str(e.operator);
    const values = arr(e.values);
    if (op === "In" || op === "NotIn") {
      if (values.length === 0) report("invalid-label-selector", [...ep, "values"], `operator ${op} needs at least one value`);
    } else if (op === "Exists" || op === "DoesNotExist") {
      if (values.length > 0) report("invalid-label-selector", [...ep, "values"], `operator ${op} takes no values`);
    } else if (op !== undefined) {
      const ci = SELECTOR_OPERATORS.find((o) => o.toLowerCase() === op.toLowerCase());
      report(
        "invalid-label-selector",
        [...ep, "operator"],
        ci ? `operators are case-sensitive: use ${quote(ci)}` : `invalid operator ${quote(op)}; use one of ${SELECTOR_OPERATORS.join(", ")}`,
      );
    }
    values.forEach((v, j) => {
      if (typeof v !== "string") return;
      const p = labelValueProblem(v);
      if (p) report("invalid-label-selector", [...ep, "values", j], `invalid label value ${quote(v)}: ${p}`);
    });
  });
}

function checkK8sProtocol(value: unknown, path: IssuePath, report: Report): void {
  if (typeof value !== "string") return;
  if ((K8S_PROTOCOLS as readonly string[]).includes(value)) return;
  const ci = K8S_PROTOCOLS.find((p) => p.toLowerCase() === value.toLowerCase());
  report(
    "invalid-protocol",
    path,
    ci ? `protocol is case-sensitive: use ${quote(ci)}` : `unsupported protocol ${quote(value)}; use TCP, UDP or SCTP`,
  );
}

function portNumProblem(n: number): string | undefined {
  return n < 1 || n > 65535 ? `port ${n} is out of range 1-65535` : undefined;
}

function checkNetworkPolicyPort(value: unknown, path: IssuePath, report: Report): void {
  const p = obj(value);
  if (!p) return;
  checkK8sProtocol(p.protocol, [...path, "protocol"], report);
  const port = p.port;
  const endPort = num(p.endPort);
  if (typeof port === "number") {
    const prob = portNumProblem(port);
    if (prob) report("invalid-port", [...path, "port"], prob);
    if (endPort !== undefined) {
      if (endPort < port) report("invalid-port", [...path, "endPort"], `endPort ${endPort} must be greater than or equal to port ${port}`);
      const ep = portNumProblem(endPort);
      if (ep) report("invalid-port", [...path, "endPort"], ep.replace(/^port/, "endPort"));
    }
  } else if (typeof port === "string") {
    if (endPort !== undefined) report("invalid-port", [...path, "endPort"], "endPort may not be given when port is a name");
    const prob = portNameProblem(port);
    if (prob)
      report(
        "invalid-port",
        [...path, "port"],
        /^[0-9]+$/.test(port) ? `port ${quote(port)} is a string; write it as a number (no quotes)` : `invalid port name ${quote(port)}: ${prob}`,
      );
  } else if (endPort !== undefined) {
    report("invalid-port", [...path, "endPort"], "endPort may not be given without port");
  }
}

function checkIPBlock(value: unknown, path: IssuePath, report: Report): void {
  const b = obj(value);
  if (!b) return;
  const cidrText = str(b.cidr);
  if (cidrText === undefined) return;
  if (cidrText === "") {
    report("invalid-ipblock", [...path, "cidr"], "ipBlock.cidr must not be empty");
    return;
  }
  const cidr = parseCidr(cidrText);
  if (!cidr || cidr.bare) {
    report("invalid-ipblock", [...path, "cidr"], `${quote(cidrText)} is not a valid CIDR (e.g. 10.0.0.0/8)`);
    return;
  }
  arr(b.except).forEach((ev, i) => {
    if (typeof ev !== "string") return;
    const ep: IssuePath = [...path, "except", i];
    const ex = parseCidr(ev);
    if (!ex || ex.bare) {
      report("invalid-ipblock", ep, `${quote(ev)} is not a valid CIDR`);
      return;
    }
    if (!(ex.family === cidr.family && ex.prefix > cidr.prefix && cidrContains(cidr, { family: ex.family, value: ex.base }))) {
      report("invalid-ipblock", ep, `except ${quote(ev)} must be a strict subset of cidr ${quote(cidrText)}`);
    }
  });
}

function checkPeer(value: unknown, path: IssuePath, report: Report): void {
  const peer = obj(value);
  if (!peer) return;
  let n = 0;
  if (peer.podSelector !== undefined) {
    n++;
    checkLabelSelector(peer.podSelector, [...path, "podSelector"], report);
  }
  if (peer.namespaceSelector !== undefined) {
    n++;
    checkLabelSelector(peer.namespaceSelector, [...path, "namespaceSelector"], report);
  }
  if (peer.ipBlock !== undefined) {
    n++;
    checkIPBlock(peer.ipBlock, [...path, "ipBlock"], report);
  }
  if (n === 0) report("invalid-peer", path, "a peer must give podSelector, namespaceSelector or ipBlock");
  else if (n > 1 && peer.ipBlock !== undefined)
    report("invalid-peer", path, "ipBlock cannot be combined with podSelector or namespaceSelector in one peer; use two peers");
}

/** The spec of networking.k8s.io/v1 NetworkPolicy (also StagedKubernetesNetworkPolicy). */
export function checkK8sNetworkPolicy(res: Obj, staged: boolean, report: Report): void {
  const spec = obj(res.spec) ?? {};
  if (staged) {
    const action = checkStagedAction(spec, report);
    if (action === "Delete") {
      checkStagedDeleteEmpty(spec, ["stagedAction"], report, (k) => `with stagedAction Delete the spec must be empty; remove ${k}`);
      return;
    }
  }
  checkLabelSelector(spec.podSelector, ["spec", "podSelector"], report);
  for (const dir of ["ingress", "egress"] as const) {
    const peersKey = dir === "ingress" ? "from" : "to";
    arr(spec[dir]).forEach((rv, i) => {
      const r = obj(rv);
      if (!r) return;
      arr(r.ports).forEach((p, j) => checkNetworkPolicyPort(p, ["spec", dir, i, "ports", j], report));
      arr(r[peersKey]).forEach((p, j) => checkPeer(p, ["spec", dir, i, peersKey, j], report));
    });
  }
  const types = arr(spec.policyTypes);
  if (types.length > 2) {
    report("invalid-policy-types", ["spec", "policyTypes"], "policyTypes may list at most two types (Ingress, Egress)");
    return;
  }
  types.forEach((t, i) => {
    if (typeof t === "string" && t !== "Ingress" && t !== "Egress")
      report("invalid-policy-types", ["spec", "policyTypes", i], `invalid policy type ${quote(t)}; use Ingress or Egress`);
  });
}

// ---------------------------------------------------------------- core kinds

function checkIP(value: unknown, path: IssuePath, report: Report): ReturnType<typeof parseAddr> {
  const s = str(value);
  if (s === undefined || s === "") return undefined;
  const a = parseAddr(s);
  if (!a) report("invalid-ip", path, `${quote(s)} is not an IP address`);
  return a;
}

export function checkPod(res: Obj, report: Report): void {
  const spec = obj(res.spec);
  if (spec) {
    const nodeName = str(spec.nodeName);
    if (nodeName) {
      const p = dns1123SubdomainProblem(nodeName);
      if (p) report("invalid-name", ["spec", "nodeName"], `invalid node name ${quote(nodeName)}: it ${p}`);
    }
    const sa = str(spec.serviceAccountName);
    if (sa) {
      const p = dns1123SubdomainProblem(sa);
      if (p) report("invalid-name", ["spec", "serviceAccountName"], `invalid service account name ${quote(sa)}: it ${p}`);
    }
    const containers = arr(spec.containers);
    if (spec.containers === undefined || containers.length === 0)
      report("required", ["spec", "containers"], "a Pod needs at least one container");
    const containerNames = new Set<string>();
    containers.forEach((cv, i) => {
      const c = obj(cv);
      if (!c) return;
      const cp: IssuePath = ["spec", "containers", i];
      const name = str(c.name);
      if (name !== undefined) {
        const p = dns1123LabelProblem(name);
        if (p) report("invalid-name", [...cp, "name"], `invalid container name ${quote(name)}: it ${p}`);
        if (containerNames.has(name)) report("duplicate-value", [...cp, "name"], `container name ${quote(name)} is used twice`);
        containerNames.add(name);
      }
      const portNames = new Set<string>();
      arr(c.ports).forEach((pv, j) => {
        const p = obj(pv);
        if (!p) return;
        const pp: IssuePath = [...cp, "ports", j];
        const n = num(p.containerPort);
        if (n !== undefined && portNumProblem(n)) report("invalid-port", [...pp, "containerPort"], portNumProblem(n)!);
        const hp = num(p.hostPort);
        if (hp !== undefined && hp !== 0 && portNumProblem(hp)) report("invalid-port", [...pp, "hostPort"], portNumProblem(hp)!);
        checkK8sProtocol(p.protocol, [...pp, "protocol"], report);
        const pn = str(p.name);
        if (pn !== undefined && pn !== "") {
          const prob = portNameProblem(pn);
          if (prob) report("invalid-port", [...pp, "name"], `invalid port name ${quote(pn)}: ${prob}`);
          if (portNames.has(pn)) report("duplicate-value", [...pp, "name"], `port name ${quote(pn)} is used twice in this container`);
          portNames.add(pn);
        }
      });
    });
  }
  const status = obj(res.status);
  if (status) {
    const podIP = checkIP(status.podIP, ["status", "podIP"], report);
    const ips = arr(status.podIPs);
    const fams = new Set<number>();
    ips.forEach((iv, i) => {
      const a = checkIP(obj(iv)?.ip, ["status", "podIPs", i, "ip"], report);
      if (!a) return;
      if (fams.has(a.family)) report("invalid-ip", ["status", "podIPs", i], "podIPs may hold at most one address per IP family");
      fams.add(a.family);
    });
    if (ips.length > 2) report("invalid-ip", ["status", "podIPs"], "podIPs may hold at most two addresses (one IPv4, one IPv6)");
    const first = parseAddr(str(obj(ips[0])?.ip) ?? "");
    if (podIP && first && (podIP.family !== first.family || podIP.value !== first.value))
      report("invalid-ip", ["status", "podIPs", 0, "ip"], "podIPs[0] must be the same address as podIP");
  }
}

export function checkService(res: Obj, report: Report): void {
  const spec = obj(res.spec);
  if (!spec) return;
  checkLabels(spec.selector, ["spec", "selector"], report);
  const ports = arr(spec.ports);
  const names = new Set<string>();
  ports.forEach((pv, i) => {
    const p = obj(pv);
    if (!p) return;
    const pp: IssuePath = ["spec", "ports", i];
    const name = str(p.name);
    if (ports.length > 1 && !name) report("required", [...pp, "name"], "ports need names when a Service has more than one");
    if (name) {
      const prob = dns1123LabelProblem(name);
      if (prob) report("invalid-port", [...pp, "name"], `invalid port name ${quote(name)}: it ${prob}`);
      if (names.has(name)) report("duplicate-value", [...pp, "name"], `port name ${quote(name)} is used twice`);
      names.add(name);
    }
    const n = num(p.port);
    if (n !== undefined && portNumProblem(n)) report("invalid-port", [...pp, "port"], portNumProblem(n)!);
    checkK8sProtocol(p.protocol, [...pp, "protocol"], report);
    const tp = p.targetPort;
    if (typeof tp === "number" && portNumProblem(tp)) report("invalid-port", [...pp, "targetPort"], portNumProblem(tp)!);
    if (typeof tp === "string") {
      const prob = portNameProblem(tp);
      if (prob) report("invalid-port", [...pp, "targetPort"], `invalid targetPort ${quote(tp)}: ${prob}`);
    }
  });
  const cip = str(spec.clusterIP);
  if (cip && cip !== "None") checkIP(cip, ["spec", "clusterIP"], report);
  arr(spec.clusterIPs).forEach((c, i) => {
    if (c !== "None") checkIP(c, ["spec", "clusterIPs", i], report);
  });
}

const ADDRESS_TYPES = ["IPv4", "IPv6", "FQDN"] as const;

export function checkEndpointSlice(res: Obj, report: Report): void {
  const at = str(res.addressType);
  if (at !== undefined && !(ADDRESS_TYPES as readonly string[]).includes(at))
    report("invalid-value", ["addressType"], `addressType must be IPv4, IPv6 or FQDN, not ${quote(at)}`);
  arr(res.endpoints).forEach((ev, i) => {
    const e = obj(ev);
    if (!e) return;
    const addrs = arr(e.addresses);
    if (e.addresses !== undefined && (addrs.length < 1 || addrs.length > 100))
      report("invalid-value", ["endpoints", i, "addresses"], "an endpoint must have 1 to 100 addresses");
    addrs.forEach((av, j) => {
      if (typeof av !== "string") return;
      const p: IssuePath = ["endpoints", i, "addresses", j];
      if (at === "FQDN") {
        const prob = dns1123SubdomainProblem(av);
        if (prob) report("invalid-value", p, `invalid FQDN ${quote(av)}: it ${prob}`);
        return;
      }
      const a = parseAddr(av);
      if (!a) report("invalid-ip", p, `${quote(av)} is not an IP address`);
      else if (at && a.family !== (at === "IPv4" ? 4 : 6)) report("invalid-ip", p, `${quote(av)} is not an ${at} address`);
    });
  });
  arr(res.ports).forEach((pv, i) => {
    const p = obj(pv);
    if (!p) return;
    const n = num(p.port);
    if (n !== undefined && (n < 0 || n > 65535)) report("invalid-port", ["ports", i, "port"], `port ${n} is out of range 0-65535`);
    checkK8sProtocol(p.protocol, ["ports", i, "protocol"], report);
    const name = str(p.name);
    if (name) {
      const prob = dns1123LabelProblem(name);
      if (prob) report("invalid-port", ["ports", i, "name"], `invalid port name ${quote(name)}: it ${prob}`);
    }
  });
}
