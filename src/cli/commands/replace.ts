import type { Command } from "commander";
import { addCommonStoreOptions, addFileOptions, addNamespaceOption, type FileOpts } from "./resource-options.js";

export function register(program: Command): void {
  const cmd = program
    .command("replace")
    .summary("replace existing resources from files")
    .description(
      "Replace resources that already exist (calicoctl replace); a missing resource is an error.\n" +
        "With metadata.resourceVersion set, the stored version must still match; without it the current version is replaced.",
    );
  addFileOptions(cmd, true);
  addNamespaceOption(cmd);
  addCommonStoreOptions(cmd);
  cmd.addHelpText(
    "after",
    `
Examples:
  tortie get gnp deny-all -o yaml > p.yaml && $EDITOR p.yaml && tortie replace -f p.yaml
      (fails with a conflict if someone changed the policy in the meantime)
`,
  );
  cmd.action(async (opts: FileOpts) => (await import("./replace-run.js")).runReplace(opts));
}
