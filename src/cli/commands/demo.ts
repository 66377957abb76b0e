/**
 * `tortie demo`: the README's first command. Brings up the demo lab (examples/demo: front end → back
 * end → database, plus a default deny) on the embedded datastore with an agent, then prints a short
 * tour of copy-pasteable commands. Without root it says what it needs and shows the offline
 * commands, which work on the same manifests without a kernel. Running it again replaces the lab.
 */
import { Command, Option } from "commander";
import { addDatastoreOptions } from "../datastore-config.js";
import type { UpOptions } from "./lab.js";

export function register(program: Command): void {
  const cmd = program
    .command("demo")
    .summary("bring up the demo lab (needs root) and print a tour")
    .description(
      "Builds the demo cluster of examples/demo (web/frontend → api/backend → db/database, a stray\n" +
        "default/debug pod, and a default deny) as network namespaces, stores it in the datastore,\n" +
        "starts an agent that enforces it, and prints what to try next. Running it again replaces the demo lab.",
    )
    .option("--nodes <n>", "lab nodes (pods without spec.nodeName are spread over them)", "1")
    .addOption(new Option("--agent <which>", "who programs the nodes").choices(["auto", "tortie", "builtin"]).default("auto"))
    .addOption(new Option("--dataplane <kind>", "the agent's kernel backend").choices(["nftables", "iptables"]).default("nftables"))
    .addOption(new Option("--state-dir <dir>").hideHelp())
    .addOption(new Option("--name <name>", "lab name (tests run their own demo beside a user's)").default("demo").hideHelp());
  addDatastoreOptions(cmd);
  cmd.action(async (opts: Omit<UpOptions, "filename">, c: Command) => (await import("./demo-run.js")).runDemo(opts, c));
}
