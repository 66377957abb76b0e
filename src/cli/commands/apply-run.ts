/** `tortie apply`: the action (registration, options and help are in apply.ts). */
import { writeInputs } from "../resource-io.js";
import type { FileOpts } from "./resource-options.js";

export async function runApply(opts: FileOpts): Promise<void> {
  await writeInputs(opts, "applied", async (store, resource) => {
    await store.apply(resource);
  });
}
