/**
 * Datastore selection for every command that touches the store, calicoctl-style: flags, then
 * environment (DATASTORE_TYPE, ETCD_ENDPOINTS, ...), then a CalicoAPIConfig file (--config,
 * default /etc/tortie/tortie.yaml); the embedded database is the default.
 *
 * Other commands (explain, matrix, agent) use it as:
 *
 *   addDatastoreOptions(cmd);
 *   cmd.action(async (opts) => { const store = await openStoreFromOptions(opts); ... });
 *
 * Verb registration imports this file, so it must stay light: the datastore (LMDB, etcd client,
 * validation) is imported only when a command resolves or opens a store. See docs/cli-startup.md.
 */
import { Option, type Command } from "commander";
import type { DatastoreConfig, DatastoreOverrides, OpenStoreOptions, Store } from "../datastore/index.js";
import { formatPath, type Issue } from "../model/index.js";

/**
 * The datastore's DEFAULT_CONFIG_FILE, repeated here for the help text so that `--help` does not
 * load the datastore; startup.test.ts checks that the two agree.
 */
export const DEFAULT_CONFIG_FILE = "/etc/tortie/tortie.yaml";

/** A problem that stops a command before it does anything (bad configuration, bad arguments). */
export class CliError extends Error {
  readonly code = "cli";
  constructor(
    message: string,
    readonly issues: Issue[] = [],
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** Adds the datastore flags (all optional) to a command. */
export function addDatastoreOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("-c, --config <file>", `CalicoAPIConfig file with the datastore settings (default ${DEFAULT_CONFIG_FILE})`))
    .addOption(new Option("--datastore-type <type>", "embedded (default) or etcdv3 [env DATASTORE_TYPE]").choices(["embedded", "etcdv3"]))
    .addOption(new Option("--data-dir <dir>", "embedded database directory [env TORTIE_DATA_DIR]"))
    .addOption(new Option("--etcd-endpoints <urls>", "comma-separated etcd client URLs [env ETCD_ENDPOINTS]"))
    .addOption(new Option("--etcd-ca-cert-file <file>", "CA certificate that signed the etcd servers [env ETCD_CA_CERT_FILE]"))
    .addOption(new Option("--etcd-cert-file <file>", "client certificate for etcd [env ETCD_CERT_FILE]"))
    .addOption(new Option("--etcd-key-file <file>", "client key for etcd [env ETCD_KEY_FILE]"))
    .addOption(new Option("--etcd-username <name>", "etcd user [env ETCD_USERNAME]"))
    .addOption(new Option("--etcd-password <password>", "etcd password [env ETCD_PASSWORD]"));
}

function describeIssue(i: Issue): string {
  const where = i.path.length ? ` (${formatPath(i.path)})` : "";
  return `${i.message}${where}`;
}

/**
 * Resolves the datastore configuration from command options and the environment. Throws
 * CliError when it is unusable; warnings go to `onWarning` (default stderr). Async only because
 * the datastore module is loaded on first use.
 */
export async function datastoreConfigFromOptions(
  opts: DatastoreOverrides,
  env: NodeJS.ProcessEnv = process.env,
  onWarning: (msg: string) => void = (m) => process.stderr.write(`tortie: warning: ${m}\n`),
): Promise<DatastoreConfig> {
  const { resolveDatastoreConfig } = await import("../datastore/index.js");
  const { config, issues } = resolveDatastoreConfig(pickOverrides(opts), env);
  for (const i of issues) if (i.severity === "warning") onWarning(describeIssue(i));
  const errors = issues.filter((i) => i.severity === "error");
  if (!config || errors.length) {
    throw new CliError(`invalid datastore configuration: ${errors.map(describeIssue).join("; ") || "unknown problem"}`, errors);
  }
  return config;
}

/** Opens the store the options (flags/env/config file) select; the caller closes it. */
export async function openStoreFromOptions(opts: DatastoreOverrides, extra: OpenStoreOptions & { env?: NodeJS.ProcessEnv } = {}): Promise<Store> {
  const { env, ...storeOpts } = extra;
  const config = await datastoreConfigFromOptions(opts, env);
  const { openStore } = await import("../datastore/index.js");
  return openStore(config, storeOpts);
}

/** Only the datastore fields of a command's parsed options. */
function pickOverrides(o: DatastoreOverrides): DatastoreOverrides {
  const out: DatastoreOverrides = {};
  if (o.config !== undefined) out.config = o.config;
  if (o.datastoreType !== undefined) out.datastoreType = o.datastoreType;
  if (o.dataDir !== undefined) out.dataDir = o.dataDir;
  if (o.etcdEndpoints !== undefined) out.etcdEndpoints = o.etcdEndpoints;
  if (o.etcdCaCertFile !== undefined) out.etcdCaCertFile = o.etcdCaCertFile;
  if (o.etcdCertFile !== undefined) out.etcdCertFile = o.etcdCertFile;
  if (o.etcdKeyFile !== undefined) out.etcdKeyFile = o.etcdKeyFile;
  if (o.etcdUsername !== undefined) out.etcdUsername = o.etcdUsername;
  if (o.etcdPassword !== undefined) out.etcdPassword = o.etcdPassword;
  return out;
}
