/**
 * A 3-member etcd cluster loses members one at a time (SIGKILL, then restart) while one client
 * keeps writing and another keeps watching: every acknowledged write must reach the watcher, in
 * order, and the watcher's replayed state must equal the cluster's final state. Each member is
 * killed once, so whichever member the watch stream happens to use is killed at some point.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EtcdStore } from "./etcd-store.js";
import { startEtcd, type EtcdCluster } from "./etcd-testing.js";
import { Collector, gns, testValidate } from "./testdata/store-suite.js";
import { DatastoreError, type StoredResource, type WatchEvent, type WatchStatus } from "./types.js";

let cluster: EtcdCluster;
beforeAll(async () => {
  cluster = await startEtcd({ members: 3 });
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

/** Retries while etcd is electing a leader or the client is failing over; other errors are real. */
async function retryUnavailable<T>(fn: () => Promise<T>, deadlineMs = 30_000): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof DatastoreError && err.code === "unavailable") || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function replay(events: WatchEvent[]): Map<string, StoredResource> {
  const state = new Map<string, StoredResource>();
  const key = (r: StoredResource) => `${r.kind}/${r.metadata.namespace ?? ""}/${r.metadata.name}`;
  for (const e of events) {
    if (e.type === "snapshot") {
      state.clear();
      for (const r of e.items) state.set(key(r), r);
    } else if (e.type === "put") state.set(key(e.resource), e.resource);
    else state.delete(key(e.resource));
  }
  return state;
}

describe("etcd v3 cluster with a failing member", () => {
  it("writes and watches go on while each member in turn is killed and restarted", async () => {
    const writer = await EtcdStore.open({ endpoints: cluster.endpoints, validate: testValidate, requestTimeoutMs: 3000 });
    const watcher = await EtcdStore.open({ endpoints: cluster.endpoints, requestTimeoutMs: 3000 });
    const statuses: WatchStatus["state"][] = [];
    const col = new Collector();
    const w = watcher.watch(undefined, col.handler, { onStatus: (s) => statuses.push(s.state) });
    try {
      await w.ready;
      const acked: Array<{ name: string; revision: number }> = [];
      let n = 0;
      const writeSome = async (count: number) => {
        for (let i = 0; i < count; i++) {
          const name = `m-${n++}`;
          const res = await retryUnavailable(async () => {
            try {
              return await writer.create(gns(name, [`10.${n % 250}.0.0/16`]));
            } catch (err) {
              // A create whose reply was lost during failover may have been applied already.
              if (err instanceof DatastoreError && err.code === "already-exists") {
                const got = await writer.get("GlobalNetworkSet", undefined, name);
                return { resource: got!, revision: Number(got!.metadata.resourceVersion) };
              }
              throw err;
            }
          });
          acked.push({ name, revision: res.revision });
        }
      };
      await writeSome(5);
      for (let m = 0; m < 3; m++) {
        await cluster.kill(m);
        await writeSome(10);
        // Deletes go through the surviving members too.
        const victim = acked[acked.length - 3]!.name;
        await retryUnavailable(() => writer.delete("GlobalNetworkSet", undefined, victim).catch((e: unknown) => {
          if (e instanceof DatastoreError && e.code === "not-found") return undefined;
          throw e;
        }));
        await cluster.restart(m);
      }
      await writeSome(5);

      const final = await retryUnavailable(() => writer.snapshot());
      await col.until(() => {
        const seen = replay(col.events);
        return [...seen.values()].filter((r) => r.kind === "GlobalNetworkSet").length === final.items.filter((r) => r.kind === "GlobalNetworkSet").length && col.events[col.events.length - 1]!.revision >= final.revision;
      }, 60_000);
      const state = replay(col.events);
      expect([...state.values()].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))).toEqual(
        [...final.items].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1)),
      );
      // Every acknowledged create was delivered as a put at the revision the writer was told.
      const puts = new Map(col.events.filter((e): e is Extract<WatchEvent, { type: "put" }> => e.type === "put").map((e) => [e.resource.metadata.name, e.revision]));
      for (const a of acked) {
        if (col.events.some((e) => e.type === "snapshot" && e.reason === "resync")) break; // a resync may legitimately fold puts into a snapshot
        expect(puts.get(a.name), a.name).toBe(a.revision);
      }
      // The watch stream's member was killed at some point, and the watch noticed and recovered.
      expect(statuses).toContain("disconnected");
      expect(statuses[statuses.length - 1]).toBe("connected");
      // Events arrive in revision order.
      const revs = col.events.map((e) => e.revision);
      for (let i = 1; i < revs.length; i++) expect(revs[i]).toBeGreaterThanOrEqual(revs[i - 1]!);
    } catch (err) {
      throw new Error(`${(err as Error).message}\nstatuses: ${statuses.join(",")}\n${cluster.logs()}`);
    } finally {
      await w.stop();
      await writer.close();
      await watcher.close();
    }
  }, 180_000);
});
