import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Etcd3 } from "etcd3";
import { EtcdStore } from "./etcd-store.js";
import { startEtcd, type EtcdCluster } from "./etcd-testing.js";
import { KEY_PREFIX } from "./keys.js";
import { Collector, gns, storeSuite, testValidate } from "./testdata/store-suite.js";
import { DatastoreError, type Store } from "./types.js";

let etcd: EtcdCluster;
beforeAll(async () => {
  etcd = await startEtcd();
});
afterAll(async () => {
  await etcd?.stop();
});

storeSuite("etcd v3", {
  async fresh() {
    // One etcd per file; each test starts from an empty key space (revisions keep growing).
    const admin = new Etcd3({ hosts: etcd.endpoints });
    await admin.delete().prefix(KEY_PREFIX);
    admin.close();
    return {
      open: async (o = {}) => EtcdStore.open({ endpoints: etcd.endpoints, ...o }),
      compact: async (store: Store, revision: number) => (store as EtcdStore).compact(revision),
      cleanup: async () => undefined,
    };
  },
});

describe("etcd v3 specifics", () => {
  it("stores resources under the documented key layout as JSON without resourceVersion", async () => {
    const s = await EtcdStore.open({ endpoints: etcd.endpoints });
    try {
      await s.create({ apiVersion: "projectcalico.org/v3", kind: "NetworkPolicy", metadata: { name: "k", namespace: "ns-k" }, spec: {} } as never);
      const raw = await s.client.get("/tortie/v1/networkpolicies/ns-k/k").json();
      expect(raw).toMatchObject({ kind: "NetworkPolicy", metadata: { name: "k", namespace: "ns-k" } });
      expect((raw as { metadata: Record<string, unknown> }).metadata.resourceVersion).toBeUndefined();
      expect(await s.client.get("/tortie/v1/tiers/default").json()).toMatchObject({ kind: "Tier", spec: { order: 1_000_000 } });
      // Keys outside the layout are ignored by reads and watches.
      await s.client.put("/tortie/v1/unknownkind/x").value("{}");
      const snap = await s.snapshot();
      expect(snap.items.some((i) => i.metadata.name === "x")).toBe(false);
    } finally {
      await s.close();
    }
  });

  it("an unreachable etcd is reported as unavailable, naming the endpoint", async () => {
    const s = await EtcdStore.open({ endpoints: ["http://127.0.0.1:1"], requestTimeoutMs: 2000 });
    try {
      const err = await s.get("Tier", undefined, "default").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DatastoreError);
      expect((err as DatastoreError).code).toBe("unavailable");
      expect((err as DatastoreError).message).toContain("127.0.0.1:1");
    } finally {
      await s.close();
    }
  });

  it("username/password: wrong credentials are refused as forbidden, right ones work", async () => {
    // A separate etcd: enabling auth must not disturb the other tests.
    const authEtcd = await startEtcd();
    const admin = new Etcd3({ hosts: authEtcd.endpoints });
    try {
      await admin.user("root").create("rootpw");
      await admin.role("root").create().catch(() => undefined);
      await admin.user("root").addRole("root");
      await admin.role("tortie").create();
      await admin.role("tortie").grant({ permission: "Readwrite", range: admin.range({ prefix: KEY_PREFIX }) });
      await admin.user("agent").create("agentpw");
      await admin.user("agent").addRole("tortie");
      await admin.auth.authEnable({});
      admin.close();
      const bad = await EtcdStore.open({ endpoints: authEtcd.endpoints, username: "agent", password: "wrong", validate: testValidate });
      const err = await bad.create(gns("a")).catch((e: unknown) => e);
      await bad.close();
      expect((err as DatastoreError).code).toBe("forbidden");
      const good = await EtcdStore.open({ endpoints: authEtcd.endpoints, username: "agent", password: "agentpw", validate: testValidate });
      try {
        await good.create(gns("a"));
        expect((await good.get("GlobalNetworkSet", undefined, "a"))?.metadata.name).toBe("a");
        const col = new Collector();
        const w = good.watch(undefined, col.handler);
        await w.ready;
        await good.create(gns("b"));
        await col.until((ev) => ev.some((e) => e.type === "put" && e.resource.metadata.name === "b"));
        await w.stop();
      } finally {
        await good.close();
      }
    } finally {
      admin.close();
      await authEtcd.stop();
    }
  });
});
