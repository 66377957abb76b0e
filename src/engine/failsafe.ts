/**
 * Host-endpoint failsafe ports (SEMANTICS §2.6; felix config FailsafeInbound/OutboundHostPorts and
 * rules/static.go failsafeInChain/failsafeOutChain): accepted before any host-endpoint policy so a
 * bad policy cannot cut the node off. Expressed as ordinary Allow RuleIRs so the kernel renderers
 * and explain share them.
 */
import { canonicalCidr, protocolNumber, type RuleIR, type RuleMatch } from "../rule/index.js";

export interface FailsafePort {
  protocol: "tcp" | "udp" | "sctp" | string;
  port: number;
  /** Optional CIDR: the peer (source for inbound, destination for outbound). */
  net?: string;
}

export interface FailsafeConfig {
  inbound: FailsafePort[];
  outbound: FailsafePort[];
}

const fp = (spec: string): FailsafePort => {
  const [protocol, port] = spec.split(":");
  return { protocol: protocol!, port: Number(port) };
};

export const DEFAULT_FAILSAFE: FailsafeConfig = {
  inbound: ["tcp:22", "udp:68", "tcp:179", "tcp:2379", "tcp:2380", "tcp:5473", "tcp:6443", "tcp:6666", "tcp:6667"].map(fp),
  outbound: ["udp:53", "udp:67", "tcp:179", "tcp:2379", "tcp:2380", "tcp:5473", "tcp:6443", "tcp:6666", "tcp:6667"].map(fp),
};

/** Parses Felix's "tcp:22,udp:68" / "tcp:10.0.0.0/8:22" list syntax. */
export function parseFailsafeList(text: string): FailsafePort[] | string {
  const out: FailsafePort[] = [];
  if (text.trim() === "" || text.trim().toLowerCase() === "none") return out;
  for (const raw of text.split(",")) {
    const item = raw.trim();
    const m = /^(tcp|udp|sctp):(?:(.+):)?([0-9]+)$/i.exec(item);
    if (!m) return `failsafe entry ${JSON.stringify(item)} is not <protocol>:[<net>:]<port>`;
    const port = Number(m[3]);
    if (port < 1 || port > 65535) return `failsafe entry ${JSON.stringify(item)}: port must be 1–65535`;
    const net = m[2] ? canonicalCidr(m[2].replace(/^\[|\]$/g, "")) : undefined;
    if (m[2] && !net) return `failsafe entry ${JSON.stringify(item)}: ${m[2]} is not a CIDR`;
    out.push({ protocol: m[1]!.toLowerCase(), port, ...(net ? { net } : {}) });
  }
  return out;
}

export function failsafeRules(cfg: FailsafeConfig): { inbound: RuleIR[]; outbound: RuleIR[] } {
  const mk = (list: FailsafePort[], dir: "inbound" | "outbound"): RuleIR[] =>
    list.map((p, index) => {
      const proto = protocolNumber(p.protocol.toUpperCase()) ?? 6;
      const net = p.net ? canonicalCidr(p.net) : undefined;
      const match: RuleMatch = { protocol: proto, src: {}, dst: { ports: [{ first: p.port, last: p.port }] } };
      if (net) {
        if (dir === "inbound") match.src.nets = [net];
        else match.dst.nets = [net];
      }
      return {
        action: "Allow",
        match,
        origin: { tier: "", policy: `failsafe/${dir === "inbound" ? "in" : "out"}`, direction: dir === "inbound" ? "ingress" : "egress", index },
      };
    });
  return { inbound: mk(cfg.inbound, "inbound"), outbound: mk(cfg.outbound, "outbound") };
}
