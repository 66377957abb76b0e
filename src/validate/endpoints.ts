/**
 * Endpoints and network sets: HostEndpoint, WorkloadEndpoint, NetworkSet, GlobalNetworkSet
 * (SEMANTICS §5.4, §6; VAL validateHostEndpointSpec, validateWorkloadEndpointSpec,
 * validate(Global)NetworkSet, validateEndpointPort / validateWorkloadEndpointPort).
 */
import type { IssuePath } from "../model/index.js";
import { parseAddr, parseCidr } from "../rule/index.js";
import { arr, num, obj, quote, str, type Obj, type Report } from "./check-util.js";
import { dns1123SubdomainProblem } from "./names.js";
import { portNameProblem, protocolProblem, supportsPorts } from "./ports.js";

const INTERFACE_NAME = /^[a-zA-Z0-9_.-]{1,15}$/;
const CONTAINER_ID = /^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
export const LABEL_NAMESPACE = "projectcalico.org/namespace";

/** (Global)NetworkSet nets: any CIDR or bare address; host bits are allowed (cnet.ParseCIDROrIP). */
export function checkNetworkSet(res: Obj, report: Report): void {
  const spec = obj(res.spec) ?? {};
  arr(spec.nets).forEach((n, i) => {
    if (typeof n === "string" && !parseCidr(n))
      report("invalid-cidr", ["spec", "nets", i], `${quote(n)} is not a valid CIDR or IP address`);
  });
  const labels = obj(obj(res.metadata)?.labels);
  if (labels && LABEL_NAMESPACE in labels) {
    report(
      "reserved-label",
      ["metadata", "labels", LABEL_NAMESPACE],
      `${LABEL_NAMESPACE} is set by Calico and cannot be used as a label here`,
    );
  }
}

function checkNameField(value: unknown, path: IssuePath, what: string, report: Report): void {
  const s = str(value);
  if (s === undefined || s === "") return;
  const p = dns1123SubdomainProblem(s);
  if (p) report("invalid-name", path, `invalid ${what} ${quote(s)}: it ${p}`);
}

function checkInterfaceName(value: unknown, path: IssuePath, allowStar: boolean, report: Report): void {
  const s = str(value);
  if (s === undefined) return;
  if (allowStar && s === "*") return;
  if (!INTERFACE_NAME.test(s)) {
    report(
      "invalid-interface",
      path,
      s === ""
        ? "interfaceName must not be empty"
        : `invalid interface name ${quote(s)}: use 1-15 letters, digits, '_', '.' or '-'${allowStar ? ', or "*" for all interfaces' : ""}`,
    );
  }
}

function checkEndpointPortCommon(p: Obj, path: IssuePath, report: Report): void {
  if (typeof p.protocol === "string" || (typeof p.protocol === "number" && Number.isInteger(p.protocol))) {
    const prob = protocolProblem(p.protocol);
    if (prob) report("invalid-protocol", [...path, "protocol"], prob);
    else if (!supportsPorts(p.protocol))
      report("invalid-protocol", [...path, "protocol"], `endpoint ports need protocol TCP, UDP or SCTP, not ${quote(p.protocol)}`);
  }
  const port = num(p.port);
  if (port !== undefined && (port < 1 || port > 65535))
    report("invalid-port", [...path, "port"], `port ${port} is out of range 1-65535`);
}

export function checkHostEndpoint(res: Obj, report: Report): void {
  const spec = obj(res.spec) ?? {};
  const node = str(spec.node);
  if (!node) report("required", ["spec", "node"], "a HostEndpoint must name its node (spec.node)");
  else checkNameField(node, ["spec", "node"], "node name", report);
  const iface = str(spec.interfaceName);
  const ips = arr(spec.expectedIPs);
  if (!iface && ips.length === 0) {
    report("hep-no-interface", ["spec"], "a HostEndpoint needs interfaceName or expectedIPs (or both)");
  }
  if (iface) checkInterfaceName(iface, ["spec", "interfaceName"], true, report);
  ips.forEach((ip, i) => {
    if (typeof ip === "string" && !parseAddr(ip))
      report("invalid-ip", ["spec", "expectedIPs", i], `${quote(ip)} is not an IP address`);
  });
  arr(spec.profiles).forEach((p, i) => checkNameField(p, ["spec", "profiles", i], "profile name", report));
  arr(spec.ports).forEach((pv, i) => {
    const p = obj(pv);
    if (!p) return;
    const path: IssuePath = ["spec", "ports", i];
    const name = str(p.name);
    if (name !== undefined) {
      const prob = name === "" ? "a port name must not be empty" : portNameProblem(name);
      if (prob) report("invalid-port", [...path, "name"], prob);
    }
    checkEndpointPortCommon(p, path, report);
  });
}

const MAC = /^([0-9A-Fa-f]{2}([:-]))([0-9A-Fa-f]{2}\2){4}[0-9A-Fa-f]{2}$|^([0-9A-Fa-f]{2}([:-]))([0-9A-Fa-f]{2}\5){6}[0-9A-Fa-f]{2}$|^([0-9A-Fa-f]{2}([:-]))([0-9A-Fa-f]{2}\8){18}[0-9A-Fa-f]{2}$|^([0-9A-Fa-f]{4}\.){2}[0-9A-Fa-f]{4}$|^([0-9A-Fa-f]{4}\.){3}[0-9A-Fa-f]{4}$|^([0-9A-Fa-f]{4}\.){9}[0-9A-Fa-f]{4}$/;

export function checkWorkloadEndpoint(res: Obj, report: Report): void {
  const spec = obj(res.spec) ?? {};
  for (const f of ["orchestrator", "workload", "node", "pod", "endpoint", "serviceAccountName"]) {
    checkNameField(spec[f], ["spec", f], f, report);
  }
  const cid = str(spec.containerID);
  if (cid && !CONTAINER_ID.test(cid)) report("invalid-name", ["spec", "containerID"], `invalid containerID ${quote(cid)}`);

  const nets: Array<ReturnType<typeof parseCidr>> = [];
  arr(spec.ipNetworks).forEach((n, i) => {
    if (typeof n !== "string") return;
    const c = parseCidr(n);
    const p: IssuePath = ["spec", "ipNetworks", i];
    if (!c) report("invalid-cidr", p, `${quote(n)} is not a valid CIDR or IP address`);
    else if (c.hadHostBits) report("cidr-host-bits", p, `${quote(n)} has host bits set`);
    else if (c.prefix !== (c.family === 4 ? 32 : 128))
      report("invalid-cidr", p, `${quote(n)} holds several addresses; workload ipNetworks must be single addresses (/32 or /128)`);
    nets.push(c);
  });
  for (const [f, fam] of [
    ["ipv4Gateway", 4],
    ["ipv6Gateway", 6],
  ] as const) {
    const g = str(spec[f]);
    if (g === undefined || g === "") continue;
    const a = parseAddr(g);
    if (!a || a.family !== fam) report("invalid-ip", ["spec", f], `${quote(g)} is not an IPv${fam} address`);
  }
  arr(spec.profiles).forEach((p, i) => checkNameField(p, ["spec", "profiles", i], "profile name", report));
  checkInterfaceName(spec.interfaceName ?? "", ["spec", "interfaceName"], false, report);
  const mac = str(spec.mac);
  if (mac && !MAC.test(mac)) report("invalid-mac", ["spec", "mac"], `${quote(mac)} is not a MAC address`);
  arr(spec.ports).forEach((pv, i) => {
    const p = obj(pv);
    if (!p) return;
    const path: IssuePath = ["spec", "ports", i];
    const name = str(p.name) ?? "";
    if (name !== "") {
      const prob = portNameProblem(name);
      if (prob) report("invalid-port", [...path, "name"], prob);
    } else if (!num(p.hostPort)) {
      report("invalid-port", [...path, "name"], "a workload port needs a name unless it has a hostPort");
    }
    checkEndpointPortCommon(p, path, report);
    const hp = num(p.hostPort);
    if (hp !== undefined && (hp < 0 || hp > 65535)) report("invalid-port", [...path, "hostPort"], `hostPort ${hp} is out of range 0-65535`);
    const hip = str(p.hostIP);
    if (hip) {
      const c = parseCidr(hip);
      if (!c || c.hadHostBits) report("invalid-ip", [...path, "hostIP"], `${quote(hip)} is not an IP address`);
    }
  });
  arr(spec.ipNATs).forEach((nv, i) => {
    const nat = obj(nv);
    if (!nat) return;
    const path: IssuePath = ["spec", "ipNATs", i];
    const int = str(nat.internalIP) !== undefined ? parseAddr(str(nat.internalIP)!) : undefined;
    const ext = str(nat.externalIP) !== undefined ? parseAddr(str(nat.externalIP)!) : undefined;
    if (!int) report("invalid-ip", [...path, "internalIP"], "internalIP must be an IP address");
    if (!ext) report("invalid-ip", [...path, "externalIP"], "externalIP must be an IP address");
    if (int && ext && int.family !== ext.family)
      report("invalid-ip", path, "internalIP and externalIP must be of the same IP version");
    if (int && !nets.some((c) => c && c.family === int.family && c.base === int.value))
      report("invalid-ip", [...path, "internalIP"], "a NAT's internalIP must be one of the endpoint's ipNetworks");
  });
  arr(spec.allowSpoofedSourcePrefixes).forEach((n, i) => {
    if (typeof n === "string" && !parseCidr(n))
      report("invalid-cidr", ["spec", "allowSpoofedSourcePrefixes", i], `${quote(n)} is not a valid CIDR`);
  });
}
