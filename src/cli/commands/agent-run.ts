/** `tortie agent`'s action (registration, options and help are in agent.ts). */
import pino from "pino";
import { Agent, AgentMetrics, FlowLogWriter, flowLogPath, parseListen, startHealthServer, type FlowSource, type HealthServer } from "../../agent/index.js";
import { Applier, makeDataplane, type IptablesVariant } from "../../apply/index.js";
import { defaultDataDir } from "../../datastore/index.js";
import { UlogdReader, type NflogRecord } from "../../flowlog/index.js";
import { isKernelError } from "../../kernel/index.js";
import { CliError, datastoreConfigFromOptions, openStoreFromOptions } from "../datastore-config.js";
import { nodeName, parseDuration, type AgentCliOptions } from "./agent.js";

export async function runAgent(opts: AgentCliOptions): Promise<void> {
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
  const dsConfig = await datastoreConfigFromOptions(opts);
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
