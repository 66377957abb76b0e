/** `tortie apply`: the action (registration, options and help are in apply.ts). */
import { openStoreFromOptions } from "../datastore-config.js";
import { forEachResource, readInputs, reportOutcomes, withStore } from "../resource-io.js";
import type { FileOpts } from "./resource-options.js";

export async function runApply(opts: FileOpts): Promise<void> {
  const { resources, ok } = readInputs(opts.filename ?? [], opts.namespace);
  if (!ok) return;
  await withStore(
    () => openStoreFromOptions(opts),
    async (store) => {
      const outcomes = await forEachResource(resources, async ({ resource }) => {
        await store.apply(resource);
      });
      reportOutcomes("applied", outcomes);
    },
  );
}
