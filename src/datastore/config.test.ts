import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { defaultDataDir, resolveDatastoreConfig, type DatastoreOverrides } from "./config.js";

const dir = mkdtempSync(join(tmpdir(), `tortie-cfg-${process.pid}-`));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
// An empty config file stands in for "no /etc/tortie/tortie.yaml" so the machine's own file cannot leak in.
const NOFILE = file("empty.yaml", "");

describe("defaultDataDir", () => {
  it.each([
    [{ HOME: "/home/u" }, 0, "/var/lib/tortie"],
    [{ HOME: "/home/u" }, 1000, "/home/u/.local/state/tortie"],
    [{ HOME: "/home/u", XDG_STATE_HOME: "/xdg" }, 1000, "/xdg/tortie"],
    [{ HOME: "/home/u", XDG_STATE_HOME: "relative" }, 1000, "/home/u/.local/state/tortie"], // XDG spec: relative paths are ignored
  ])("%j uid %i → %s", (env, uid, want) => {
    expect(defaultDataDir(env as NodeJS.ProcessEnv, uid)).toBe(want);
  });
});

describe("resolveDatastoreConfig", () => {
  const etcdFile = file(
    "etcd.yaml",
    `apiVersion: projectcalico.org/v3
kind: CalicoAPIConfig
metadata: {}
spec:
  datastoreType: etcdv3
  etcdEndpoints: https://10.0.0.1:2379, https://10.0.0.2:2379
  etcdCACertFile: /etc/tortie/ca.pem
  etcdUsername: tortie
  etcdPassword: s3cret
`,
  );
  const cases: Array<[string, DatastoreOverrides, NodeJS.ProcessEnv, unknown]> = [
    ["nothing: embedded in the default dir", { config: undefined }, { TORTIE_CONFIG: NOFILE, HOME: "/h" }, { type: "embedded", dataDir: defaultDataDir({ HOME: "/h" }) }],
    ["TORTIE_DATA_DIR", {}, { TORTIE_CONFIG: NOFILE, TORTIE_DATA_DIR: "/d" }, { type: "embedded", dataDir: "/d" }],
    ["--data-dir beats the environment", { dataDir: "/flag" }, { TORTIE_CONFIG: NOFILE, TORTIE_DATA_DIR: "/d" }, { type: "embedded", dataDir: "/flag" }],
    [
      "environment etcd",
      {},
      { TORTIE_CONFIG: NOFILE, DATASTORE_TYPE: "etcdv3", ETCD_ENDPOINTS: "http://a:2379,b:2379", ETCD_CERT_FILE: "/c", ETCD_KEY_FILE: "/k", ETCD_CA_CERT_FILE: "/ca", ETCD_USERNAME: "u", ETCD_PASSWORD: "p" },
      { type: "etcdv3", endpoints: ["http://a:2379", "http://b:2379"], certFile: "/c", keyFile: "/k", caCertFile: "/ca", username: "u", password: "p" },
    ],
    [
      "config file",
      { config: etcdFile },
      {},
      { type: "etcdv3", endpoints: ["https://10.0.0.1:2379", "https://10.0.0.2:2379"], caCertFile: "/etc/tortie/ca.pem", username: "tortie", password: "s3cret" },
    ],
    [
      "flags beat environment beats file",
      { config: etcdFile, etcdEndpoints: "https://flag:2379" },
      { ETCD_USERNAME: "envuser" },
      { type: "etcdv3", endpoints: ["https://flag:2379"], caCertFile: "/etc/tortie/ca.pem", username: "envuser", password: "s3cret" },
    ],
    ["--datastore-type embedded overrides a file's etcdv3", { config: etcdFile, datastoreType: "embedded", dataDir: "/x" }, {}, { type: "embedded", dataDir: "/x" }],
  ];
  it.each(cases)("%s", (_label, overrides, env, want) => {
    const { config, issues } = resolveDatastoreConfig(overrides, env);
    expect(issues.filter((i) => i.severity === "error")).toEqual([]);
    expect(config).toEqual(want);
  });

  const bad: Array<[string, DatastoreOverrides, NodeJS.ProcessEnv, string]> = [
    ["unknown type", { datastoreType: "mysql" }, { TORTIE_CONFIG: NOFILE }, "config-unknown-datastore"],
    ["kubernetes is not supported", {}, { TORTIE_CONFIG: NOFILE, DATASTORE_TYPE: "kubernetes" }, "config-unsupported-datastore"],
    ["etcd without endpoints", { datastoreType: "etcdv3" }, { TORTIE_CONFIG: NOFILE }, "config-missing-endpoints"],
    ["explicit --config that does not exist", { config: join(dir, "nope.yaml") }, {}, "config-not-found"],
    ["config file of another kind", { config: file("wrongkind.yaml", "kind: Tier\nspec: {}\n") }, {}, "config-invalid"],
    ["config file that is not YAML", { config: file("broken.yaml", "spec: [\n") }, {}, "config-invalid"],
    ["config field of the wrong type", { config: file("wrongtype.yaml", "kind: CalicoAPIConfig\nspec:\n  etcdUsername: [a]\n") }, {}, "config-invalid"],
  ];
  it.each(bad)("rejects: %s", (_label, overrides, env, code) => {
    const { config, issues } = resolveDatastoreConfig(overrides, env);
    expect(issues.map((i) => i.code)).toContain(code);
    if (code !== "config-invalid" || !issues.some((i) => i.path.length > 1)) expect(config).toBeUndefined();
  });

  it("warns about unknown config fields but still works", () => {
    const p = file("extra.yaml", "kind: CalicoAPIConfig\nspec:\n  datastoreType: embedded\n  dataDir: /z\n  k8sAPIEndpoint: x\n");
    const { config, issues } = resolveDatastoreConfig({ config: p }, {});
    expect(config).toEqual({ type: "embedded", dataDir: "/z" });
    expect(issues.map((i) => [i.code, i.severity])).toEqual([["config-unknown-field", "warning"]]);
  });
});
