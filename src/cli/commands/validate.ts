/**
 * `tortie validate -f FILE|DIR|- [-f ...] [-o text|json]`: checks manifests the way
 * `calicoctl create` / `kubectl create` would judge them, without a datastore, and prints every
 * issue. Exit status 1 when there is an error (warnings alone do not fail).
 */
import type { Command } from "commander";
import type { ValidateOptions } from "./validate-run.js";

export function register(program: Command): void {
  program
    .command("validate")
    .description("check manifests against Calico's and Kubernetes' rules, without storing anything")
    .option(
      "-f, --filename <path>",
      "file, directory (read recursively: .yaml, .yml, .json) or - for stdin; repeatable",
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option("-o, --output <format>", "text or json", "text")
    .action(async (opts: ValidateOptions) => {
      const { runValidate } = await import("./validate-run.js");
      const code = await runValidate(opts);
      if (code !== 0) process.exitCode = code;
    });
}
