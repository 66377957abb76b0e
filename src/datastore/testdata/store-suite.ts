/**
 * One behavioural suite for every Store backend: embedded-store.test.ts and etcd-store.test.ts
 * run it against a real LMDB file and a real etcd server respectively.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { issue, type Issue, type Resource } from "../../model/index.js";
import type { StoreHooks } from "../common.js";
import { DatastoreError, type Store, type StoredResource, type WatchEvent } from "../types.js";

export interface HarnessContext {
  /** Opens another client on the same underlying datastore. */
  open(opts?: StoreHooks & { historyLimit?: number }): Promise<Store>;
  /** Makes history up to `revision` unavailable to watchers (etcd compaction / embedded trim). */
  compact(store: Store, revision: number): Promise<void>;
  cleanup(): Promise<void>;
}
export interface StoreHarness {
  fresh(): Promise<HarnessContext>;
}

/** Test validator: a label "invalid" is rejected, a label "warn" produces only a warning. */
export const testValidate = (r: Resource): Issue[] => {
  const out: Issue[] = [];
  if (r.metadata.labels?.invalid !== undefined) out.push(issue("test-invalid", ["metadata", "labels", "invalid"], "label 'invalid' is not allowed"));
  if (r.metadata.labels?.warn !== undefined) out.push(issue("test-warn", ["metadata", "labels", "warn"], "just a warning", "warning"));
  return out;
};

export function np(name: string, ns = "default", extra: Record<string, unknown> = {}, labels?: Record<string, string>): Resource {
  return {
    apiVersion: "projectcalico.org/v3",
    kind: "NetworkPolicy",
    metadata: { name, namespace: ns, ...(labels ? { labels } : {}) },
    spec: { selector: "all()", ...extra },
  } as Resource;
}
export function gns(name: string, nets: string[] = ["10.0.0.0/8"]): Resource {
  return { apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkSet", metadata: { name }, spec: { nets } } as Resource;
}
export function tier(name: string, order = 100): Resource {
  return { apiVersion: "projectcalico.org/v3", kind: "Tier", metadata: { name }, spec: { order, defaultAction: "Deny" } } as Resource;
}

async function expectError(p: Promise<unknown>, code: DatastoreError["code"], message?: RegExp): Promise<DatastoreError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(DatastoreError);
    const e = err as DatastoreError;
    expect(e.code, e.message).toBe(code);
    if (message) expect(e.message).toMatch(message);
    return e;
  }
  throw new Error(`expected a ${code} error, but the call succeeded`);
}

/** Collects watch events and lets a test wait for a condition on them. */
export class Collector {
  events: WatchEvent[] = [];
  private waiters: Array<() => void> = [];
  readonly handler = (e: WatchEvent) => {
    this.events.push(e);
    for (const w of this.waiters.splice(0)) w();
  };
  async until(pred: (events: WatchEvent[]) => boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.events)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for watch events; got ${JSON.stringify(this.events.map(summary))}`);
      await new Promise<void>((res) => {
        const t = setTimeout(res, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
  }
  changes(): string[] {
    return this.events.filter((e) => e.type !== "snapshot").map(summary);
  }
}
export function summary(e: WatchEvent): string {
  if (e.type === "snapshot") return `snapshot(${e.reason})@${e.revision}:${e.items.map((i) => i.metadata.name).join(",")}`;
  return `${e.type} ${e.resource.kind}/${e.resource.metadata.name}`;
}

export function storeSuite(name: string, harness: StoreHarness): void {
  describe(`${name} store`, () => {
    let ctx: HarnessContext;
    let opened: Store[] = [];
    const open = async (o: StoreHooks & { historyLimit?: number } = { validate: testValidate }): Promise<Store> => {
      const s = await ctx.open(o);
      opened.push(s);
      return s;
    };
    beforeEach(async () => {
      ctx = await harness.fresh();
    });
    afterEach(async () => {
      await Promise.all(opened.map((s) => s.close()));
      opened = [];
      await ctx.cleanup();
    });

    it("create sets uid, creationTimestamp and resourceVersion; get returns what create returned", async () => {
      const s = await open();
      const { resource, revision } = await s.create(np("a", "ns1", {}, { app: "x" }));
      expect(resource.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
      expect(resource.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(resource.metadata.resourceVersion).toBe(String(revision));
      expect(resource.metadata.labels).toEqual({ app: "x" });
      expect(await s.get("NetworkPolicy", "ns1", "a")).toEqual(resource);
      expect(await s.get("NetworkPolicy", "ns2", "a")).toBeUndefined();
      expect(await s.revision()).toBeGreaterThanOrEqual(revision);
    });

    it("ignores caller-supplied uid/creationTimestamp/resourceVersion on create", async () => {
      const s = await open();
      const r = np("a");
      r.metadata.uid = "mine";
      r.metadata.creationTimestamp = "2000-01-01T00:00:00Z";
      r.metadata.resourceVersion = "999999";
      const { resource } = await s.create(r);
      expect(resource.metadata.uid).not.toBe("mine");
      expect(resource.metadata.creationTimestamp).not.toBe("2000-01-01T00:00:00Z");
    });

    it("create of an existing resource fails with already-exists naming it", async () => {
      const s = await open();
      await s.create(np("a", "ns1"));
      const e = await expectError(s.create(np("a", "ns1")), "already-exists", /^resource already exists: NetworkPolicy\(ns1\/a\)$/);
      expect(e.resource).toBe("NetworkPolicy(ns1/a)");
    });

    it("update needs the resource; a matching resourceVersion succeeds, keeps uid/creationTimestamp; a stale one conflicts", async () => {
      const s = await open();
      await expectError(s.update(np("a")), "not-found", /resource does not exist: NetworkPolicy\(default\/a\)/);
      const c = await s.create(np("a"));
      const u = await s.update({ ...c.resource, spec: { selector: "app == 'y'" } } as Resource);
      expect(u.revision).toBeGreaterThan(c.revision);
      expect(u.resource.metadata.uid).toBe(c.resource.metadata.uid);
      expect(u.resource.metadata.creationTimestamp).toBe(c.resource.metadata.creationTimestamp);
      expect((u.resource as { spec: { selector: string } }).spec.selector).toBe("app == 'y'");
      // c.resource still carries the old resourceVersion: out of date now.
      const e = await expectError(s.update(c.resource), "conflict", /update conflict: NetworkPolicy\(default\/a\)/);
      expect(e.message).toContain(`'${c.resource.metadata.resourceVersion}' is out of date (latest: ${u.resource.metadata.resourceVersion})`);
      expect(await s.get("NetworkPolicy", "default", "a")).toEqual(u.resource);
    });

    it("update without resourceVersion writes over the current version", async () => {
      const s = await open();
      await s.create(np("a"));
      await s.update(np("a", "default", { order: 5 }));
      const u = await s.update(np("a", "default", { order: 7 }));
      expect((u.resource as { spec: { order: number } }).spec.order).toBe(7);
    });

    it("apply creates, then updates", async () => {
      const s = await open();
      const a1 = await s.apply(gns("g1"));
      expect(a1.created).toBe(true);
      const a2 = await s.apply(gns("g1", ["192.168.0.0/16"]));
      expect(a2.created).toBe(false);
      expect(a2.revision).toBeGreaterThan(a1.revision);
      expect(a2.resource.metadata.uid).toBe(a1.resource.metadata.uid);
      await expectError(s.apply({ ...gns("g1"), metadata: { name: "g1", resourceVersion: a1.resource.metadata.resourceVersion } } as Resource), "conflict");
    });

    it("delete returns the deleted resource; then not-found; a stale resourceVersion conflicts", async () => {
      const s = await open();
      const c = await s.create(gns("g1"));
      const u = await s.update(gns("g1", ["10.1.0.0/16"]));
      await expectError(s.delete("GlobalNetworkSet", undefined, "g1", { resourceVersion: c.resource.metadata.resourceVersion }), "conflict", /GlobalNetworkSet\(g1\)/);
      const d = await s.delete("GlobalNetworkSet", undefined, "g1", { resourceVersion: u.resource.metadata.resourceVersion });
      expect(d).toEqual(u.resource);
      expect(await s.get("GlobalNetworkSet", undefined, "g1")).toBeUndefined();
      await expectError(s.delete("GlobalNetworkSet", undefined, "g1"), "not-found", /^resource does not exist: GlobalNetworkSet\(g1\)$/);
    });

    const invalid: Array<[string, unknown, RegExp]> = [
      ["unknown kind", { apiVersion: "projectcalico.org/v3", kind: "Nope", metadata: { name: "x" }, spec: {} }, /unknown resource kind/],
      ["missing name", { apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkSet", metadata: {}, spec: {} }, /metadata.name is required/],
      ["slash in name", { apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkSet", metadata: { name: "a/b" }, spec: {} }, /must not contain/],
      ["namespace on a cluster-scoped kind", { apiVersion: "projectcalico.org/v3", kind: "Tier", metadata: { name: "t", namespace: "x" }, spec: {} }, /cluster-scoped/],
      ["validator error", np("v", "default", {}, { invalid: "1" }), /invalid NetworkPolicy\(default\/v\): label 'invalid' is not allowed/],
      ["not an object", "hello", /not an object/],
    ];
    for (const [label, input, msg] of invalid) {
      it(`rejects an invalid resource and stores nothing: ${label}`, async () => {
        const s = await open();
        await s.ensureInitialized();
        const before = await s.snapshot();
        for (const op of [(r: Resource) => s.create(r), (r: Resource) => s.apply(r), (r: Resource) => s.update(r)]) {
          const e = await expectError(op(input as Resource), "invalid", msg);
          expect(e.issues.length).toBeGreaterThan(0);
          expect(e.issues.every((i) => typeof i.code === "string" && Array.isArray(i.path))).toBe(true);
        }
        const after = await s.snapshot();
        expect(after.items).toEqual(before.items);
      });
    }

    it("warnings from the validator do not block a write", async () => {
      const s = await open();
      await s.create(np("w", "default", {}, { warn: "1" }));
      expect(await s.get("NetworkPolicy", "default", "w")).toBeDefined();
    });

    it("namespaced kinds without a namespace go to 'default'", async () => {
      const s = await open();
      const r = np("a");
      delete r.metadata.namespace;
      const { resource } = await s.create(r);
      expect(resource.metadata.namespace).toBe("default");
      expect(await s.get("NetworkPolicy", undefined, "a")).toEqual(resource);
    });

    it("a policy needs its tier to exist, except the built-in tiers", async () => {
      const s = await open();
      const e = await expectError(s.create(np("p", "default", { tier: "security" })), "not-found", /^resource does not exist: Tier\(security\)$/);
      expect(e.issues[0]?.code).toBe("tier-not-found");
      await expectError(s.apply(np("p", "default", { tier: "security" })), "not-found", /Tier\(security\)/);
      for (const t of ["default", "kube-admin", "kube-baseline"]) await s.create(np(`in-${t}`, "default", { tier: t }));
      await s.create(tier("security"));
      await s.create(np("p", "default", { tier: "security" }));
      // Moving an existing policy into a missing tier fails too.
      await expectError(s.update(np("p", "default", { tier: "other" })), "not-found", /Tier\(other\)/);
      const gnp = { apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkPolicy", metadata: { name: "g" }, spec: { tier: "missing" } } as Resource;
      await expectError(s.create(gnp), "not-found", /Tier\(missing\)/);
    });

    it("a failed precondition writes nothing, not even the built-in tiers of a first write", async () => {
      const s = await open();
      const before = await s.snapshot();
      expect(before.items).toEqual([]);
      await expectError(s.create(np("p", "default", { tier: "nope" })), "not-found");
      const after = await s.snapshot();
      expect(after.items.filter((i) => i.kind !== "Tier")).toEqual([]);
    });

    it("built-in tiers are created by the first write and cannot be deleted; non-empty tiers cannot be deleted", async () => {
      const s = await open();
      await s.create(gns("g"));
      const tiers = await s.list("Tier");
      expect(tiers.items.map((t) => [t.metadata.name, (t as { spec: { order: number; defaultAction: string } }).spec])).toEqual([
        ["default", { order: 1_000_000, defaultAction: "Deny" }],
        ["kube-admin", { order: 1000, defaultAction: "Pass" }],
        ["kube-baseline", { order: 10_000_000, defaultAction: "Pass" }],
      ]);
      for (const t of ["default", "kube-admin", "kube-baseline"]) await expectError(s.delete("Tier", undefined, t), "forbidden", /built-in tier/);
      await s.create(tier("sec"));
      await s.create(np("p", "ns1", { tier: "sec" }));
      await expectError(s.delete("Tier", undefined, "sec"), "forbidden", /non-empty tier/);
      await s.delete("NetworkPolicy", "ns1", "p");
      await s.delete("Tier", undefined, "sec");
      // A built-in tier may be updated (its values are the validator's business).
      await s.update(tier("default", 1_000_000));
    });

    it("list filters by kind and namespace and sorts by namespace, then name", async () => {
      const s = await open();
      for (const [n, ns] of [["b", "x"], ["a", "y"], ["c", "x"], ["a", "x-y"]] as const) await s.create(np(n, ns));
      await s.create(gns("zz"));
      const all = await s.list("NetworkPolicy");
      expect(all.items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`)).toEqual(["x/b", "x/c", "x-y/a", "y/a"]);
      expect((await s.list("NetworkPolicy", "x")).items.map((i) => i.metadata.name)).toEqual(["b", "c"]);
      expect((await s.list("NetworkPolicy", "nope")).items).toEqual([]);
      expect((await s.list("GlobalNetworkSet")).items.map((i) => i.metadata.name)).toEqual(["zz"]);
      expect(all.revision).toBeGreaterThan(0);
    });

    it("revisions strictly increase with every write and resourceVersions are decimal revisions", async () => {
      const s = await open();
      const revs: number[] = [];
      revs.push((await s.create(gns("a"))).revision);
      revs.push((await s.update(gns("a", ["10.9.0.0/16"]))).revision);
      revs.push((await s.apply(gns("b"))).revision);
      await s.delete("GlobalNetworkSet", undefined, "a");
      revs.push(await s.revision());
      for (let i = 1; i < revs.length; i++) expect(revs[i]).toBeGreaterThan(revs[i - 1]!);
      const snap = await s.snapshot();
      expect(snap.revision).toBe(revs[revs.length - 1]);
      expect(snap.items.map((i) => i.metadata.name)).toEqual(["b", "default", "kube-admin", "kube-baseline"]);
    });

    it("two clients racing updates from the same resourceVersion: exactly one wins", async () => {
      const s1 = await open();
      const s2 = await open();
      const c = await s1.create(gns("race"));
      const results = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) => (i % 2 ? s1 : s2).update({ ...c.resource, spec: { nets: [`10.${i}.0.0/16`] } } as Resource)),
      );
      const ok = results.filter((r) => r.status === "fulfilled");
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      expect(ok.length).toBe(1);
      for (const f of failed) expect((f.reason as DatastoreError).code).toBe("conflict");
    });

    it("concurrent creates of the same name from two clients: exactly one wins", async () => {
      const s1 = await open();
      const s2 = await open();
      const results = await Promise.allSettled([s1.create(gns("same")), s2.create(gns("same")), s1.create(gns("same")), s2.create(gns("same"))]);
      expect(results.filter((r) => r.status === "fulfilled").length).toBe(1);
      for (const r of results) if (r.status === "rejected") expect((r.reason as DatastoreError).code).toBe("already-exists");
    });

    it("watch: a snapshot first, then ordered puts and deletes with previous values", async () => {
      const s = await open();
      await s.create(gns("before"));
      const col = new Collector();
      const w = s.watch(undefined, col.handler);
      await w.ready;
      expect(col.events[0]?.type).toBe("snapshot");
      const snap = col.events[0] as Extract<WatchEvent, { type: "snapshot" }>;
      expect(snap.reason).toBe("initial");
      expect(snap.items.map((i) => i.metadata.name)).toContain("before");
      const c = await s.create(gns("w1"));
      const u = await s.update(gns("w1", ["10.2.0.0/16"]));
      await s.delete("GlobalNetworkSet", undefined, "before");
      await col.until((ev) => ev.length >= 4);
      expect(col.changes()).toEqual(["put GlobalNetworkSet/w1", "put GlobalNetworkSet/w1", "delete GlobalNetworkSet/before"]);
      const [e1, e2, e3] = col.events.slice(1) as Array<Exclude<WatchEvent, { type: "snapshot" }>>;
      expect(e1!.resource).toEqual(c.resource);
      expect(e1!.type === "put" && e1!.prevResource).toBeFalsy();
      expect(e2!.resource).toEqual(u.resource);
      expect(e2!.type === "put" && e2!.prevResource).toEqual(c.resource);
      expect(e3!.resource.metadata.name).toBe("before");
      const revs = col.events.map((e) => e.revision);
      for (let i = 1; i < revs.length; i++) expect(revs[i]).toBeGreaterThan(revs[i - 1]!);
      expect(w.revision).toBe(revs[revs.length - 1]);
      await w.stop();
      await s.create(gns("after-stop"));
      await new Promise((r) => setTimeout(r, 300));
      expect(col.events.length).toBe(4);
    });

    it("watch resumes after a revision without gaps or repeats", async () => {
      const s = await open();
      await s.create(gns("r1"));
      const mid = (await s.create(gns("r2"))).revision;
      await s.create(gns("r3"));
      await s.delete("GlobalNetworkSet", undefined, "r1");
      const col = new Collector();
      const w = s.watch(mid, col.handler);
      await col.until((ev) => ev.length >= 2);
      await s.create(gns("r4"));
      await col.until((ev) => ev.length >= 3);
      expect(col.events.every((e) => e.type !== "snapshot")).toBe(true);
      expect(col.changes()).toEqual(["put GlobalNetworkSet/r3", "delete GlobalNetworkSet/r1", "put GlobalNetworkSet/r4"]);
      await w.stop();
    });

    it("watch from a compacted revision starts with a resync snapshot", async () => {
      const s = await open({ validate: testValidate, historyLimit: 2 });
      const first = (await s.create(gns("c1"))).revision;
      for (let i = 2; i <= 6; i++) await s.create(gns(`c${i}`));
      await ctx.compact(s, await s.revision());
      const col = new Collector();
      const w = s.watch(first, col.handler);
      await col.until((ev) => ev.length >= 1);
      const e = col.events[0]!;
      expect(e.type).toBe("snapshot");
      expect(e.type === "snapshot" && e.reason).toBe("resync");
      expect(e.type === "snapshot" && e.items.filter((i) => i.kind === "GlobalNetworkSet").map((i) => i.metadata.name)).toEqual(["c1", "c2", "c3", "c4", "c5", "c6"]);
      await s.create(gns("c7"));
      await col.until((ev) => ev.length >= 2);
      expect(col.changes()).toEqual(["put GlobalNetworkSet/c7"]);
      await w.stop();
    });

    it("a write through one client reaches another client's watch", async () => {
      const writer = await open();
      const reader = await open();
      const col = new Collector();
      const w = reader.watch(undefined, col.handler);
      await w.ready;
      const { resource } = await writer.create(np("x", "ns9"));
      await col.until((ev) => ev.some((e) => e.type === "put" && e.resource.metadata.name === "x"));
      const put = col.events.find((e) => e.type === "put" && e.resource.metadata.name === "x") as Extract<WatchEvent, { type: "put" }>;
      expect(put.resource).toEqual(resource);
      expect(await reader.get("NetworkPolicy", "ns9", "x")).toEqual(resource);
      await w.stop();
    });

    it("an async handler is awaited: events are delivered one at a time, in order", async () => {
      const s = await open();
      const seen: string[] = [];
      let inFlight = 0;
      let maxInFlight = 0;
      const w = s.watch(undefined, async (e) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        if (e.type !== "snapshot" && e.resource.kind === "GlobalNetworkSet") seen.push(e.resource.metadata.name);
        inFlight--;
      });
      await w.ready;
      for (let i = 0; i < 5; i++) await s.create(gns(`o${i}`));
      const deadline = Date.now() + 10_000;
      while (seen.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(seen).toEqual(["o0", "o1", "o2", "o3", "o4"]);
      expect(maxInFlight).toBe(1);
      await w.stop();
    });

    it("a closed store refuses calls", async () => {
      const s = await ctx.open({});
      await s.close();
      await expectError(s.get("Tier", undefined, "default"), "closed");
      await expectError(s.create(gns("x")), "closed");
    });

    it("stored resources round-trip unknown metadata and spec fields unchanged", async () => {
      const s = await open();
      const r = { ...gns("rt"), metadata: { name: "rt", labels: { a: "b" }, annotations: { "x/y": "z" }, ownerReferences: [{ kind: "X" }] } } as Resource;
      const { resource } = await s.create(r);
      const got = (await s.get("GlobalNetworkSet", undefined, "rt")) as StoredResource;
      expect(got).toEqual(resource);
      expect(got.metadata.annotations).toEqual({ "x/y": "z" });
      expect(got.metadata.ownerReferences).toEqual([{ kind: "X" }]);
    });
  });
}
