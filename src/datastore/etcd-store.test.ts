import { createConnection, createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Etcd3 } from "etcd3";
import { EtcdStore } from "./etcd-store.js";
import { startEtcd, type EtcdCluster } from "./etcd-testing.js";
import { KEY_PREFIX } from "./keys.js";
import { Collector, gns, storeSuite, testValidate } from "./testdata/store-suite.js";
import { DatastoreError, type Store, type WatchEvent, type WatchStatus } from "./types.js";

let etcd: EtcdCluster;
beforeAll(async () => {
  // Progress notifications every 200 ms instead of every 10 minutes, so a test can see a quiet
  // watch follow them.
  etcd = await startEtcd({ extraArgs: ["--experimental-watch-progress-notify-interval=200ms"] });
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

  it("a watch stream lost while it catches up resumes from the last event delivered, not from etcd's current revision", async () => {
    // The watcher reaches etcd through a loopback TCP proxy the test can cut. While the proxy is
    // cut, ten writes go to etcd directly. When the watch is re-created, its creation response
    // carries etcd's current revision; the proxy is cut again at that moment, before the catch-up
    // events arrive (etcd sends them from a loop that runs every 100 ms). A resume from that
    // header revision would skip the ten writes for good.
    const proxy = await startCuttableProxy(etcd.endpoints[0]!);
    const writer = await EtcdStore.open({ endpoints: etcd.endpoints, validate: testValidate });
    const watcherStore = await EtcdStore.open({ endpoints: [proxy.url], requestTimeoutMs: 3000 });
    const col = new Collector();
    const statuses: WatchStatus["state"][] = [];
    let cutOnConnect = false;
    const w = watcherStore.watch(undefined, col.handler, {
      onStatus: (st) => {
        statuses.push(st.state);
        if (st.state === "connected" && cutOnConnect) {
          cutOnConnect = false;
          proxy.cut(); // synchronously, from the creation response's own event
        }
      },
    });
    try {
      await w.ready;
      const acked = new Map<string, number>();
      const write = async (name: string) => acked.set(name, (await writer.create(gns(name))).revision);
      await write("c-0");
      await col.until((ev) => ev.some((e) => e.type === "put" && e.resource.metadata.name === "c-0"));

      proxy.refuse(true);
      proxy.cut();
      await until(() => statuses.includes("disconnected"));
      for (let i = 1; i <= 10; i++) await write(`c-${i}`);
      cutOnConnect = true;
      proxy.refuse(false);
      await until(() => !cutOnConnect); // re-created, and cut at once
      await write("c-11");

      await col.until((ev) => ev.some((e) => e.type === "put" && e.resource.metadata.name === "c-11"), 30_000);
      const puts = col.events.filter((e): e is Extract<WatchEvent, { type: "put" }> => e.type === "put" && e.resource.kind === "GlobalNetworkSet");
      // Each acknowledged write exactly once, at the revision the writer was told, in order.
      expect(puts.map((e) => [e.resource.metadata.name, e.revision])).toEqual([...acked]);
      expect(col.events.some((e) => e.type === "snapshot" && e.reason === "resync")).toBe(false);
      expect(statuses.filter((x) => x === "connected").length).toBeGreaterThanOrEqual(3);
    } finally {
      await w.stop();
      await watcherStore.close();
      await writer.close();
      await proxy.close();
    }
  }, 60_000);
});

describe("etcd v3 watch position", () => {
  it("a quiet watch follows etcd's progress notifications, so compacting revisions it never needed forces no resync", async () => {
    const proxy = await startCuttableProxy(etcd.endpoints[0]!);
    const admin = new Etcd3({ hosts: etcd.endpoints });
    const watcherStore = await EtcdStore.open({ endpoints: [proxy.url], requestTimeoutMs: 3000 });
    const writer = await EtcdStore.open({ endpoints: etcd.endpoints, validate: testValidate });
    const col = new Collector();
    const statuses: WatchStatus["state"][] = [];
    const w = watcherStore.watch(undefined, col.handler, { onStatus: (st) => statuses.push(st.state) });
    try {
      await w.ready;
      // Writes outside tortie's prefix move etcd's revision without sending the watch an event.
      for (let i = 0; i < 20; i++) await admin.put(`/not-tortie/k${i}`).value(String(i));
      const head = Number((await admin.get("/not-tortie/k0").exec()).header.revision);
      // The watch learns the new revision from a progress notification (every 200 ms here); its
      // cursor is private, so the test reads it through a cast rather than sleeping a guess.
      await until(() => (w as unknown as { cursor: number }).cursor >= head, "the watch cursor to reach etcd's head revision through progress notifications");
      await writer.compact(head);
      proxy.cut();
      await until(() => statuses.lastIndexOf("connected") > statuses.indexOf("disconnected") && statuses.includes("disconnected"));
      await writer.create(gns("after-compaction"));
      await col.until((ev) => ev.some((e) => e.type === "put" && e.resource.metadata.name === "after-compaction"));
      expect(col.events.filter((e) => e.type === "snapshot").map((e) => (e as { reason: string }).reason)).toEqual(["initial"]);
    } finally {
      await w.stop();
      await watcherStore.close();
      await writer.close();
      admin.close();
      await proxy.close();
    }
  }, 60_000);
});

async function until(pred: () => boolean, what = "condition", timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A loopback TCP proxy to one etcd endpoint whose connections the test can cut and refuse. */
async function startCuttableProxy(target: string): Promise<{ url: string; cut(): void; refuse(on: boolean): void; close(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  const open = new Set<Socket>();
  let refusing = false;
  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: hostname, port: Number(port) });
    for (const s of [client, upstream]) {
      open.add(s);
      s.on("close", () => open.delete(s));
      s.on("error", () => undefined);
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
  const addr = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${addr.port}`,
    cut: () => {
      for (const s of open) s.destroy();
    },
    refuse: (on) => {
      refusing = on;
    },
    close: async () => {
      refusing = true;
      for (const s of open) s.destroy();
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
}
