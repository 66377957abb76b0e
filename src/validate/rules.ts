/**
 * Calico Rule and EntityRule validation (SEMANTICS §3.3, §5.4; VAL validateRule /
 * validateEntityRule and the v3.32 CEL rules on Rule and EntityRule in API policy_common.go).
 * The same checks apply to policy, staged policy and Profile rules; the few that depend on the
 * direction or on the policy being global take a RuleContext.
 */
import type { IssuePath } from "../model/index.js";
import { formatCidr, parseCidr } from "../rule/index.js";
import { arr, num, obj, quote, str, type Obj, type Report } from "./check-util.js";
import { checkAnnotations } from "./labels.js";
import { dns1123SubdomainProblem } from "./names.js";
import {
  isIcmpV4,
  isIcmpV6,
  isTcp,
  parseCalicoPort,
  protocolProblem,
  supportsPorts,
} from "./ports.js";
import { checkSelector } from "./selectors.js";

export const ACTIONS = ["Allow", "Deny", "Log", "Pass"] as const;

export interface RuleContext {
  direction: "ingress" | "egress";
  /** GlobalNetworkPolicy (and staged): services need an explicit namespace. */
  global: boolean;
  /** Policy kinds forbid HTTP in egress rules and services in the wrong place; profiles do not. */
  policy: boolean;
}

export const MAX_RULES = 1024;
const MAX_NETS = 256;
const MAX_PORTS = 50;
const MAX_HTTP_ITEMS = 20;
const MAX_HTTP_PATH = 1024;

export function checkRules(rules: unknown, path: IssuePath, ctx: RuleContext, report: Report): void {
  const list = arr(rules);
  if (list.length > MAX_RULES) {
    report("too-many", path, `${list.length} ${ctx.direction} rules; at most ${MAX_RULES} are allowed`);
  }
  list.forEach((r, i) => checkRule(r, [...path, i], ctx, report));
}

export function checkRule(value: unknown, path: IssuePath, ctx: RuleContext, report: Report): void {
  const rule = obj(value);
  if (!rule) return;
  checkAction(rule.action, [...path, "action"], report);

  const ipVersion = rule.ipVersion;
  if (typeof ipVersion === "number" && ipVersion !== 4 && ipVersion !== 6) {
    report("invalid-ip-version", [...path, "ipVersion"], `ipVersion must be 4 or 6, not ${ipVersion}`);
  }
  const v = ipVersion === 4 || ipVersion === 6 ? ipVersion : undefined;

  for (const f of ["protocol", "notProtocol"] as const) {
    if (!isWellTyped(rule[f])) continue; // a wrong type was reported by the structure check
    const p = protocolProblem(rule[f]);
    if (p) report("invalid-protocol", [...path, f], p);
  }

  // ICMP fields.
  for (const f of ["icmp", "notICMP"] as const) checkIcmpFields(rule[f], [...path, f], report);
  if (rule.icmp !== undefined && !(isIcmpV4(rule.protocol) || isIcmpV6(rule.protocol))) {
    report("icmp-needs-protocol", [...path, "icmp"], "icmp matches need protocol ICMP or ICMPv6 (or 1/58) on the rule");
  }
  for (const f of ["protocol", "notProtocol"] as const) {
    if (isIcmpV4(rule[f]) && v === 6) {
      report("icmp-ip-version", [...path, "ipVersion"], `${f} ICMP is IPv4-only but the rule has ipVersion 6; use ICMPv6`);
    }
    if (isIcmpV6(rule[f]) && v === 4) {
      report("icmp-ip-version", [...path, "ipVersion"], `${f} ICMPv6 is IPv6-only but the rule has ipVersion 4; use ICMP`);
    }
  }

  // Ports need a protocol that has ports.
  const protocolSet = rule.protocol !== undefined;
  const portsOk = supportsPorts(rule.protocol);
  for (const side of ["source", "destination"] as const) {
    const ent = obj(rule[side]);
    if (!ent) continue;
    for (const f of ["ports", "notPorts"] as const) {
      const ports = arr(ent[f]);
      const fp = [...path, side, f];
      if (ports.length > MAX_PORTS) report("too-many", fp, `${ports.length} ${f}; at most ${MAX_PORTS} are allowed`);
      let numeric = false;
      ports.forEach((p, i) => {
        if (!isWellTyped(p)) return;
        const r = parseCalicoPort(p);
        if (!r.ok) report("invalid-port", [...fp, i], r.reason);
        else if (r.port.kind === "range") numeric = true;
        if (typeof p === "number" || (typeof p === "string" && /^[0-9:]+$/.test(p))) numeric = true;
      });
      if (ports.length === 0) continue;
      if (!protocolSet) {
        // v3.32: a list of only named ports may omit the protocol (each endpoint port has one).
        if (numeric)
          report(
            "ports-need-protocol",
            fp,
            `${side}.${f} with port numbers or ranges need protocol TCP, UDP or SCTP on the rule`,
          );
      } else if (!portsOk) {
        report(
          "ports-need-protocol",
          fp,
          `${side}.${f} need protocol TCP, UDP or SCTP; protocol ${quote(rule.protocol)} has no ports`,
        );
      }
    }
  }

  checkNets(rule, path, v, report);

  for (const side of ["source", "destination"] as const) {
    checkEntityRule(rule[side], [...path, side], report);
  }
  checkServicesPlacement(rule, path, ctx, report);
  checkHttp(rule, path, ctx, report);

  const meta = obj(rule.metadata);
  if (meta) checkAnnotations(meta.annotations, [...path, "metadata", "annotations"], report);
}

/** An int-or-string field holding an integer or a string (other values are type errors). */
function isWellTyped(v: unknown): v is number | string {
  return typeof v === "string" || (typeof v === "number" && Number.isInteger(v));
}

export function checkAction(action: unknown, path: IssuePath, report: Report): void {
  if (typeof action !== "string") return;
  if ((ACTIONS as readonly string[]).includes(action)) return;
  const ci = ACTIONS.find((a) => a.toLowerCase() === action.toLowerCase());
  report(
    "invalid-action",
    path,
    ci
      ? `action is case-sensitive: use ${quote(ci)}, not ${quote(action)}`
      : `invalid action ${quote(action)}; use one of ${ACTIONS.join(", ")}`,
  );
}

function checkIcmpFields(value: unknown, path: IssuePath, report: Report): void {
  const icmp = obj(value);
  if (!icmp) return;
  const type = num(icmp.type);
  const code = num(icmp.code);
  if (type !== undefined && (type < 0 || type > 254))
    report("invalid-icmp", [...path, "type"], `ICMP type ${type} is out of range 0-254`);
  if (code !== undefined && (code < 0 || code > 255))
    report("invalid-icmp", [...path, "code"], `ICMP code ${code} is out of range 0-255`);
  if (icmp.code !== undefined && icmp.type === undefined)
    report("invalid-icmp", [...path, "code"], "an ICMP code needs an ICMP type as well");
}

function checkNets(rule: Obj, path: IssuePath, ipVersion: 4 | 6 | undefined, report: Report): void {
  let seenV4 = false;
  let seenV6 = false;
  for (const side of ["source", "destination"] as const) {
    const ent = obj(rule[side]);
    if (!ent) continue;
    for (const f of ["nets", "notNets"] as const) {
      const nets = arr(ent[f]);
      const fp = [...path, side, f];
      if (nets.length > MAX_NETS) report("too-many", fp, `${nets.length} ${f}; at most ${MAX_NETS} are allowed`);
      let v4 = false;
      let v6 = false;
      const seen = new Set<string>();
      nets.forEach((n, i) => {
        if (typeof n !== "string") return;
        const c = parseCidr(n);
        if (!c) {
          report("invalid-cidr", [...fp, i], `${quote(n)} is not a valid CIDR`);
          return;
        }
        if (c.bare) {
          report(
            "invalid-cidr",
            [...fp, i],
            `${quote(n)} is an address, not a CIDR; rule nets need a prefix length (${n}/${c.family === 4 ? 32 : 128})`,
          );
          return;
        }
        if (c.hadHostBits) {
          report("cidr-host-bits", [...fp, i], `${quote(n)} has host bits set; did you mean ${maskedText(n)}?`);
          return;
        }
        if (c.family === 4) v4 = true;
        else v6 = true;
        if (f === "notNets" && c.prefix === 0) {
          report(
            "negated-catch-all",
            [...fp, i],
            `notNets ${quote(n)} excludes every address, so the rule could never match`,
          );
        }
        if (seen.has(`${c.family}/${c.base}/${c.prefix}`)) {
          report("duplicate-value", [...fp, i], `${quote(n)} is listed twice`, "warning");
        }
        seen.add(`${c.family}/${c.base}/${c.prefix}`);
      });
      if (ipVersion !== undefined && ((v4 && ipVersion !== 4) || (v6 && ipVersion !== 6))) {
        report("ip-version-mismatch", fp, `the rule has ipVersion ${ipVersion} but ${side}.${f} has IPv${ipVersion === 4 ? 6 : 4} CIDRs`);
      }
      if ((v4 && seenV6) || (v6 && seenV4) || (v4 && v6)) {
        report("mixed-ip-versions", fp, "a rule cannot mix IPv4 and IPv6 CIDRs; split it into one rule per IP version");
      }
      seenV4 ||= v4;
      seenV6 ||= v6;
    }
  }
}

function maskedText(n: string): string {
  const c = parseCidr(n);
  return c ? formatCidr(c) : n;
}

export function checkEntityRule(value: unknown, path: IssuePath, report: Report): void {
  const ent = obj(value);
  if (!ent) return;
  checkSelector(ent.selector, [...path, "selector"], "forbidden", report);
  checkSelector(ent.notSelector, [...path, "notSelector"], "ignored", report);
  checkSelector(ent.namespaceSelector, [...path, "namespaceSelector"], "alone", report);
  const sa = obj(ent.serviceAccounts);
  if (sa) checkSelector(sa.selector, [...path, "serviceAccounts", "selector"], "ignored", report);

  const svc = obj(ent.services);
  if (!svc) return;
  const sp = [...path, "services"];
  const name = str(svc.name);
  if (!name) report("invalid-services", [...sp, "name"], "services must name a Kubernetes Service");
  else {
    const p = dns1123SubdomainProblem(name);
    if (p) report("invalid-name", [...sp, "name"], `invalid service name ${quote(name)}: it ${p}`);
  }
  const ns = str(svc.namespace);
  if (ns) {
    const p = dns1123SubdomainProblem(ns);
    if (p) report("invalid-namespace", [...sp, "namespace"], `invalid namespace ${quote(ns)}: it ${p}`);
  }
  const nonEmpty = (k: string) => {
    const x = ent[k];
    return x !== undefined && !(Array.isArray(x) && x.length === 0) && x !== "";
  };
  if (nonEmpty("namespaceSelector"))
    report("services-conflict", sp, "services cannot be combined with namespaceSelector in the same rule side");
  if (ent.serviceAccounts !== undefined)
    report("services-conflict", sp, "services cannot be combined with serviceAccounts in the same rule side");
  if (nonEmpty("selector") || nonEmpty("notSelector"))
    report("services-conflict", sp, "services cannot be combined with selector/notSelector in the same rule side");
  if (nonEmpty("nets") || nonEmpty("notNets"))
    report("services-conflict", sp, "services cannot be combined with nets/notNets (the Service's endpoints give the addresses)");
}

function checkServicesPlacement(rule: Obj, path: IssuePath, ctx: RuleContext, report: Report): void {
  const src = obj(rule.source);
  const dst = obj(rule.destination);
  if (dst?.services !== undefined) {
    if (arr(dst.ports).length > 0 || arr(dst.notPorts).length > 0) {
      report(
        "services-conflict",
        [...path, "destination", "services"],
        "destination services cannot be combined with destination ports/notPorts (the Service's ports are used)",
      );
    }
  }
  if (!ctx.policy) return;
  if (ctx.direction === "egress" && src?.services !== undefined) {
    report("services-not-allowed", [...path, "source", "services"], "services are not allowed in the source of an egress rule");
  }
  if (ctx.direction === "ingress" && dst?.services !== undefined) {
    report("services-not-allowed", [...path, "destination", "services"], "services are not allowed in the destination of an ingress rule");
  }
  if (ctx.global) {
    const side = ctx.direction === "egress" ? dst : src;
    const sideName = ctx.direction === "egress" ? "destination" : "source";
    const svc = obj(side?.services);
    if (svc && !str(svc.namespace)) {
      report(
        "services-need-namespace",
        [...path, sideName, "services"],
        "in a global policy, services must give a namespace",
      );
    }
  }
}

function checkHttp(rule: Obj, path: IssuePath, ctx: RuleContext, report: Report): void {
  const http = obj(rule.http);
  if (!http) return;
  const hp = [...path, "http"];
  if (rule.protocol !== undefined && !isTcp(rule.protocol)) {
    report("invalid-http", [...path, "protocol"], "rules with an http match must have protocol TCP or no protocol");
  }
  if (typeof rule.action === "string" && rule.action !== "Allow") {
    report("http-not-allowed", hp, `http matches are only valid on Allow rules, not ${rule.action}`);
  }
  if (ctx.policy && ctx.direction === "egress") {
    report("http-not-allowed", hp, "http matches are not allowed in egress rules");
  }
  const methods = arr(http.methods);
  if (methods.length > MAX_HTTP_ITEMS)
    report("too-many", [...hp, "methods"], `${methods.length} methods; at most ${MAX_HTTP_ITEMS} are allowed`);
  const seen = new Set<unknown>();
  methods.forEach((m, i) => {
    if (seen.has(m)) report("invalid-http", [...hp, "methods", i], `method ${quote(m)} is listed twice`);
    seen.add(m);
  });
  const paths = arr(http.paths);
  if (paths.length > MAX_HTTP_ITEMS)
    report("too-many", [...hp, "paths"], `${paths.length} paths; at most ${MAX_HTTP_ITEMS} are allowed`);
  paths.forEach((p, i) => {
    const po = obj(p);
    if (!po) return;
    const pp = [...hp, "paths", i];
    const exact = str(po.exact) ?? "";
    const prefix = str(po.prefix) ?? "";
    if (exact !== "" && prefix !== "") {
      report("invalid-http", pp, "a path match gives either exact or prefix, not both");
      return;
    }
    const val = exact || prefix;
    if (val === "") {
      report("invalid-http", pp, "a path match needs exact or prefix");
      return;
    }
    const vp = [...pp, exact ? "exact" : "prefix"];
    if (val.length > MAX_HTTP_PATH) report("invalid-http", vp, `path is longer than ${MAX_HTTP_PATH} characters`);
    if (!val.startsWith("/") || /[? #]/.test(val))
      report("invalid-http", vp, `invalid path ${quote(val)}: it must start with '/' and contain no '?', '#' or space`);
  });
}
