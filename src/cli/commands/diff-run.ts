/** `tortie diff`'s action (registration, options and help are in diff.ts). */
import { formatDiff, tryDiff } from "../../engine/index.js";
import { loadCluster, printQueryIssues } from "./explain-run.js";
import { defaultEngineIO, intOption, type EngineIO, type EngineInputOptions } from "./engine-io.js";

export interface DiffOptions extends EngineInputOptions {
  protocol: string;
  port?: string[];
  ipv6?: boolean;
  output: string;
  exitCode?: boolean;
}

export async function runDiff(opts: DiffOptions, io: EngineIO = defaultEngineIO()): Promise<number> {
  if (opts.output !== "text" && opts.output !== "json") {
    io.err(`tortie diff: unknown output format "${opts.output}" (use text or json)\n`);
    return 1;
  }
  const files = opts.filename ?? [];
  if (files.length === 0 || files.length > 2) {
    io.err("tortie diff: give -f OLD -f NEW (or a single -f NEW to compare against the datastore)\n");
    return 1;
  }
  const ports = (opts.port ?? []).map((p) => intOption(p)!);
  if (ports.some((p) => Number.isNaN(p))) {
    io.err("tortie diff: --port must be a number\n");
    return 1;
  }
  const before = await loadCluster(files.length === 2 ? [files[0]!] : undefined, opts, io, "diff");
  if (!before) return 1;
  const after = await loadCluster([files[files.length - 1]!], opts, io, "diff");
  if (!after) return 1;
  const r = tryDiff(before, after, {
    protocol: /^[0-9]+$/.test(opts.protocol) ? Number(opts.protocol) : opts.protocol,
    ports,
    family: opts.ipv6 ? 6 : 4,
  });
  if (!r.ok) {
    printQueryIssues(r.issues, io, "diff");
    return 1;
  }
  io.out(opts.output === "json" ? `${JSON.stringify(r.value, null, 2)}\n` : formatDiff(r.value));
  return opts.exitCode && r.value.allowed.length + r.value.denied.length > 0 ? 2 : 0;
}
