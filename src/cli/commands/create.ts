import type { Command } from "commander";
import { DatastoreError } from "../../datastore/index.js";
import { openStoreFromOptions } from "../datastore-config.js";
import { forEachResource, readInputs, reportOutcomes, withStore } from "../resource-io.js";
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
  cmd.action(async (opts: FileOpts & { skipExists?: boolean }) => {
    const { resources, ok } = readInputs(opts.filename ?? [], opts.namespace);
    if (!ok) return;
    await withStore(
      () => openStoreFromOptions(opts),
      async (store) => {
        const outcomes = await forEachResource(resources, async ({ resource }) => {
          try {
            await store.create(resource);
            return {};
          } catch (err) {
            if (opts.skipExists && err instanceof DatastoreError && err.code === "already-exists") return { skipped: true };
            throw err;
          }
        });
        reportOutcomes("created", outcomes);
      },
    );
  });
}
