import type { Command } from "commander";
import type { DatastoreOverrides } from "../../datastore/index.js";
import { addCommonStoreOptions, addNamespaceOption } from "./resource-options.js";

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

export function register(program: Command): void {
  const cmd = program
    .command("label")
    .summary("set or remove labels on a resource")
    .description(
      "Set (key=value) or remove (key- or --remove key) labels of a stored resource (calicoctl label).\n" +
        "Changing the value of an existing label needs --overwrite; removing a label that is not there is an error.",
    )
    .argument("<kind>", "resource kind (hostendpoint, workloadendpoint, networkset, gnp, ...)")
    .argument("<name>", "resource name")
    .argument("[labels...]", "key=value to set, key- to remove")
    .option("--overwrite", "allow changing the value of a label that is already set")
    .option("--remove <key>", "remove a label (calicoctl spelling of key-); repeatable", collect);
  addNamespaceOption(cmd);
  addCommonStoreOptions(cmd);
  cmd.addHelpText(
    "after",
    `
Examples:
  tortie label hep eth0.node1 role=ingress
  tortie label hep eth0.node1 role=edge --overwrite
  tortie label wep node1-k8s-pod-eth0 -n prod team- tier=web
  tortie label gnetset blocklist --remove stale
`,
  );
  cmd.action(async (kindArg: string, name: string, labelArgs: string[], opts: DatastoreOverrides & { overwrite?: boolean; remove?: string[]; namespace?: string }) => (await import("./label-run.js")).runLabel(kindArg, name, labelArgs, opts));
}
