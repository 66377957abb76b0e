/**
 * `tortie lab up|probe|matrix|status|watch|down`: manifests as real network namespaces with a node
 * agent enforcing the datastore's policies, and real packets to ask. See docs/lab.md.
 */
import { Command, Option } from "commander";
import { addDatastoreOptions } from "../datastore-config.js";

export interface LabCommonOptions {
  name?: string;
  stateDir?: string;
  dataDir?: string;
  datastoreType?: string;
  config?: string;
}

export interface UpOptions extends LabCommonOptions {
  filename: string[];
  nodes: string;
  outside?: string;
  agent: "auto" | "tortie" | "builtin";
  dataplane?: "nftables" | "iptables";
}

export function register(program: Command): void {
  const lab = program.command("lab").summary("real namespaces, agents and packets for your manifests (root)").description(
    "Builds node and pod network namespaces from Pod/Namespace manifests, stores the manifests in the\n" +
      "datastore, runs a node agent that enforces them, and answers questions with real packets.",
  );
  const common = (c: Command) => {
    c.option("--name <name>", "lab name (default: the only lab that is up; `lab up`: \"lab\")");
    c.addOption(new Option("--state-dir <dir>", "where lab state lives (default: the data dir)").hideHelp());
    addDatastoreOptions(c);
    return c;
  };

  common(
    lab
      .command("up")
      .description("build a lab from manifests (Namespaces, Pods with status.podIP(s), policies); replaces a lab of the same name")
      .option("-f, --filename <path>", "manifest file or directory; repeatable", (v: string, p: string[]) => [...p, v], [] as string[])
      .option("--nodes <n>", "number of lab nodes (node1…nodeN, linked through one bridge); pods without spec.nodeName are spread over them", "1")
      .option("--outside <ips>", "comma-separated outside addresses to create at once (others are added on first use)")
      .addOption(new Option("--agent <which>", "who programs the nodes").choices(["auto", "tortie", "builtin"]).default("auto"))
      .addOption(new Option("--dataplane <kind>", "the agent's kernel backend").choices(["nftables", "iptables"]).default("nftables")),
  ).action(async (opts: UpOptions, cmd: Command) => (await import("./lab-run.js")).runLabUp(opts, cmd));

  common(
    lab
      .command("probe")
      .description("send one real packet (TCP: connect and echo a byte; UDP: a datagram and its echo; ICMP: ping) and print allow or deny")
      .requiredOption("--from <end>", "ns/pod, hep:<name>, or an outside address")
      .requiredOption("--to <end>", "ns/pod, hep:<name>, or an outside address")
      .option("--protocol <p>", "TCP, UDP, SCTP, ICMP, ICMPv6 or a number", "TCP")
      .option("--port <n>", "destination port")
      .option("--icmp-type <n>", "ICMP type")
      .option("--icmp-code <n>", "ICMP code")
      .option("-6, --ipv6", "use the IPv6 addresses")
      .option("--timeout <ms>", "how long a silent (dropped) probe waits", "500")
      .option("-o, --output <format>", "text or json", "text"),
  ).action(async (opts: LabCommonOptions & { from: string; to: string; protocol: string; port?: string; icmpType?: string; icmpCode?: string; ipv6?: boolean; timeout: string; output: string }) => (await import("./lab-run.js")).runLabProbe(opts));

  common(
    lab
      .command("matrix")
      .description("probe every pod pair with real packets and compare with `tortie matrix` (default: every TCP container port)")
      .option("--protocol <p>", "protocol (default: TCP on every container port)")
      .option("--port <n>", "destination port")
      .option("-6, --ipv6", "use the IPv6 addresses")
      .option("-o, --output <format>", "text or json", "text"),
  ).action(async (opts: LabCommonOptions & { protocol?: string; port?: string; ipv6?: boolean; output: string }) => (await import("./lab-run.js")).runLabMatrix(opts));

  common(lab.command("status").description("what a lab is made of, and the latest change latencies").option("-o, --output <format>", "text or json", "text")).action(async (opts: LabCommonOptions & { output: string }) => (await import("./lab-run.js")).runLabStatus(opts));

  common(lab.command("watch").description("print each datastore change and how long the agent took to program it (Ctrl-C stops)")).action(async (opts: LabCommonOptions) => (await import("./lab-run.js")).runLabWatch(opts));

  common(lab.command("down").description("stop the lab's agents and servers and delete its namespaces").option("--all", "every lab under the state dir")).action(async (opts: LabCommonOptions & { all?: boolean }) => (await import("./lab-run.js")).runLabDown(opts));

  lab
    .command("daemon", { hidden: true })
    .requiredOption("--name <name>")
    .requiredOption("--state-dir <dir>")
    .action(async (opts: { name: string; stateDir: string }) => (await import("./lab-run.js")).runLabDaemonCommand(opts));
}
