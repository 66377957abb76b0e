import { Option, type Command } from "commander";
import type { StoredResource } from "../../datastore/index.js";
import type { DatastoreOverrides } from "../../datastore/index.js";
import { describeKey } from "../../datastore/index.js";
import { CliError, openStoreFromOptions } from "../datastore-config.js";
import { failLine, kindFromArg, namespaceFor, OUTPUT_FORMATS, printResources, withStore, type OutputFormat } from "../resource-io.js";
import { addCommonStoreOptions, addNamespaceOption } from "./resource-options.js";

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
  cmd.action(async (kindArg: string, names: string[], opts: DatastoreOverrides & { namespace?: string; allNamespaces?: boolean; output: OutputFormat }) => {
    const kind = kindFromArg(kindArg);
    if (opts.allNamespaces && opts.namespace !== undefined) throw new CliError("--all-namespaces and --namespace cannot be used together");
    if (opts.allNamespaces && names.length) throw new CliError("cannot use --all-namespaces flag for getting a single resource");
    const ns = opts.allNamespaces && kind.namespaced ? undefined : namespaceFor(kind, opts.namespace);
    await withStore(
      () => openStoreFromOptions(opts),
      async (store) => {
        if (names.length === 0) {
          const { items, revision } = await store.list(kind.id, ns);
          printResources(kind, items, opts.output, { single: false, showNamespace: opts.allNamespaces === true, revision });
          return;
        }
        const found: StoredResource[] = [];
        for (const name of names) {
          const r = await store.get(kind.id, ns, name);
          if (r) found.push(r);
          else failLine(`resource does not exist: ${describeKey(kind.id, ns, name)}`);
        }
        if (found.length || names.length > 1) printResources(kind, found, opts.output, { single: names.length === 1, showNamespace: false });
      },
    );
  });
}
