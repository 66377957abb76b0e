/**
 * Which datastore to use, resolved calicoctl-style from (highest first) explicit options (CLI
 * flags), environment variables, and a CalicoAPIConfig-shaped file; the embedded database is the
 * default. Problems are returned as issues, never thrown.
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { issue, type Issue } from "../model/index.js";

export type DatastoreConfig =
  | { type: "embedded"; dataDir: string }
  | {
      type: "etcdv3";
      endpoints: string[];
      caCertFile?: string;
      certFile?: string;
      keyFile?: string;
      /** Inline PEM (config file etcdCACert/etcdCert/etcdKey), used when no file is given. */
      caCert?: string;
      cert?: string;
      key?: string;
      username?: string;
      password?: string;
    };

/** The datastore flags every store-using command accepts (camel-cased like commander produces). */
export interface DatastoreOverrides {
  config?: string;
  datastoreType?: string;
  dataDir?: string;
  etcdEndpoints?: string | string[];
  etcdCaCertFile?: string;
  etcdCertFile?: string;
  etcdKeyFile?: string;
  etcdUsername?: string;
  etcdPassword?: string;
}

export const DEFAULT_CONFIG_FILE = "/etc/tortie/tortie.yaml";

/** /var/lib/tortie for root; otherwise $XDG_STATE_HOME/tortie or ~/.local/state/tortie. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env, uid: number | undefined = process.getuid?.()): string {
  if (uid === 0) return "/var/lib/tortie";
  const state = env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith("/") ? env.XDG_STATE_HOME : join(env.HOME || homedir(), ".local", "state");
  return join(state, "tortie");
}

function splitEndpoints(v: string | string[] | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const list = (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(",")).map((s) => s.trim()).filter((s) => s !== "");
  return list.length ? list : undefined;
}

function normaliseEndpoint(e: string): string {
  return /^[a-z]+:\/\//i.test(e) ? e : `http://${e}`;
}

interface FileSpec {
  datastoreType?: string;
  dataDir?: string;
  etcdEndpoints?: string | string[];
  etcdUsername?: string;
  etcdPassword?: string;
  etcdKeyFile?: string;
  etcdCertFile?: string;
  etcdCACertFile?: string;
  etcdKey?: string;
  etcdCert?: string;
  etcdCACert?: string;
}
const FILE_FIELDS = new Set(["datastoreType", "dataDir", "etcdEndpoints", "etcdUsername", "etcdPassword", "etcdKeyFile", "etcdCertFile", "etcdCACertFile", "etcdKey", "etcdCert", "etcdCACert"]);

function readConfigFile(path: string, explicit: boolean, issues: Issue[]): FileSpec {
  if (!existsSync(path)) {
    if (explicit) issues.push(issue("config-not-found", [], `config file ${path} does not exist`));
    return {};
  }
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, "utf8"));
  } catch (err) {
    issues.push(issue("config-invalid", [], `cannot read config file ${path}: ${(err as Error).message}`));
    return {};
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    issues.push(issue("config-invalid", [], `config file ${path}: expected a CalicoAPIConfig document`));
    return {};
  }
  const d = doc as Record<string, unknown>;
  if (d.kind !== undefined && d.kind !== "CalicoAPIConfig") issues.push(issue("config-invalid", ["kind"], `config file ${path}: kind must be CalicoAPIConfig, not ${String(d.kind)}`));
  const spec = (d.spec ?? {}) as Record<string, unknown>;
  if (typeof spec !== "object" || Array.isArray(spec)) {
    issues.push(issue("config-invalid", ["spec"], `config file ${path}: spec must be a mapping`));
    return {};
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(spec)) {
    if (!FILE_FIELDS.has(k)) {
      issues.push(issue("config-unknown-field", ["spec", k], `config file ${path}: unknown field spec.${k}`, "warning"));
      continue;
    }
    if (k === "etcdEndpoints" && Array.isArray(v) && v.every((x) => typeof x === "string")) out[k] = v;
    else if (typeof v === "string") out[k] = v;
    else issues.push(issue("config-invalid", ["spec", k], `config file ${path}: spec.${k} must be a string`));
  }
  return out as FileSpec;
}

/**
 * Resolves the datastore to use. `issues` with severity error mean the configuration is unusable
 * (the config is then undefined).
 */
export function resolveDatastoreConfig(
  overrides: DatastoreOverrides = {},
  env: NodeJS.ProcessEnv = process.env,
): { config: DatastoreConfig | undefined; issues: Issue[] } {
  const issues: Issue[] = [];
  const file = readConfigFile(overrides.config ?? env.TORTIE_CONFIG ?? DEFAULT_CONFIG_FILE, overrides.config !== undefined || env.TORTIE_CONFIG !== undefined, issues);
  const pick = <T>(...vals: Array<T | undefined | "">): T | undefined => vals.find((v) => v !== undefined && v !== "") as T | undefined;

  const rawType = pick(overrides.datastoreType, env.DATASTORE_TYPE, file.datastoreType) ?? "embedded";
  const type = rawType.toLowerCase();
  if (issues.some((i) => i.severity === "error")) return { config: undefined, issues };
  if (type === "embedded" || type === "lmdb") {
    const dataDir = pick(overrides.dataDir, env.TORTIE_DATA_DIR, file.dataDir) ?? defaultDataDir(env);
    return { config: { type: "embedded", dataDir }, issues };
  }
  if (type === "etcdv3" || type === "etcd") {
    const endpoints = splitEndpoints(pick<string | string[]>(overrides.etcdEndpoints, env.ETCD_ENDPOINTS, file.etcdEndpoints));
    if (!endpoints) {
      issues.push(issue("config-missing-endpoints", ["spec", "etcdEndpoints"], "datastore type etcdv3 needs etcd endpoints (--etcd-endpoints, ETCD_ENDPOINTS or spec.etcdEndpoints)"));
      return { config: undefined, issues };
    }
    const cfg: DatastoreConfig = { type: "etcdv3", endpoints: endpoints.map(normaliseEndpoint) };
    const set = (k: "caCertFile" | "certFile" | "keyFile" | "caCert" | "cert" | "key" | "username" | "password", v: string | undefined) => {
      if (v !== undefined) cfg[k] = v;
    };
    set("caCertFile", pick(overrides.etcdCaCertFile, env.ETCD_CA_CERT_FILE, file.etcdCACertFile));
    set("certFile", pick(overrides.etcdCertFile, env.ETCD_CERT_FILE, file.etcdCertFile));
    set("keyFile", pick(overrides.etcdKeyFile, env.ETCD_KEY_FILE, file.etcdKeyFile));
    set("caCert", pick(file.etcdCACert));
    set("cert", pick(file.etcdCert));
    set("key", pick(file.etcdKey));
    set("username", pick(overrides.etcdUsername, env.ETCD_USERNAME, file.etcdUsername));
    set("password", pick(overrides.etcdPassword, env.ETCD_PASSWORD, file.etcdPassword));
    return { config: cfg, issues };
  }
  if (type === "kubernetes") {
    issues.push(issue("config-unsupported-datastore", ["spec", "datastoreType"], "datastore type kubernetes is not supported by tortie; use embedded or etcdv3"));
  } else {
    issues.push(issue("config-unknown-datastore", ["spec", "datastoreType"], `unknown datastore type '${rawType}' (expected embedded or etcdv3)`));
  }
  return { config: undefined, issues };
}
