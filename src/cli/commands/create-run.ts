/** `tortie create`: the action (registration, options and help are in create.ts). */
import { DatastoreError } from "../../datastore/index.js";
import { writeInputs } from "../resource-io.js";
import type { FileOpts } from "./resource-options.js";

export async function runCreate(opts: FileOpts & { skipExists?: boolean }): Promise<void> {
  await writeInputs(opts, "created", async (store, resource) => {
    try {
      await store.create(resource);
      return {};
    } catch (err) {
      if (opts.skipExists && err instanceof DatastoreError && err.code === "already-exists") return { skipped: true };
      throw err;
    }
  });
}
