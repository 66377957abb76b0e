import type { Command } from "commander";
import type { DatastoreOverrides } from "../../datastore/index.js";
import { addCommonStoreOptions, addNamespaceOption } from "./resource-options.js";

export function register(program: Command): void {
  const cmd = program
    .command("patch")
    .summary("change fields of a resource with a JSON merge patch")
    .description(
      "Apply a JSON merge patch to a stored resource (calicoctl patch). null removes a field; lists are replaced whole.\n" +
        "The patched resource is validated like any other write. If the resource changes while patching, the patch is re-applied to the new version.",
    )
    .argument("<kind>", "resource kind (networkpolicy, gnp, tier, hep, ...)")
    .argument("<name>", "resource name")
    .requiredOption("-p, --patch <json>", "the patch, as JSON");
  addNamespaceOption(cmd);
  addCommonStoreOptions(cmd);
  cmd.addHelpText(
    "after",
    `
Examples:
  tortie patch gnp deny-all -p '{"spec":{"order":500}}'
  tortie patch np allow-dns -n kube-system -p '{"spec":{"selector":"k8s-app == \\"kube-dns\\""}}'
  tortie patch hep eth0.node1 -p '{"metadata":{"labels":{"role":null}}}'     (removes a label)
`,
  );
  cmd.action(async (kindArg: string, name: string, opts: DatastoreOverrides & { patch: string; namespace?: string }) => (await import("./patch-run.js")).runPatch(kindArg, name, opts));
}
