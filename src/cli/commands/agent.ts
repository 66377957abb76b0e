/**
 * `tortie agent`: the node agent (see docs/agent.md). Runs until SIGTERM/SIGINT and leaves the
 * kernel programmed when it stops; `--cleanup` removes what tortie programmed and exits.
 */
import { hostname } from "node:os";
import { Option, type Command } from "commander";
import type { IptablesVariant } from "../../apply/index.js";
import type { DatastoreOverrides } from "../../datastore/index.js";
import { addDatastoreOptions } from "../datastore-config.js";

export interface AgentCliOptions extends DatastoreOverrides {
  node?: string;
  dataplane: "nftables" | "iptables";
  iptablesVariant: IptablesVariant;
  listen: string;
  logLevel: string;
  denyAction: "drop" | "reject";
  logDenied?: boolean;
  logAllowed?: boolean;
  flowLog?: string;
  driftCheckInterval: string;
  cleanup?: boolean;
}

/** "30s", "5m", "500ms", "0" (off) → milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? "s";
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!);
}

export function nodeName(opt: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return opt || env.TORTIE_NODE || env.NODENAME || hostname();
}

export function register(program: Command): void {
  const cmd = program
    .command("agent")
    .summary("run the node agent (datastore → kernel)")
    .description(
      "Watch the datastore, keep what concerns the endpoints of this node (its pods, workload and host " +
        "endpoints, and the policies, sets and profiles they need) and program the kernel, incrementally. " +
        "Stopping the agent leaves the rules in place (fail-static); --cleanup removes them.",
    )
    .option("--node <name>", "this node's name as pods' spec.nodeName and endpoints' spec.node use it [env TORTIE_NODE, NODENAME; default: hostname]")
    .addOption(new Option("--dataplane <kind>", "kernel backend").choices(["nftables", "iptables"]).default("nftables"))
    .addOption(new Option("--iptables-variant <v>", "iptables binaries: default (iptables), legacy (iptables-legacy) or nft (iptables-nft)").choices(["default", "legacy", "nft"]).default("default"))
    .option("--listen <host:port>", "address for /healthz, /readyz, /metrics and /status; \"off\" disables", "127.0.0.1:9099")
    .addOption(new Option("--log-level <level>", "JSON log level").choices(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"))
    .addOption(new Option("--deny-action <action>", "what denied packets get: drop (Calico's default) or reject (TCP reset / ICMP prohibited)").choices(["drop", "reject"]).default("drop"))
    .option("--log-denied", "send denied packets to the flow log (NFLOG group 1)")
    .option("--log-allowed", "send packets accepted by Allow rules to the flow log (NFLOG group 1)")
    .option("--flow-log <file>", "flow log file (JSON lines, rotated at 10 MB) [default: <data dir>/flows-<node>.log]")
    .option("--drift-check-interval <duration>", "compare the kernel with what was programmed and repair it this often (0 = never)", "60s")
    .option("--cleanup", "remove everything tortie programmed in the kernel (nftables table, iptables chains and ipsets) and exit");
  addDatastoreOptions(cmd);
  cmd.addHelpText(
    "after",
    `
Examples:
  tortie agent --node node1                                   embedded datastore in /var/lib/tortie
  tortie agent --node node1 --datastore-type etcdv3 --etcd-endpoints https://10.0.0.1:2379
  ip netns exec node1 tortie agent --node node1 --data-dir /tmp/lab     (lab: one agent per node namespace)
  tortie agent --cleanup
`,
  );
  cmd.action(async (opts: AgentCliOptions) => (await import("./agent-run.js")).runAgent(opts));
}
