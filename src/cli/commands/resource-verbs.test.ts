/**
 * The resource verbs end to end (in-process, real program, real stores), with the same cases run
 * against the embedded LMDB store and a real etcd.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { Etcd3 } from "etcd3";
import { KEY_PREFIX, startEtcd, type EtcdCluster } from "../../datastore/index.js";
import { runCli } from "../testdata/run-cli.js";

const root = mkdtempSync(join(tmpdir(), `tortie-cli-${process.pid}-`));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const emptyConfig = join(root, "empty-config.yaml");
writeFileSync(emptyConfig, "");

let fileN = 0;
function file(text: string, name = `f${fileN++}.yaml`, dir = root): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const TIER = `apiVersion: projectcalico.org/v3
kind: Tier
metadata:
  name: security
spec:
  order: 100
`;
const NP = (name: string, ns?: string, extra = "") => `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: ${name}
${ns ? `  namespace: ${ns}\n` : ""}spec:
  selector: app == '${name}'
${extra}`;
const GNS = (name: string) => `apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata:
  name: ${name}
  labels:
    role: blocklist
spec:
  nets: [10.1.0.0/16, 10.2.0.0/16]
`;
const HEP = `apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata:
  name: eth0.node1
  labels:
    role: edge
spec:
  node: node1
  interfaceName: eth0
  expectedIPs: [192.0.2.1]
`;
const docs = (...d: string[]) => d.join("---\n");

interface Backend {
  name: string;
  setup(): Promise<void>;
  reset(): Promise<void>;
  teardown(): Promise<void>;
  args(): string[];
}

function embedded(): Backend {
  let dir = "";
  let n = 0;
  return {
    name: "embedded",
    setup: async () => undefined,
    reset: async () => {
      dir = join(root, `db-${n++}`);
    },
    teardown: async () => undefined,
    args: () => ["--config", emptyConfig, "--data-dir", dir],
  };
}

function etcd(): Backend {
  let cluster: EtcdCluster | undefined;
  return {
    name: "etcd v3",
    setup: async () => {
      cluster = await startEtcd();
    },
    reset: async () => {
      const c = new Etcd3({ hosts: cluster!.endpoints });
      await c.delete().prefix(KEY_PREFIX);
      c.close();
    },
    teardown: async () => {
      await cluster?.stop();
    },
    args: () => ["--config", emptyConfig, "--datastore-type", "etcdv3", "--etcd-endpoints", cluster!.endpoints.join(",")],
  };
}

for (const backend of [embedded(), etcd()]) {
  describe(`resource verbs on the ${backend.name} store`, () => {
    beforeAll(() => backend.setup(), 60_000);
    afterAll(() => backend.teardown());
    beforeEach(() => backend.reset());
    const cli = (...args: string[]) => runCli([...args, ...backend.args()]);
    const ok = async (...args: string[]) => {
      const r = await cli(...args);
      expect(r.code, `${args.join(" ")}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
      return r;
    };
    const fails = async (...args: string[]) => {
      const r = await cli(...args);
      expect(r.code, `${args.join(" ")} should fail\nstdout: ${r.stdout}`).toBe(1);
      return r;
    };

    it("apply a multi-document file reports per kind, and get shows the table", async () => {
      const f = file(docs(TIER, NP("web", "prod", "  tier: security\n  order: 10\n"), NP("db"), GNS("block")));
      const r = await ok("apply", "-f", f);
      expect(r.stdout).toBe(
        "Successfully applied 1 'Tier' resource(s)\nSuccessfully applied 2 'NetworkPolicy' resource(s)\nSuccessfully applied 1 'GlobalNetworkSet' resource(s)\n",
      );
      expect(r.stderr).toBe("");
      expect((await ok("get", "networkpolicies", "-A")).stdout).toBe("NAMESPACE   NAME   TIER\ndefault     db     default\nprod        web    security\n");
      expect((await ok("get", "np")).stdout).toBe("NAME   TIER\ndb     default\n");
      expect((await ok("get", "pol", "-n", "prod", "-o", "wide")).stdout).toBe("NAME   TIER       ORDER   SELECTOR\nweb    security   10      app == 'web'\n");
      expect((await ok("get", "tiers")).stdout).toBe("NAME            ORDER\ndefault         1000000\nkube-admin      1000\nkube-baseline   10000000\nsecurity        100\n");
      expect((await ok("get", "gnetsets", "-o", "wide")).stdout).toBe("NAME    NETS\nblock   10.1.0.0/16,10.2.0.0/16\n");
      expect((await ok("get", "GlobalNetworkSet", "-o", "name")).stdout).toBe("globalnetworkset/block\n");
    });

    it("short names and plurals are accepted case-insensitively", async () => {
      await ok("apply", "-f", file(docs(HEP, GNS("g"))));
      for (const k of ["hep", "heps", "hostendpoint", "HostEndpoints", "HEP"]) expect((await ok("get", k)).stdout).toBe("NAME         NODE\neth0.node1   node1\n");
      for (const k of ["gnetset", "globalnetworksets"]) expect((await ok("get", k, "-o", "name")).stdout).toBe("globalnetworkset/g\n");
      const r = await fails("get", "bogus");
      expect(r.stderr).toContain("resource type 'bogus' is not supported");
    });

    it("apply reads directories recursively and stdin-free multi-file input", async () => {
      const dir = join(root, `tree-${fileN++}`);
      mkdirSync(join(dir, "sub", "deeper"), { recursive: true });
      file(NP("a"), "a.yaml", dir);
      file(NP("b"), "b.yml", join(dir, "sub"));
      file(JSON.stringify(parseYaml(NP("c"))), "c.json", join(dir, "sub", "deeper"));
      file("not a manifest", "README.md", dir);
      const r = await ok("apply", "-f", dir);
      expect(r.stdout).toBe("Successfully applied 3 'NetworkPolicy' resource(s)\n");
      expect((await ok("get", "np", "-o", "name")).stdout).toBe("networkpolicy/a\nnetworkpolicy/b\nnetworkpolicy/c\n");
    });

    it("an invalid document stops the whole command: issues are printed and nothing is stored", async () => {
      const bad = NP("bad", undefined, "  ingress:\n    - action: Allow\n      protocol: TCP\n      destination:\n        ports: [70000]\n");
      const f = file(docs(NP("good"), bad));
      const r = await fails("apply", "-f", f);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain(`${f}:`);
      expect(r.stderr).toMatch(/error/);
      expect(r.stderr).toContain("nothing was changed");
      expect((await ok("get", "np", "-A", "-o", "name")).stdout).toBe("");
    });

    it("create fails on existing resources unless --skip-exists; partial failures report each resource", async () => {
      await ok("create", "-f", file(NP("a")));
      const f = file(docs(NP("a"), NP("b"), NP("c")));
      const r = await fails("create", "-f", f);
      expect(r.stdout).toBe("Successfully created 2 'NetworkPolicy' resource(s)\n");
      expect(r.stderr).toBe(
        "Failed to create NetworkPolicy(default/a): resource already exists: NetworkPolicy(default/a)\nPartial success: created 2 of 3 resource(s)\n",
      );
      const s = await ok("create", "-f", f, "--skip-exists");
      expect(s.stdout).toBe("Successfully created 3 'NetworkPolicy' resource(s) (3 skipped: already existed)\n");
    });

    it("a policy in a tier that does not exist is refused, naming the tier", async () => {
      const r = await fails("create", "-f", file(NP("p", "default", "  tier: missing\n")));
      expect(r.stderr).toContain("Failed to create NetworkPolicy(default/p): resource does not exist: Tier(missing)");
      await ok("apply", "-f", file(docs(TIER, NP("p", "default", "  tier: security\n"))));
      const d = await fails("delete", "tier", "security");
      expect(d.stderr).toContain("cannot delete a non-empty tier");
      expect((await fails("delete", "tier", "default")).stderr).toContain("cannot delete a built-in tier");
    });

    it("replace needs the resource, honours resourceVersion, and reports conflicts", async () => {
      const missing = await fails("replace", "-f", file(NP("r")));
      expect(missing.stderr).toContain("Failed to replace NetworkPolicy(default/r): resource does not exist: NetworkPolicy(default/r)");
      await ok("create", "-f", file(NP("r")));
      const exported = (await ok("get", "np", "r", "-o", "yaml")).stdout;
      const doc = parseYaml(exported);
      expect(doc.metadata.resourceVersion).toMatch(/^\d+$/);
      // Someone else changes it...
      await ok("replace", "-f", file(NP("r", undefined, "  order: 7\n")));
      // ...so replacing from the stale export is a conflict.
      const stale = await fails("replace", "-f", file(exported));
      expect(stale.stderr).toMatch(/update conflict: NetworkPolicy\(default\/r\): resource version '\d+' is out of date \(latest: \d+\)/);
      const fresh = (await ok("get", "np", "r", "-o", "json")).stdout;
      const j = JSON.parse(fresh);
      expect(j.spec.order).toBe(7);
      j.spec.order = 8;
      await ok("replace", "-f", file(JSON.stringify(j), `r${fileN++}.json`));
      expect(JSON.parse((await ok("get", "np", "r", "-o", "json")).stdout).spec.order).toBe(8);
    });

    it("delete by kind and names, by file, and --skip-not-exists", async () => {
      await ok("apply", "-f", file(docs(NP("a"), NP("b"), NP("c", "other"), GNS("g"))));
      expect((await ok("delete", "networkpolicy", "a", "b")).stdout).toBe("Successfully deleted 2 'NetworkPolicy' resource(s)\n");
      const r = await fails("delete", "np", "a");
      expect(r.stderr).toBe("Failed to delete NetworkPolicy(default/a): resource does not exist: NetworkPolicy(default/a)\n");
      expect((await ok("delete", "np", "a", "--skip-not-exists")).stdout).toBe("Successfully deleted 1 'NetworkPolicy' resource(s) (1 skipped: did not exist)\n");
      expect((await ok("delete", "np", "c", "-n", "other")).stdout).toContain("Successfully deleted 1");
      expect((await ok("delete", "-f", file(GNS("g")))).stdout).toBe("Successfully deleted 1 'GlobalNetworkSet' resource(s)\n");
      expect((await fails("delete")).stderr).toContain("nothing to delete");
    });

    it("get: yaml/json for one resource or a list; missing names fail; -A with a name is refused", async () => {
      await ok("apply", "-f", file(docs(NP("a"), NP("b"))));
      const one = parseYaml((await ok("get", "np", "a", "-o", "yaml")).stdout);
      expect(one).toMatchObject({ apiVersion: "projectcalico.org/v3", kind: "NetworkPolicy", metadata: { name: "a", namespace: "default" } });
      expect(one.metadata.uid).toBeTruthy();
      expect(one.metadata.creationTimestamp).toBeTruthy();
      const list = JSON.parse((await ok("get", "np", "-o", "json")).stdout);
      expect(list.kind).toBe("NetworkPolicyList");
      expect(list.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(["a", "b"]);
      expect(list.metadata.resourceVersion).toMatch(/^\d+$/);
      const both = parseYaml((await ok("get", "np", "a", "b", "-o", "yaml")).stdout);
      expect(both.kind).toBe("NetworkPolicyList");
      const miss = await fails("get", "np", "a", "nope");
      expect(miss.stderr).toBe("resource does not exist: NetworkPolicy(default/nope)\n");
      expect(miss.stdout).toContain("a");
      expect((await fails("get", "np", "a", "-A")).stderr).toContain("cannot use --all-namespaces flag for getting a single resource");
      expect((await fails("get", "tier", "-n", "x")).stderr).toContain("cluster-scoped");
      expect((await fails("get", "np", "-o", "xml")).stderr).toMatch(/invalid|allowed choices/i);
    });

    it("-n fills in missing namespaces and must agree with namespaces in files", async () => {
      await ok("apply", "-f", file(NP("a")), "-n", "team1");
      expect((await ok("get", "np", "-n", "team1", "-o", "name")).stdout).toBe("networkpolicy/a\n");
      const r = await fails("apply", "-f", file(NP("b", "team2")), "-n", "team1");
      expect(r.stderr).toContain("resource namespace does not match client namespace: team2 != team1");
    });

    it("label sets, overwrites only with --overwrite, and removes", async () => {
      await ok("apply", "-f", file(HEP));
      expect((await ok("label", "hep", "eth0.node1", "zone=a")).stdout).toBe("Successfully updated labels of HostEndpoint(eth0.node1): zone=a\n");
      const clash = await fails("label", "hep", "eth0.node1", "role=core");
      expect(clash.stderr).toContain("label 'role' is already set to 'edge'; use --overwrite");
      await ok("label", "hep", "eth0.node1", "role=core", "--overwrite");
      await ok("label", "hep", "eth0.node1", "zone-");
      await ok("label", "hep", "eth0.node1", "--remove", "role", "x=y");
      const labels = parseYaml((await ok("get", "hep", "eth0.node1", "-o", "yaml")).stdout).metadata.labels;
      expect(labels).toEqual({ x: "y" });
      expect((await fails("label", "hep", "eth0.node1", "nothere-")).stderr).toContain("label 'nothere' is not set");
      expect((await fails("label", "hep", "missing", "a=b")).stderr).toContain("resource does not exist: HostEndpoint(missing)");
      expect((await fails("label", "hep", "eth0.node1", "Bad Key=1")).stderr).toMatch(/invalid|label/);
      expect((await fails("label", "hep", "eth0.node1", "justakey")).stderr).toContain("use key=value");
    });

    it("patch merges JSON into the stored resource and validates the result", async () => {
      await ok("apply", "-f", file(docs(TIER, NP("p", "default", "  order: 1\n"))));
      expect((await ok("patch", "np", "p", "-p", '{"spec":{"order":50,"tier":"security"}}')).stdout).toBe("Successfully patched 1 'NetworkPolicy' resource\n");
      let got = parseYaml((await ok("get", "np", "p", "-o", "yaml")).stdout);
      expect(got.spec.order).toBe(50);
      expect(got.spec.tier).toBe("security");
      await ok("patch", "np", "p", "-p", '{"spec":{"order":null}}');
      got = parseYaml((await ok("get", "np", "p", "-o", "yaml")).stdout);
      expect(got.spec.order).toBeUndefined();
      expect((await fails("patch", "np", "p", "-p", '{"spec":{"selector":"app =="}}')).stderr).toContain("Failed to patch NetworkPolicy(default/p)");
      expect((await fails("patch", "np", "p", "-p", '{"metadata":{"name":"q"}}')).stderr).toContain("must not change");
      expect((await fails("patch", "np", "p", "-p", "{nope")).stderr).toContain("not valid JSON");
      expect((await fails("patch", "np", "zz", "-p", "{}")).stderr).toContain("resource does not exist: NetworkPolicy(default/zz)");
      expect((await fails("patch", "np", "p", "-p", '{"spec":{"tier":"ghost"}}')).stderr).toContain("resource does not exist: Tier(ghost)");
    });
  });
}

describe("datastore selection and help", () => {
  it("a bad datastore configuration fails before doing anything", async () => {
    const r = await runCli(["get", "np", "--config", emptyConfig, "--datastore-type", "etcdv3"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("invalid datastore configuration: datastore type etcdv3 needs etcd endpoints");
    const r2 = await runCli(["get", "np", "--config", join(root, "missing.yaml")]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain("does not exist");
  });

  it("a config file selects the datastore", async () => {
    const dir = join(root, "via-config");
    const cfg = file(`apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nmetadata: {}\nspec:\n  datastoreType: embedded\n  dataDir: ${dir}\n`);
    expect((await runCli(["apply", "-f", file(NP("x")), "--config", cfg])).code).toBe(0);
    expect((await runCli(["get", "np", "-o", "name", "--config", emptyConfig, "--data-dir", dir])).stdout).toBe("networkpolicy/x\n");
  });

  it.each(["apply", "create", "replace", "delete", "get", "patch", "label"])("%s --help shows examples and the datastore flags", async (verb) => {
    const r = await runCli([verb, "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Examples:");
    expect(r.stdout).toContain(`tortie ${verb}`);
    expect(r.stdout).toContain("--etcd-endpoints");
  });
});
