/** `tortie matrix`'s action (registration, options and help are in matrix.ts). */
import { formatMatrix } from "../../engine/index.js";
import { loadCluster, printQueryIssues } from "./explain-run.js";
import { defaultEngineIO, intOption, type EngineIO, type EngineInputOptions } from "./engine-io.js";

export interface MatrixOptions extends EngineInputOptions {
  protocol: string;
  port?: string;
  icmpType?: string;
  icmpCode?: string;
  ipv6?: boolean;
  output: string;
}

export async function runMatrix(opts: MatrixOptions, io: EngineIO = defaultEngineIO()): Promise<number> {
  if (opts.output !== "text" && opts.output !== "json") {
    io.err(`tortie matrix: unknown output format "${opts.output}" (use text or json)\n`);
    return 1;
  }
  const port = intOption(opts.port);
  const icmpType = intOption(opts.icmpType);
  const icmpCode = intOption(opts.icmpCode);
  if ([port, icmpType, icmpCode].some((v) => Number.isNaN(v))) {
    io.err("tortie matrix: --port, --icmp-type and --icmp-code must be numbers\n");
    return 1;
  }
  const cluster = await loadCluster(opts.filename, opts, io, "matrix");
  if (!cluster) return 1;
  const r = cluster.tryMatrix({
    protocol: /^[0-9]+$/.test(opts.protocol) ? Number(opts.protocol) : opts.protocol,
    ...(port !== undefined ? { port } : {}),
    ...(icmpType !== undefined ? { icmp: { type: icmpType, ...(icmpCode !== undefined ? { code: icmpCode } : {}) } } : {}),
    family: opts.ipv6 ? 6 : 4,
  });
  if (!r.ok) {
    printQueryIssues(r.issues, io, "matrix");
    return 1;
  }
  io.out(opts.output === "json" ? `${JSON.stringify(r.value)}\n` : formatMatrix(r.value));
  return 0;
}
