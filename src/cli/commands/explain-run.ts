/**
 * `tortie explain`'s action, and the input plumbing shared by matrix and diff (loadCluster & co).
 * Registration, options and help are in explain.ts.
 */
import { Cluster, formatExplanation, parseFailsafeList, type ClusterOptions, type FailsafeConfig, DEFAULT_FAILSAFE } from "../../engine/index.js";
import type { Issue, Resource } from "../../model/index.js";
import { loadManifests } from "../../validate/index.js";
import { openStoreFromOptions } from "../datastore-config.js";
import { formatIssues } from "../output.js";
import { defaultEngineIO, intOption, manifestInputs, type EngineIO, type EngineInputOptions } from "./engine-io.js";

export type { EngineIO } from "./engine-io.js";

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
    const loaded = loadManifests(await manifestInputs(files, io));
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
