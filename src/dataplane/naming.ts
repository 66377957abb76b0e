/**
 * Every kernel-visible name tortie uses: table, chains, sets, maps, rule comments and log
 * prefixes. Nothing else in the code base builds such names, so the nftables renderer, the future
 * iptables+ipset renderer, the flow-log reader and the tests all agree (Felix keeps the same
 * discipline in rules/rule_defs.go).
 *
 * Names follow Felix's layout (cali-fw-<iface>, cali-pi-<policy>, cali40s-<set id>) so an operator
 * who knows Calico can read the ruleset, and they respect iptables' limits (chains ≤ 28 chars, ipset
 * names ≤ 31) so one dataplane model serves both backends. Longer names are shortened the way
 * Felix shortens them: keep a prefix, append "_" + a truncated base64url sha256 of the rest.
 */
import { createHash } from "node:crypto";
import type { Direction, PolicyKey, RuleAction, RuleOrigin, SetId } from "../rule/index.js";

/** Calico's CNI veth name ("cali" + 11 hex of sha1("<ns>.<pod>")); defined in netns/cni.ts, the
 *  harness that plays the CNI plugin. */
export { caliInterfaceName } from "../netns/index.js";

/** tortie's own nftables table (family inet: one table for IPv4 and IPv6). */
export const TABLE_NAME = "tortie";
export const TABLE_FAMILY = "inet";

/** iptables' chain-name limit (XT_EXTENSION_MAXNAMELEN − 1 in practice, as Felix uses). */
export const MAX_CHAIN_NAME = 28;
/** ipset's set-name limit (IPSET_MAXNAMELEN − 1). */
export const MAX_SET_NAME = 31;
/** NFLOG prefix limit: 64 bytes with the terminator (Felix NFLOGPrefixMaxLength). */
export const MAX_NFLOG_PREFIX = 63;
/** nft comment limit we keep to (NFT_USERDATA_MAXLEN is 256; 127 keeps listings readable). */
export const MAX_COMMENT = 127;

export const CHAIN_PREFIX = "cali-";

/** Base chains: one per hook we use, named like Felix's nftables mode (`<table>-<HOOK>`). */
export const BASE_CHAINS = {
  forward: "filter-FORWARD",
  input: "filter-INPUT",
  output: "filter-OUTPUT",
  /** preDNAT host-endpoint policy (Felix: mangle PREROUTING). */
  manglePrerouting: "mangle-PREROUTING",
  /** doNotTrack host-endpoint policy (Felix: raw PREROUTING / raw OUTPUT). */
  rawPrerouting: "raw-PREROUTING",
  rawOutput: "raw-OUTPUT",
} as const;

/** Hook priorities (nft names: raw −300, mangle −150, filter 0), as Felix's nft mode uses. */
export const HOOK_PRIORITY = {
  raw: -300,
  mangle: -150,
  filter: 0,
} as const;

/** Static, non-base chains (Felix rule_defs.go names). */
export const CHAINS = {
  fromWorkloadDispatch: "cali-from-wl-dispatch",
  toWorkloadDispatch: "cali-to-wl-dispatch",
  workloadToHost: "cali-wl-to-host",
  fromHostEndpoint: "cali-from-host-endpoint",
  toHostEndpoint: "cali-to-host-endpoint",
  fromHostEndpointForward: "cali-from-hep-forward",
  toHostEndpointForward: "cali-to-hep-forward",
  failsafeIn: "cali-failsafe-in",
  failsafeOut: "cali-failsafe-out",
  /** Our single-table equivalents of Felix's per-table host dispatch chains. */
  rawFromHostEndpoint: "cali-raw-from-hep",
  rawToHostEndpoint: "cali-raw-to-hep",
  mangleFromHostEndpoint: "cali-mangle-from-hep",
} as const;

/** Interface → chain verdict maps, one per dispatch chain (Felix nft mode names them the same as
 *  the dispatch chain; sets/maps and chains are separate namespaces in nftables). */
export const MAPS = {
  fromWorkload: "cali-from-wl-dispatch",
  toWorkload: "cali-to-wl-dispatch",
  fromHostEndpoint: "cali-from-host-endpoint",
  toHostEndpoint: "cali-to-host-endpoint",
  fromHostEndpointForward: "cali-from-hep-forward",
  toHostEndpointForward: "cali-to-hep-forward",
  rawFromHostEndpoint: "cali-raw-from-hep",
  rawToHostEndpoint: "cali-raw-to-hep",
  mangleFromHostEndpoint: "cali-mangle-from-hep",
} as const;

/** Per-endpoint chain prefixes. Workload: to (= its ingress) / from (= its egress). Host: from
 *  (ingress to the host) / to (egress from the host), forward variants for applyOnForward, and
 *  our names for the raw (doNotTrack) and mangle (preDNAT) variants that Felix keeps in other
 *  tables under the cali-fh-/cali-th- names. */
export const ENDPOINT_CHAIN_PREFIX = {
  toWorkload: "cali-tw-",
  fromWorkload: "cali-fw-",
  fromHost: "cali-fh-",
  toHost: "cali-th-",
  fromHostForward: "cali-fhfw-",
  toHostForward: "cali-thfw-",
  rawFromHost: "cali-rfh-",
  rawToHost: "cali-rth-",
  mangleFromHost: "cali-mfh-",
} as const;
export type EndpointChainKind = keyof typeof ENDPOINT_CHAIN_PREFIX;

const POLICY_PREFIX = { ingress: "cali-pi-", egress: "cali-po-" } as const;
const PROFILE_PREFIX = { ingress: "cali-pri-", egress: "cali-pro-" } as const;

/** base64url sha256 of `s`, truncated. */
export function shortHash(s: string, len: number): string {
  return createHash("sha256").update(s).digest("base64url").slice(0, len);
}

/**
 * `prefix + suffix` when it fits in `maxLen`, else `prefix + "_" + hash(suffix)` cut to `maxLen`
 * (the scheme of Felix's GetLengthLimitedID). The "_" marks hashed names; a user-chosen suffix that
 * itself starts with "_" is hashed too, so a hashed name can never collide with a plain one.
 */
export function lengthLimited(prefix: string, suffix: string, maxLen: number): string {
  if (prefix.length + suffix.length <= maxLen && !suffix.startsWith("_")) return prefix + suffix;
  const room = maxLen - prefix.length - 1;
  return `${prefix}_${shortHash(suffix, Math.max(room, 4))}`;
}

export function endpointChainName(kind: EndpointChainKind, iface: string): string {
  return lengthLimited(ENDPOINT_CHAIN_PREFIX[kind], iface, MAX_CHAIN_NAME);
}

export function policyChainName(policy: PolicyKey, dir: Direction): string {
  return lengthLimited(POLICY_PREFIX[dir], policy, MAX_CHAIN_NAME);
}

const GROUP_PREFIX = { ingress: "cali-gi-", egress: "cali-go-" } as const;

/** A chain holding the rules of the policies of one tier in an endpoint program (Felix names
 *  its policy-group chains cali-gi-/cali-go-); named by a hash of the policy list. */
export function policyGroupChainName(policies: PolicyKey[], dir: Direction): string {
  return `${GROUP_PREFIX[dir]}${shortHash(policies.join("\n"), MAX_CHAIN_NAME - GROUP_PREFIX[dir].length)}`;
}

const GROUP_CHUNK_PREFIX = { ingress: "cali-gci-", egress: "cali-gco-" } as const;

/** A piece of a long group chain (build.ts groupChunks); named by a hash of its rules, so equal
 *  pieces of different groups are one chain, and a piece keeps its name while its rules do. */
export function groupChunkChainName(content: string, dir: Direction): string {
  return `${GROUP_CHUNK_PREFIX[dir]}${shortHash(content, MAX_CHAIN_NAME - GROUP_CHUNK_PREFIX[dir].length)}`;
}

/** Profile keys are "pro/<name>"; Felix names the chain after the bare profile name. */
export function profileChainName(profile: PolicyKey, dir: Direction): string {
  const name = profile.startsWith("pro/") ? profile.slice(4) : profile;
  return lengthLimited(PROFILE_PREFIX[dir], name, MAX_CHAIN_NAME);
}

// ------------------------------------------------------------------------------------ sets

/**
 * Which kernel set a SetId becomes. Selector sets are split in two because an nftables interval
 * set costs ~1 s per element update at 100k members while a hash set costs < 10 ms:
 *   "addrs" – single addresses of endpoints (hash set),
 *   "nets"  – real CIDRs from network sets (interval set).
 * Named-port and service sets hold (address, protocol, port) or addresses only: "main".
 */
export type SetPart = "addrs" | "nets" | "main";

const PART_CHAR: Record<SetPart, string> = { addrs: "0", nets: "n", main: "0" };

/** "cali" + family + part + set id (":" → "-"), cut to 31 chars like Felix's ipset names
 *  (cali40s:<hash> → cali40s-<hash>; the interval part is cali4ns-<hash>). */
export function setName(family: 4 | 6, part: SetPart, id: SetId): string {
  return `cali${family}${PART_CHAR[part]}${id.replace(/:/g, "-")}`.slice(0, MAX_SET_NAME);
}

/** Hash set standing in for the prefix-length-`prefix` part of interval set `name` (its members
 *  cut to that length; kernel-view.ts): "cali" + family + "m" + length + "-" + hash of the name. */
export function maskedSetName(name: string, family: 4 | 6, prefix: number): string {
  const head = `cali${family}m${prefix}-`;
  return head + shortHash(name, MAX_SET_NAME - head.length);
}

/** Concatenated (address . protocol . port) set compiled from a run of Allow/Deny rules; `key` is a
 *  stable description of its content (the address sets, protocols and ports it unites), so runs
 *  with the same content share one kernel set. */
export function compiledSetName(family: 4 | 6, key: string): string {
  return `cali${family}x${shortHash(key, MAX_SET_NAME - 6)}`;
}

// ------------------------------------------------------------------------------------ comments

/** Readable origin label, shared with explain's trace: "<tier>/<policy> <dir> rule <i>". */
export function originLabel(o: RuleOrigin): string {
  const where = o.tier ? `${o.tier}/${o.policy}` : o.policy;
  return `${where} ${o.direction} rule ${o.index}`;
}

/** Rule comment: "<hash> <label>", cut to MAX_COMMENT. The hash (12 chars of the rule's rendered
 *  content) lets drift detection compare rules without parsing the kernel's re-printed form. */
export function ruleComment(contentHash: string, label: string | undefined): string {
  const text = label ? `${contentHash} ${label}` : contentHash;
  return text.length <= MAX_COMMENT ? text : text.slice(0, MAX_COMMENT);
}

export const COMMENT_HASH_LEN = 12;

/** Extracts the content hash from a rule comment written by ruleComment (undefined if foreign). */
export function commentHash(comment: string | undefined): string | undefined {
  if (!comment) return undefined;
  const h = comment.slice(0, COMMENT_HASH_LEN);
  return /^[A-Za-z0-9_-]{12}$/.test(h) && (comment.length === COMMENT_HASH_LEN || comment[COMMENT_HASH_LEN] === " ") ? h : undefined;
}

// ------------------------------------------------------------------------------------ log prefixes

/**
 * NFLOG prefixes follow Felix's flow-log format: `<action><owner><dir><index>|<policy id>` with
 * action A(llow) D(eny) P(ass) — and L for the Log action, which Felix sends to the kernel log
 * instead — owner P(olicy) or R(profile), dir I(ngress) or E(gress). End of tier: `DPI|<tier>`;
 * no profile accepted: `DRI`. The Log action's record starts with the configured LogPrefix
 * ("calico-packet" by default, as Felix) so that it is recognisable: `calico-packet: LPI0|np/x`.
 * Prefixes longer than 62 chars are shortened Felix's way (first 10 + hash + "_" + last 10); the
 * dataplane model's log index maps every prefix we emit back to its origin either way.
 */
export type LogActionChar = "A" | "D" | "P" | "L";

export function actionChar(a: RuleAction | "Allow" | "Deny"): LogActionChar {
  switch (a) {
    case "Allow":
      return "A";
    case "Deny":
      return "D";
    case "Pass":
      return "P";
    case "Log":
      return "L";
  }
}

export function dirChar(d: Direction): "I" | "E" {
  return d === "ingress" ? "I" : "E";
}

export function maybeHashPrefix(prefix: string): string {
  if (prefix.length < MAX_NFLOG_PREFIX) return prefix;
  const head = prefix.slice(0, 10);
  const tail = prefix.slice(-10);
  return `${head}${shortHash(prefix, MAX_NFLOG_PREFIX - 21)}_${tail}`;
}

/** Prefix of a per-rule record (Log action, or a logged Allow/Deny). */
export function ruleLogPrefix(action: LogActionChar, origin: RuleOrigin, logPrefix: string): string {
  const owner = origin.tier === "" && origin.policy.startsWith("pro/") ? "R" : "P";
  const id = owner === "R" ? origin.policy.slice(4) : origin.policy;
  const body = `${action}${owner}${dirChar(origin.direction)}${origin.index}|${id}`;
  return maybeHashPrefix(action === "L" ? `${logPrefix}: ${body}` : body);
}

export function endOfTierLogPrefix(dir: Direction, tier: string): string {
  return maybeHashPrefix(`DP${dirChar(dir)}|${tier}`);
}

export function noProfileLogPrefix(dir: Direction): string {
  return `DR${dirChar(dir)}`;
}
