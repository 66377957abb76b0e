/**
 * `tortie agent`: the node agent (see docs/agent.md). Runs until SIGTERM/SIGINT and leaves the
 * kernel programmed when it stops; `--cleanup` removes what tortie programmed and exits.
 */
import { hostname } from "node:os";
import { Option, type Command } from "commander";
import pino from "pino";
import { Agent, AgentMetrics, FlowLogWriter, flowLogPath, parseListen, startHealthServer, type FlowSource, type HealthServer } from "../../agent/index.js";
import { Applier, makeDataplane, type IptablesVariant } from "../../apply/index.js";
import { defaultDataDir, type DatastoreOverrides } from "../../datastore/index.js";
import { UlogdReader, type NflogRecord } from "../../flowlog/index.js";
import { isKernelError } from "../../kernel/index.js";
import { addDatastoreOptions, CliError, datastoreConfigFromOptions, openStoreFromOptions } from "../datastore-config.js";

interface AgentCliOptions extends DatastoreOverrides {
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
  cmd.action(async (opts: AgentCliOptions) => {
    const node = nodeName(opts.node);
    const log = pino({ level: opts.logLevel, base: { node } });
    if (opts.cleanup) {
      await cleanup(log, opts.iptablesVariant);
      return;
    }
    const drift = parseDuration(opts.driftCheckInterval);
    if (drift === undefined) throw new CliError(`--drift-check-interval: ${JSON.stringify(opts.driftCheckInterval)} is not a duration (e.g. 30s, 5m, 0)`);
    let listen: { host: string; port: number } | undefined;
    if (opts.listen !== "off") {
      listen = parseListen(opts.listen);
      if (!listen) throw new CliError(`--listen: ${JSON.stringify(opts.listen)} is not host:port`);
    }
    // Resolve the datastore configuration now so that a bad flag fails at once, not in a retry loop.
    const dsConfig = datastoreConfigFromOptions(opts);
    const flowLog = opts.flowLog ?? flowLogPath(dsConfig.type === "embedded" ? dsConfig.dataDir : defaultDataDir(), node);
    const { kernel, backend } = makeDataplane({ kind: opts.dataplane, iptablesVariant: opts.iptablesVariant });
    const logging = opts.logDenied === true || opts.logAllowed === true;
    const agent = new Agent({
      node,
      openStore: () => openStoreFromOptions(opts),
      kernel,
      backend,
      logger: log,
      metrics: new AgentMetrics({ node }),
      dataplane: { denyAction: opts.denyAction, logDenied: opts.logDenied === true, logAllowed: opts.logAllowed === true },
      driftCheckIntervalMs: drift,
      ...(logging ? { flowSource: ulogdSource(NFLOG_GROUP), flowLog: new FlowLogWriter(flowLog) } : {}),
    });
    let server: HealthServer | undefined;
    if (listen) {
      server = await startHealthServer(agent, listen);
      log.info({ listen: `${server.address.host}:${server.address.port}` }, "serving /healthz /readyz /metrics /status");
    }
    if (logging) log.info({ flowLog, nflogGroup: NFLOG_GROUP }, "flow log: reading NFLOG with ulogd");
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, "stopping; the kernel keeps the programmed rules");
      void (async () => {
        await agent.stop();
        await server?.close();
        process.exit(0);
      })();
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
    log.info({ node, dataplane: opts.dataplane, datastore: dsConfig.type }, "tortie agent starting");
    await agent.start();
    // Keep running: the watch, the timers and the HTTP server hold the event loop.
    await new Promise<never>(() => {});
  });
}

/** The NFLOG group the rules log to (DataplaneConfig.nflogGroup default). */
const NFLOG_GROUP = 1;

/** src/flowlog's ulogd-based NFLOG reader, in the agent's own network namespace. */
function ulogdSource(group: number): FlowSource {
  let reader: UlogdReader | undefined;
  return {
    async start(onRecord: (r: NflogRecord) => void) {
      reader = new UlogdReader({ group, onRecord });
      await reader.start();
    },
    async stop() {
      await reader?.stop();
    },
  };
}

/** Removes both backends' state: a node may have run either. Missing tools or state are fine. */
async function cleanup(log: pino.Logger, variant: IptablesVariant): Promise<void> {
  for (const name of ["nftables", "iptables"] as const) {
    const { kernel, backend } = makeDataplane({ kind: name, iptablesVariant: variant });
    try {
      await new Applier(kernel, { backend }).remove();
      log.info({ dataplane: name }, "removed tortie's kernel state");
    } catch (e) {
      if (isKernelError(e, "NOT_FOUND")) log.info({ dataplane: name }, "nothing to remove");
      else if (isKernelError(e, "TOOL_MISSING")) log.info({ dataplane: name }, "tools not installed; nothing to remove");
      else throw e;
    }
  }
}
