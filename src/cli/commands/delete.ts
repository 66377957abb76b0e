import type { Command } from "commander";
import { DatastoreError } from "../../datastore/index.js";
import type { Resource } from "../../model/index.js";
import { CliError, openStoreFromOptions } from "../datastore-config.js";
import { forEachResource, kindFromArg, namespaceFor, readInputs, reportOutcomes, withStore, type InputResource } from "../resource-io.js";
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
  cmd.action(async (kindArg: string | undefined, names: string[], opts: FileOpts & { skipNotExists?: boolean }) => {
    let items: InputResource[];
    if (opts.filename?.length) {
      if (kindArg !== undefined) throw new CliError("give either -f FILE or KIND NAME..., not both");
      const read = readInputs(opts.filename, opts.namespace);
      if (!read.ok) return;
      items = read.resources;
    } else {
      if (kindArg === undefined || names.length === 0) throw new CliError("nothing to delete: give -f FILE or KIND NAME...");
      const kind = kindFromArg(kindArg);
      const ns = namespaceFor(kind, opts.namespace);
      items = names.map((name) => ({
        kind,
        where: undefined,
        resource: { apiVersion: kind.apiVersion, kind: kind.kind, metadata: ns === undefined ? { name } : { name, namespace: ns } } as Resource,
      }));
    }
    await withStore(
      () => openStoreFromOptions(opts),
      async (store) => {
        const outcomes = await forEachResource(items, async ({ kind, resource }) => {
          try {
            const rv = resource.metadata.resourceVersion;
            await store.delete(kind.id, resource.metadata.namespace, resource.metadata.name, rv ? { resourceVersion: rv } : {});
            return {};
          } catch (err) {
            if (opts.skipNotExists && err instanceof DatastoreError && err.code === "not-found") return { skipped: true };
            throw err;
          }
        });
        reportOutcomes("deleted", outcomes);
      },
    );
  });
}
