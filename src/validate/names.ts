/**
 * Resource names and namespaces (SEMANTICS §5.1). Every Calico resource passes Calico's
 * ObjectMeta check (DNS-1123 subdomain, ≤253 bytes); policies and tiers have stricter forms on
 * top. Kubernetes kinds follow the API server's per-kind name rules.
 *
 * Versions: ≤v3.31 also required NetworkPolicy/GNP names in tier `t` to start with `t.`; v3.32
 * dropped that rule, and the regexes below accept the old prefixed spellings anyway.
 */
import type { IssuePath, KindId } from "../model/index.js";
import { kindInfo } from "../model/index.js";
import { byteLen, quote, type Obj, type Report, str } from "./check-util.js";

const LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const SUBDOMAIN = `${LABEL}(\\.${LABEL})*`;

const DNS1123_LABEL = new RegExp(`^${LABEL}$`);
const DNS1123_SUBDOMAIN = new RegExp(`^${SUBDOMAIN}$`);
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
/** A label, optionally ".label" (one dot), or the knp./ossg.default. prefixes Calico generates. */
const NETWORK_POLICY_NAME = new RegExp(`^((${LABEL})(\\.${LABEL})?|((knp|ossg)\\.default\\.(${SUBDOMAIN})))$`);
const GLOBAL_POLICY_NAME = new RegExp(`^(${LABEL}\\.)?${LABEL}$`);

export function dns1123LabelProblem(s: string): string | undefined {
  if (byteLen(s) > 63) return `must be at most 63 characters (it has ${byteLen(s)})`;
  if (!DNS1123_LABEL.test(s)) return "must consist of lower-case letters, digits and '-', and start and end with a letter or digit";
  return undefined;
}

export function dns1123SubdomainProblem(s: string): string | undefined {
  if (byteLen(s) > 253) return `must be at most 253 characters (it has ${byteLen(s)})`;
  if (!DNS1123_SUBDOMAIN.test(s))
    return "must consist of lower-case letters, digits, '-' and '.', with each dot-separated part starting and ending with a letter or digit";
  return undefined;
}

export function isDns1123Subdomain(s: string): boolean {
  return dns1123SubdomainProblem(s) === undefined;
}

interface NameRule {
  max: number;
  test: (name: string) => boolean;
  describe: string;
}

const SUBDOMAIN_RULE: NameRule = {
  max: 253,
  test: (n) => DNS1123_SUBDOMAIN.test(n),
  describe: "lower-case letters, digits, '-' and '.' (a DNS subdomain, e.g. \"my-name.v1\")",
};

const NAME_RULES: Partial<Record<KindId, NameRule>> = {
  NetworkPolicy: {
    max: 253,
    test: (n) => NETWORK_POLICY_NAME.test(n) && DNS1123_SUBDOMAIN.test(n),
    describe: "lower-case letters, digits and '-', with at most one '.' (e.g. \"allow-dns\" or \"security.allow-dns\")",
  },
  GlobalNetworkPolicy: {
    max: 253,
    test: (n) => GLOBAL_POLICY_NAME.test(n),
    describe: "lower-case letters, digits and '-', with at most one '.' (e.g. \"default-deny\" or \"platform.default-deny\")",
  },
  Tier: {
    max: 63,
    test: (n) => DNS1123_LABEL.test(n),
    describe: "lower-case letters, digits and '-', no dots (a DNS label, e.g. \"security\")",
  },
  Namespace: {
    max: 63,
    test: (n) => DNS1123_LABEL.test(n),
    describe: "lower-case letters, digits and '-', no dots (a DNS label)",
  },
  Service: {
    max: 63,
    test: (n) => DNS1035_LABEL.test(n),
    describe: "lower-case letters, digits and '-', starting with a letter (a DNS-1035 label)",
  },
};
NAME_RULES.StagedNetworkPolicy = NAME_RULES.NetworkPolicy;
NAME_RULES.StagedGlobalNetworkPolicy = NAME_RULES.GlobalNetworkPolicy;

/** Checks metadata.name and metadata.namespace for a kind. */
export function checkNameAndNamespace(kind: KindId, meta: Obj | undefined, report: Report): void {
  const name = str(meta?.name);
  if (name !== undefined) checkName(kind, name, ["metadata", "name"], report);
  const ns = meta?.namespace;
  const info = kindInfo(kind);
  if (typeof ns === "string") {
    if (!info.namespaced) {
      if (ns !== "")
        report(
          "namespace-not-allowed",
          ["metadata", "namespace"],
          `${info.kind} is cluster-scoped and cannot have a namespace; remove metadata.namespace`,
        );
    } else {
      const p = dns1123LabelProblem(ns);
      if (p) report("invalid-namespace", ["metadata", "namespace"], `invalid namespace ${quote(ns)}: it ${p}`);
    }
  }
}

export function checkName(kind: KindId, name: string, path: IssuePath, report: Report): void {
  const rule = NAME_RULES[kind] ?? SUBDOMAIN_RULE;
  const kindName = kindInfo(kind).kind;
  if (name === "") {
    report("invalid-name", path, `${kindName} name must not be empty`);
    return;
  }
  const len = byteLen(name);
  if (len > rule.max) {
    report("name-too-long", path, `name is too long by ${len - rule.max} bytes (a ${kindName} name may have at most ${rule.max})`);
  }
  if (!rule.test(name)) {
    report("invalid-name", path, `invalid ${kindName} name ${quote(name)}: use ${rule.describe}`);
  }
}
