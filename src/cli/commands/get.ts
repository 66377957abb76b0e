import { Option, type Command } from "commander";
import type { DatastoreOverrides } from "../../datastore/index.js";
import { addCommonStoreOptions, addNamespaceOption, OUTPUT_FORMATS, type OutputFormat } from "./resource-options.js";

export function register(program: Command): void {
  const cmd = program
    .command("get")
    .summary("show resources")
    .description(
      "Show one kind of resource (calicoctl get): all of them, or the NAMEs given.\n" +
        "KIND accepts calicoctl's singular, plural and short names, case-insensitively.",
    )
    .argument("<kind>", "networkpolicy|np|pol, globalnetworkpolicy|gnp, tier, networkset|netsets, globalnetworkset|gnetsets, hostendpoint|hep, profile|pro, workloadendpoint|wep, ...")
    .argument("[names...]", "only these resources");
  addNamespaceOption(cmd);
  cmd
    .option("-A, --all-namespaces", "namespaced kinds: every namespace (adds a NAMESPACE column)")
    .addOption(new Option("-o, --output <format>", "ps (table), wide (more columns), yaml, json or name").choices(OUTPUT_FORMATS).default("ps"));
  addCommonStoreOptions(cmd);
  cmd.addHelpText(
    "after",
    `
Examples:
  tortie get gnp                              global policies as a table (NAME TIER)
  tortie get np -A -o wide                    policies of every namespace with ORDER and SELECTOR
  tortie get networkpolicy allow-dns -n kube-system -o yaml
  tortie get tiers -o json
  tortie get hep -o name
`,
  );
  cmd.action(async (kindArg: string, names: string[], opts: DatastoreOverrides & { namespace?: string; allNamespaces?: boolean; output: OutputFormat }) => (await import("./get-run.js")).runGet(kindArg, names, opts));
}
