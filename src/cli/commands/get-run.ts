/** `tortie get`: the action (registration, options and help are in get.ts). */
import type { DatastoreOverrides, StoredResource } from "../../datastore/index.js";
import { describeKey } from "../../datastore/index.js";
import { CliError, openStoreFromOptions } from "../datastore-config.js";
import { failLine, kindFromArg, namespaceFor, printResources, withStore } from "../resource-io.js";
import type { OutputFormat } from "./resource-options.js";

export async function runGet(kindArg: string, names: string[], opts: DatastoreOverrides & { namespace?: string; allNamespaces?: boolean; output: OutputFormat }): Promise<void> {
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
}

