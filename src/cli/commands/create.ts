import type { Command } from "commander";
import { addCommonStoreOptions, addFileOptions, addNamespaceOption, type FileOpts } from "./resource-options.js";

export function register(program: Command): void {
  const cmd = program
    .command("create")
    .summary("create resources from files")
    .description("Create resources; a resource that already exists is an error unless --skip-exists is given (calicoctl create).");
  addFileOptions(cmd, true);
  addNamespaceOption(cmd);
  cmd.option("--skip-exists", "treat resources that already exist as success and leave them unchanged");
  addCommonStoreOptions(cmd);
  cmd.addHelpText(
    "after",
    `
Examples:
  tortie create -f tiers.yaml                 fails for any tier that already exists
  tortie create -f tiers.yaml --skip-exists   creates only the missing ones
`,
  );
  cmd.action(async (opts: FileOpts & { skipExists?: boolean }) => (await import("./create-run.js")).runCreate(opts));
}
