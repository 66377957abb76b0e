/** `tortie replace`: the action (registration, options and help are in replace.ts). */
import { writeInputs } from "../resource-io.js";
import type { FileOpts } from "./resource-options.js";

export async function runReplace(opts: FileOpts): Promise<void> {
  await writeInputs(opts, "replaced", async (store, resource) => {
    await store.update(resource);
  });
}
