/** `tortie validate`'s action (registration, options and help are in validate.ts). */
import type { Issue } from "../../model/index.js";
import { loadManifests } from "../../validate/index.js";
import { countIssues, formatIssues, useColor } from "../output.js";
import { defaultEngineIO, manifestInputs, type EngineIO } from "./engine-io.js";

export interface ValidateOptions {
  filename: string[];
  output: string;
}

/** The engine commands' IO; validate's colour follows stdout, where its report goes. */
export type ValidateIO = EngineIO;

const defaultIO = (): ValidateIO => ({ ...defaultEngineIO(), color: useColor(process.stdout) });

/** The command body; returns the exit status. */
export async function runValidate(opts: ValidateOptions, io: ValidateIO = defaultIO()): Promise<number> {
  if (opts.output !== "text" && opts.output !== "json") {
    io.err(`tortie validate: unknown output format "${opts.output}" (use text or json)\n`);
    return 1;
  }
  if (opts.filename.length === 0) {
    io.err("tortie validate: give at least one -f FILE|DIR|-\n");
    return 1;
  }
  const result = loadManifests(await manifestInputs(opts.filename, io));
  const issues: Issue[] = [...result.issues];
  if (result.resources.length === 0 && issues.length === 0) {
    issues.push({ code: "no-resources", path: [], severity: "error", message: "no resources found in the input" });
  }
  const counts = countIssues(issues);

  if (opts.output === "json") {
    io.out(
      `${JSON.stringify(
        {
          valid: counts.errors === 0,
          resources: result.resources.map((r) => ({
            kind: r.resource.kind,
            apiVersion: r.resource.apiVersion,
            name: r.resource.metadata.name,
            ...(r.resource.metadata.namespace !== undefined ? { namespace: r.resource.metadata.namespace } : {}),
            ...(r.source ? { source: r.source } : {}),
          })),
          issues,
        },
        null,
        2,
      )}\n`,
    );
    return counts.errors > 0 ? 1 : 0;
  }

  io.out(formatIssues(issues, { sources: result.sources, color: io.color }));
  const n = result.resources.length;
  const valid = `${n} resource${n === 1 ? "" : "s"} valid`;
  if (counts.errors > 0) {
    io.out(`\n${counts.text}; ${valid}\n`);
    return 1;
  }
  io.out(`${issues.length > 0 ? "\n" : ""}${valid}${counts.warnings ? ` (${counts.text})` : ""}\n`);
  return 0;
}
