/** `tortie delete`: the action (registration, options and help are in delete.ts). */
import { DatastoreError } from "../../datastore/index.js";
import type { Resource } from "../../model/index.js";
import { CliError, openStoreFromOptions } from "../datastore-config.js";
import { forEachResource, kindFromArg, namespaceFor, readInputs, reportOutcomes, withStore, type InputResource } from "../resource-io.js";
import type { FileOpts } from "./resource-options.js";

export async function runDelete(kindArg: string | undefined, names: string[], opts: FileOpts & { skipNotExists?: boolean }): Promise<void> {
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
}

