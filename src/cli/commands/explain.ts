/**
 * `tortie explain -f DIR --from x/a --to y/b --protocol TCP --port 80 [-o json]`: is this flow
 * allowed, and which tier / policy / rule decided it? Without -f the resources come from the
 * datastore. Exit status: 0 when the question was answered (either verdict; `--exit-code` makes a
 * deny exit 2), 1 for bad input (unknown endpoint, bad port, invalid resources).
 *
 * This file also holds the input plumbing shared by matrix and diff (loadCluster & co).
 */
import type { Command } from "commander";
import { Option } from "commander";
import { Cluster, formatExplanation, parseFailsafeList, type ClusterOptions, type FailsafeConfig, DEFAULT_FAILSAFE } from "../../engine/index.js";
import type { Issue, Resource } from "../../model/index.js";
import { loadManifests, type ManifestInput } from "../../validate/index.js";
import { addDatastoreOptions, openStoreFromOptions } from "../datastore-config.js";
import type { DatastoreOverrides } from "../../datastore/index.js";
import { formatIssues, useColor } from "../output.js";

export interface EngineIO {
  out: (s: string) => void;
  err: (s: string) => void;
  readStdin: () => Promise<string>;
  color: boolean;
}

async function readProcessStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(typeof c === "string" ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString("utf8");
}

export const defaultEngineIO = (): EngineIO => ({
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
  readStdin: readProcessStdin,
  color: useColor(process.stderr),
});

/** Options every engine command takes (resource source and Felix settings). */
export interface EngineInputOptions extends DatastoreOverrides {
  filename?: string[];
  failsafeInbound?: string;
  failsafeOutbound?: string;
  endpointToHostAction?: string;
}

export function addEngineInputOptions(cmd: Command, fileHelp = "file, directory (read recursively) or - for stdin; repeatable. Without -f: the datastore"): Command {
  cmd.option("-f, --filename <path>", fileHelp, (v: string, prev: string[]) => [...prev, v], [] as string[]);
  cmd.addOption(new Option("--failsafe-inbound <list>", 'host-endpoint inbound failsafe ports, Felix syntax ("tcp:22,udp:68", "none")'));
  cmd.addOption(new Option("--failsafe-outbound <list>", "host-endpoint outbound failsafe ports"));
  cmd.addOption(new Option("--endpoint-to-host-action <action>", "Felix DefaultEndpointToHostAction for workload → own host traffic").choices(["Drop", "Return", "Accept"]));
  addDatastoreOptions(cmd);
  return cmd;
}

/** Felix settings from the options; an error message when one is malformed. */
export function clusterOptionsFrom(opts: EngineInputOptions): ClusterOptions | string {
  const failsafe: FailsafeConfig = { inbound: DEFAULT_FAILSAFE.inbound, outbound: DEFAULT_FAILSAFE.outbound };
  if (opts.failsafeInbound !== undefined) {
    const r = parseFailsafeList(opts.failsafeInbound);
    if (typeof r === "string") return `--failsafe-inbound: ${r}`;
    failsafe.inbound = r;
  }
  if (opts.failsafeOutbound !== undefined) {
    const r = parseFailsafeList(opts.failsafeOutbound);
    if (typeof r === "string") return `--failsafe-outbound: ${r}`;
    failsafe.outbound = r;
  }
  const out: ClusterOptions = { failsafe };
  if (opts.endpointToHostAction) out.defaultEndpointToHostAction = opts.endpointToHostAction as ClusterOptions["defaultEndpointToHostAction"];
  return out;
}

/**
 * Reads resources from files (validated by the loader) or, without files, from the datastore, and
 * compiles them. Prints issues to stderr; returns undefined (after printing) when the input has
 * errors, so the command exits 1.
 */
export async function loadCluster(files: string[] | undefined, opts: EngineInputOptions, io: EngineIO, cmd: string): Promise<Cluster | undefined> {
  const copts = clusterOptionsFrom(opts);
  if (typeof copts === "string") {
    io.err(`tortie ${cmd}: ${copts}\n`);
    return undefined;
  }
  let resources: Resource[];
  let sources: Map<string, string> | undefined;
  if (files && files.length > 0) {
    const inputs: ManifestInput[] = [];
    let stdinRead = false;
    for (const f of files) {
      if (f === "-") {
        if (stdinRead) continue;
        stdinRead = true;
        inputs.push({ text: await io.readStdin(), file: "<stdin>" });
      } else inputs.push({ path: f });
    }
    const loaded = loadManifests(inputs);
    sources = loaded.sources;
    if (loaded.issues.length > 0) io.err(formatIssues(loaded.issues, { sources, color: io.color }));
    if (loaded.issues.some((i) => i.severity === "error")) {
      io.err(`tortie ${cmd}: the input has invalid resources (see above); nothing was evaluated\n`);
      return undefined;
    }
    resources = loaded.resources.map((r) => r.resource);
  } else {
    const store = await openStoreFromOptions(opts);
    try {
      resources = (await store.snapshot()).items;
    } finally {
      await store.close();
    }
  }
  const cluster = Cluster.fromResources(resources, copts);
  if (cluster.issues.length > 0) io.err(formatIssues(cluster.issues, { sources, color: io.color }));
  if (cluster.issues.some((i) => i.severity === "error")) {
    io.err(`tortie ${cmd}: some resources could not be compiled (see above); nothing was evaluated\n`);
    return undefined;
  }
  return cluster;
}

/** Parses a decimal option value; undefined when absent, NaN when malformed. */
export function intOption(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  return /^[0-9]+$/.test(v.trim()) ? Number(v.trim()) : Number.NaN;
}

export function printQueryIssues(issues: Issue[], io: EngineIO, cmd: string): void {
  io.err(formatIssues(issues, { color: io.color }));
  io.err(`tortie ${cmd}: invalid query\n`);
}

export interface ExplainOptions extends EngineInputOptions {
  from?: string;
  to?: string;
  protocol: string;
  port?: string;
  srcPort?: string;
  icmpType?: string;
  icmpCode?: string;
  ipv6?: boolean;
  ipv4?: boolean;
  output: string;
  exitCode?: boolean;
}

export async function runExplain(opts: ExplainOptions, io: EngineIO = defaultEngineIO()): Promise<number> {
  if (opts.output !== "text" && opts.output !== "json") {
    io.err(`tortie explain: unknown output format "${opts.output}" (use text or json)\n`);
    return 1;
  }
  if (!opts.from || !opts.to) {
    io.err("tortie explain: --from and --to are required\n");
    return 1;
  }
  const port = intOption(opts.port);
  const srcPort = intOption(opts.srcPort);
  const icmpType = intOption(opts.icmpType);
  const icmpCode = intOption(opts.icmpCode);
  for (const [name, v] of [["--port", port], ["--src-port", srcPort], ["--icmp-type", icmpType], ["--icmp-code", icmpCode]] as const) {
    if (Number.isNaN(v)) {
      io.err(`tortie explain: ${name} must be a number\n`);
      return 1;
    }
  }
  if (opts.ipv4 && opts.ipv6) {
    io.err("tortie explain: give at most one of --ipv4 and --ipv6\n");
    return 1;
  }
  const cluster = await loadCluster(opts.filename, opts, io, "explain");
  if (!cluster) return 1;
  const r = cluster.tryExplain({
    from: opts.from,
    to: opts.to,
    protocol: /^[0-9]+$/.test(opts.protocol) ? Number(opts.protocol) : opts.protocol,
    ...(port !== undefined ? { port } : {}),
    ...(srcPort !== undefined ? { srcPort } : {}),
    ...(icmpType !== undefined ? { icmp: { type: icmpType, ...(icmpCode !== undefined ? { code: icmpCode } : {}) } } : {}),
    ...(opts.ipv6 ? { family: 6 as const } : opts.ipv4 ? { family: 4 as const } : {}),
  });
  if (!r.ok) {
    printQueryIssues(r.issues, io, "explain");
    return 1;
  }
  io.out(opts.output === "json" ? `${JSON.stringify(r.value, null, 2)}\n` : formatExplanation(r.value));
  return opts.exitCode && r.value.verdict === "deny" ? 2 : 0;
}

export function register(program: Command): void {
  const cmd = program
    .command("explain")
    .description("is a flow allowed, and which tier / policy / rule decided it?")
    .requiredOption("--from <endpoint>", "source: namespace/pod, hep:<name>, a WorkloadEndpoint name, or an IP address")
    .requiredOption("--to <endpoint>", "destination, same forms as --from")
    .option("--protocol <proto>", "TCP, UDP, SCTP, ICMP, ICMPv6, UDPLite or a number", "TCP")
    .option("--port <port>", "destination port (TCP/UDP/SCTP)")
    .option("--src-port <port>", "source port (default: unknown, matches no source port rule)")
    .option("--icmp-type <type>", "ICMP type (default 8 / 128: echo request)")
    .option("--icmp-code <code>", "ICMP code (default 0)")
    .option("--ipv4", "use the endpoints' IPv4 addresses")
    .option("--ipv6", "use the endpoints' IPv6 addresses")
    .option("-o, --output <format>", "text or json", "text")
    .option("--exit-code", "exit 2 when the flow is denied");
  addEngineInputOptions(cmd);
  cmd.action(async (opts: ExplainOptions) => {
    const code = await runExplain(opts);
    if (code !== 0) process.exitCode = code;
  });
}
