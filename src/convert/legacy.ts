/**
 * The pod-annotation policy language of Calico's first Kubernetes integration
 * (`projectcalico.org/policy: "allow tcp from label role=frontend to ports 80"`), converted to v3
 * rules. Grammar, sources and every mapping decision: docs/legacy-syntax.md.
 *
 * The original (calico_cni/policy_parser.py, Jan 2016) parsed each `;`-separated statement with
 * docopt against the usage pattern
 *
 *   (allow|deny) [( (tcp|udp) [from [ports P] [label K=V] [cidr C]] [to [ports P] [label K=V] [cidr C]]
 *                 | icmp [type T [code C]] [from [label K=V] [cidr C]] [to [label K=V] [cidr C]]
 *                 | [from [label K=V] [cidr C]] [to [label K=V] [cidr C]] )]
 *
 * docopt matches positional words strictly left to right, each optional part at most once and
 * greedily (an argument slot takes whatever word comes next), and fails if words are left over.
 * The recursive-descent parser below follows exactly that order.
 */
import { CALICO_API, type EntityRule, type Issue, type NetworkPolicy, type Rule, issue } from "../model/index.js";
import { canonicalCidr, parseAddr } from "../rule/index.js";
import { compareUtf8 } from "../selector/index.js";

export const LEGACY_ANNOTATION = "projectcalico.org/policy";
const ANNOTATION_PATH = ["metadata", "annotations", LEGACY_ANNOTATION] as const;
const ORCHESTRATOR_CLAUSE = "projectcalico.org/orchestrator == 'k8s'";

export interface LegacyOptions {
  /** The pod's namespace: label matches were namespace-scoped tags ("<ns>/<k>=<v>"). */
  namespace: string;
}

/** Python 2 unicode.split() separators (the annotation arrived as JSON, i.e. unicode). */
const PY_WS = /[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;
const LABEL = /^([a-zA-Z0-9/._-]+)=([a-zA-Z0-9/._-]+)$/;

class LegacyError extends Error {}

/** Python int() on an ASCII token: optional sign, digits. */
function pyInt(s: string): number | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  return Number(s);
}

/** pycalico validate_ports: 0 ≤ p < 65536; a range "a:b" needs a < b (strictly). */
function convertPorts(text: string): Array<number | string> {
  return text.split(",").map((raw) => {
    const p = raw.trim();
    if (p.includes(":")) {
      const parts = p.split(":");
      const lo = parts.length === 2 ? pyInt(parts[0]) : undefined;
      const hi = parts.length === 2 ? pyInt(parts[1]) : undefined;
      if (lo === undefined || hi === undefined || !(lo < hi) || lo < 0 || hi > 65535) {
        throw new LegacyError(`invalid port range ${JSON.stringify(p)} (needs min:max with 0 ≤ min < max ≤ 65535)`);
      }
      return `${lo}:${hi}`;
    }
    const n = pyInt(p);
    if (n === undefined || n < 0 || n > 65535) throw new LegacyError(`invalid port ${JSON.stringify(p)}`);
    return n;
  });
}

/** pycalico validate_icmp_type, used for both type and code: 0 ≤ n < 255. */
function convertIcmp(text: string, what: string): number {
  const n = pyInt(text);
  if (n === undefined || n < 0 || n >= 255) throw new LegacyError(`invalid ICMP ${what} ${JSON.stringify(text)} (0-254)`);
  return n;
}

/**
 * netaddr.IPNetwork as the original used it: an address with an optional "/prefix" or
 * "/netmask"; a partial IPv4 address ("10", "10.1") is padded with zeros; no prefix = host.
 * We emit the masked network (what iptables matched), which is what a v3 rule needs.
 */
function convertCidr(text: string): string {
  const slash = text.indexOf("/");
  let addr = slash < 0 ? text : text.slice(0, slash);
  let suffix = slash < 0 ? undefined : text.slice(slash + 1);
  if (!addr.includes(":") && parseAddr(addr) === undefined && /^[0-9]{1,3}(\.[0-9]{1,3}){0,2}$/.test(addr)) {
    addr = [...addr.split("."), "0", "0", "0"].slice(0, 4).join(".");
  }
  const a = parseAddr(addr);
  if (!a) throw new LegacyError(`invalid cidr ${JSON.stringify(text)}`);
  if (suffix !== undefined && a.family === 4 && suffix.includes(".")) {
    const m = parseAddr(suffix);
    const bits = m && m.family === 4 ? m.value.toString(2).padStart(32, "0") : "";
    if (!/^1*0*$/.test(bits) || bits.length !== 32) throw new LegacyError(`invalid netmask in cidr ${JSON.stringify(text)}`);
    suffix = String(bits.indexOf("0") < 0 ? 32 : bits.indexOf("0"));
  }
  if (suffix !== undefined && /^[0-9]{1,4}$/.test(suffix)) suffix = String(Number(suffix)); // int("08") == 8
  const c = canonicalCidr(suffix === undefined ? addr : `${addr}/${suffix}`);
  if (!c) throw new LegacyError(`invalid cidr ${JSON.stringify(text)}`);
  return c;
}

function convertLabel(text: string): string {
  const m = LABEL.exec(text);
  if (!m) throw new LegacyError(`invalid label ${JSON.stringify(text)}, expecting KEY=VALUE`);
  // The tag "<ns>/<k>=<v>" was applied only to Kubernetes pods of that namespace; in a namespaced
  // v3 policy the namespace part is implicit and the orchestrator clause keeps network sets out.
  return `${ORCHESTRATOR_CLAUSE} && ${m[1]} == '${m[2]}'`;
}

interface Clause {
  ports?: string;
  label?: string;
  cidr?: string;
}

/** Parses one statement's words; returns the docopt-style argument values or throws LegacyError. */
function parseWords(words: string[]): { action: string; protocol?: string; icmpType?: string; icmpCode?: string; from?: Clause; to?: Clause } {
  let i = 0;
  const peek = () => words[i];
  const hasArg = () => i + 1 < words.length;
  const out: ReturnType<typeof parseWords> = { action: "" };
  if (words.length === 0) throw new LegacyError("empty statement (expected allow or deny)");
  for (const w of words) {
    // docopt reads words starting with "-" as options, and this usage defines none.
    if (w.startsWith("-") && w !== "-") throw new LegacyError(`${JSON.stringify(w)} is not recognised (words may not start with "-")`);
  }
  if (peek() !== "allow" && peek() !== "deny") throw new LegacyError(`expected allow or deny, found ${JSON.stringify(peek())}`);
  out.action = words[i++];

  const clause = (kw: "from" | "to", withPorts: boolean): Clause | undefined => {
    if (peek() !== kw) return undefined;
    i++;
    const c: Clause = {};
    if (withPorts && peek() === "ports" && hasArg()) {
      c.ports = words[i + 1];
      i += 2;
    }
    if (peek() === "label" && hasArg()) {
      c.label = words[i + 1];
      i += 2;
    }
    if (peek() === "cidr" && hasArg()) {
      c.cidr = words[i + 1];
      i += 2;
    }
    return c;
  };

  if (peek() === "tcp" || peek() === "udp") {
    out.protocol = words[i++];
    out.from = clause("from", true);
    out.to = clause("to", true);
  } else if (peek() === "icmp") {
    out.protocol = words[i++];
    if (peek() === "type" && hasArg()) {
      out.icmpType = words[i + 1];
      i += 2;
      if (peek() === "code" && hasArg()) {
        out.icmpCode = words[i + 1];
        i += 2;
      }
    }
    out.from = clause("from", false);
    out.to = clause("to", false);
  } else {
    out.from = clause("from", false);
    out.to = clause("to", false);
  }
  if (i < words.length) {
    throw new LegacyError(`unexpected ${JSON.stringify(words[i])} (word ${i + 1}); the order is [protocol] [from …] [to …], each part at most once`);
  }
  return out;
}

function entity(c: Clause | undefined): EntityRule {
  const e: EntityRule = {};
  if (!c) return e;
  // Same order as the original's validation: label, then cidr, then ports.
  if (c.label !== undefined) e.selector = convertLabel(c.label);
  if (c.cidr !== undefined) e.nets = [convertCidr(c.cidr)];
  if (c.ports !== undefined) e.ports = convertPorts(c.ports);
  return e;
}

function convertStatement(statement: string): { rule: Rule; deny: boolean } {
  const words = statement.split(PY_WS).filter((w) => w !== "");
  const a = parseWords(words);
  const rule: Rule = { action: "Allow" };
  if (a.protocol) rule.protocol = a.protocol === "tcp" ? "TCP" : a.protocol === "udp" ? "UDP" : "ICMP";
  if (a.icmpType !== undefined) {
    rule.icmp = { type: convertIcmp(a.icmpType, "type") };
    if (a.icmpCode !== undefined) rule.icmp.code = convertIcmp(a.icmpCode, "code");
  }
  const src = entity(a.from);
  const dst = entity(a.to);
  if (Object.keys(src).length > 0) rule.source = src;
  if (Object.keys(dst).length > 0) rule.destination = dst;
  return { rule, deny: a.action === "deny" };
}

/**
 * Parses an annotation value: one or more statements separated by ";". Each valid statement gives
 * one inbound rule. Problems are issues (path metadata.annotations["projectcalico.org/policy"]).
 * `namespace` is recorded for documentation: label matches are namespace-scoped, which a
 * namespaced v3 NetworkPolicy provides by itself.
 */
export function parseLegacyPolicy(annotation: string, _opts: LegacyOptions): { rules: Rule[]; issues: Issue[] } {
  const rules: Rule[] = [];
  const issues: Issue[] = [];
  annotation.split(";").forEach((statement, k) => {
    try {
      const { rule, deny } = convertStatement(statement);
      rules.push(rule);
      if (deny) {
        issues.push(
          issue(
            "legacy-deny-is-allow",
            [...ANNOTATION_PATH],
            `statement ${k + 1} (${JSON.stringify(statement.trim())}): the original plugin accepted "deny" but always generated an allow rule; converted as Allow`,
            "warning",
          ),
        );
      }
    } catch (e) {
      if (!(e instanceof LegacyError)) throw e;
      issues.push(issue("legacy-policy-invalid", [...ANNOTATION_PATH], `statement ${k + 1} (${JSON.stringify(statement.trim())}): ${e.message}`));
    }
  });
  return { rules, issues };
}

export interface LegacyPolicyOptions extends LegacyOptions {
  /** The pod the annotation was on; used for the default policy name. */
  podName: string;
  /** The pod's labels; the default selector matches pods with all of them. */
  podLabels?: Record<string, string>;
  /** Explicit policy selector (overrides podLabels). */
  selector?: string;
  /** Policy name; default `legacy-<podName>`. */
  name?: string;
}

/**
 * Builds the v3 NetworkPolicy equivalent to the per-pod profile the annotation driver created
 * (KubernetesAnnotationDriver.generate_rules):
 *  - annotation absent: ingress only from pods of the same namespace (the "namespace_<ns>" tag);
 *  - namespace kube-system: ingress allowed from anywhere, annotation ignored;
 *  - otherwise: one ingress Allow rule per statement;
 *  - egress always allowed.
 * If any statement is invalid the original refused to set up the pod (ApplyProfileError), so
 * there is no equivalent policy: `policy` is null and the issues say why.
 */
export function legacyToNetworkPolicy(annotation: string | undefined, opts: LegacyPolicyOptions): { policy: NetworkPolicy | null; issues: Issue[] } {
  const issues: Issue[] = [];
  let ingress: Rule[];
  if (opts.namespace === "kube-system") {
    ingress = [{ action: "Allow" }];
    if (annotation !== undefined) {
      issues.push(issue("legacy-kube-system", [...ANNOTATION_PATH], "pods in kube-system accepted all inbound traffic; the annotation was ignored", "warning"));
    }
  } else if (annotation === undefined) {
    ingress = [{ action: "Allow", source: { selector: ORCHESTRATOR_CLAUSE } }];
  } else {
    const r = parseLegacyPolicy(annotation, opts);
    issues.push(...r.issues);
    if (r.issues.some((i) => i.severity === "error")) return { policy: null, issues };
    ingress = r.rules;
  }

  let selector = opts.selector;
  if (selector === undefined) {
    const labels = opts.podLabels ?? {};
    const keys = Object.keys(labels).sort(compareUtf8);
    selector = [ORCHESTRATOR_CLAUSE, ...keys.map((k) => `${k} == '${labels[k]}'`)].join(" && ");
    if (keys.length === 0) {
      issues.push(
        issue(
          "legacy-broad-selector",
          ["spec", "selector"],
          `the legacy profile applied to pod ${opts.podName} only; without its labels or an explicit selector the policy selects every pod in namespace ${opts.namespace}`,
          "warning",
        ),
      );
    }
  }

  const policy: NetworkPolicy = {
    apiVersion: CALICO_API,
    kind: "NetworkPolicy",
    metadata: { name: opts.name ?? `legacy-${opts.podName}`, namespace: opts.namespace },
    spec: { selector, types: ["Ingress", "Egress"], ingress, egress: [{ action: "Allow" }] },
  };
  return { policy, issues };
}
