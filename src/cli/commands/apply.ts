import type { Command } from "commander";
import { addCommonStoreOptions, addFileOptions, addNamespaceOption, type FileOpts } from "./resource-options.js";

export function register(program: Command): void {
  const cmd = program
    .command("apply")
    .summary("create or update resources from files")
    .description(
      "Create resources that do not exist and update those that do (calicoctl apply).\n" +
        "A resource that carries metadata.resourceVersion is only updated if it still matches the stored one.\n" +
        "Every document is validated first; if any is invalid, nothing is changed.",
    );
  addFileOptions(cmd, true);
  addNamespaceOption(cmd);
  addCommonStoreOptions(cmd);
  cmd.addHelpText(
    "after",
    `
Examples:
  tortie apply -f policy.yaml                 apply every document in a file
  tortie apply -f policies/                   a directory, recursively (.yaml, .yml, .json)
  cat policy.yaml | tortie apply -f -         from standard input
  tortie apply -f np.yaml -n production       namespaced resources without a namespace go to production
  tortie apply -f p.yaml --datastore-type etcdv3 --etcd-endpoints https://10.0.0.1:2379
`,
  );
  cmd.action(async (opts: FileOpts) => (await import("./apply-run.js")).runApply(opts));
}
