/** `tortie create`: the action (registration, options and help are in create.ts). */
import { DatastoreError } from "../../datastore/index.js";
import { openStoreFromOptions } from "../datastore-config.js";
import { forEachResource, readInputs, reportOutcomes, withStore } from "../resource-io.js";
import type { FileOpts } from "./resource-options.js";

export async function runCreate(opts: FileOpts & { skipExists?: boolean }): Promise<void> {
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
}

