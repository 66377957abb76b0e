import type { Command } from "commander";
import { addCommonStoreOptions, addFileOptions, addNamespaceOption, type FileOpts } from "./resource-options.js";

export function register(program: Command): void {
  const cmd = program
    .command("delete")
    .summary("delete resources by file or by kind and name")
    .description(
      "Delete the resources named in files, or KIND NAME... (calicoctl delete).\n" +
        "A resourceVersion in a file must still match. Built-in tiers and tiers that still hold policies cannot be deleted.",
    )
    .argument("[kind]", "resource kind: singular, plural or short name (networkpolicy, gnp, tier, hep, ...)")
    .argument("[names...]", "names of the resources to delete");
  addFileOptions(cmd, false);
  addNamespaceOption(cmd);
  cmd.option("--skip-not-exists", "treat resources that do not exist as success");
  addCommonStoreOptions(cmd);
  cmd.addHelpText(
    "after",
    `
Examples:
  tortie delete -f policy.yaml
  tortie delete networkpolicy allow-dns -n kube-system
  tortie delete gnp deny-all log-all
  tortie delete hep eth0.node1 --skip-not-exists
`,
  );
  cmd.action(async (kindArg: string | undefined, names: string[], opts: FileOpts & { skipNotExists?: boolean }) => (await import("./delete-run.js")).runDelete(kindArg, names, opts));
}
