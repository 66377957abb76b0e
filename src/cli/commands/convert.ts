/**
 * `tortie convert -f FILE [-o yaml|json]`: prints the Calico form of Kubernetes NetworkPolicies
 * (exactly as Calico converts them; other resources pass through unchanged).
 * `tortie convert --legacy "<statement>[; ...]" [-n NS] [--pod NAME] [--selector SEL]`: converts a
 * legacy `projectcalico.org/policy` annotation into a v3 NetworkPolicy.
 * Exit 1 when the input is invalid or nothing could be converted.
 */
import type { Command } from "commander";
import type { ConvertOptions } from "./convert-run.js";

export function register(program: Command): void {
  program
    .command("convert")
    .description("print the Calico form of Kubernetes NetworkPolicies, or convert a legacy policy annotation")
    .option("-f, --filename <path>", "file, directory or - for stdin; repeatable", (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option("--legacy <statements>", 'legacy projectcalico.org/policy annotation, e.g. "allow tcp from label role=frontend to ports 80"')
    .option("-n, --namespace <ns>", "namespace of the pod the legacy annotation was on", "default")
    .option("--pod <name>", "pod the legacy annotation was on (names the policy)")
    .option("--selector <selector>", "selector for the legacy policy (default: the pods of the namespace)")
    .option("--name <name>", "name of the converted legacy policy")
    .option("-o, --output <format>", "yaml or json", "yaml")
    .action(async (opts: ConvertOptions) => {
      const { runConvert } = await import("./convert-run.js");
      const code = await runConvert(opts);
      if (code !== 0) process.exitCode = code;
    });
}
