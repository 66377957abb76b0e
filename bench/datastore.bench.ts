/**
 * Datastore throughput: durable writes per second, reads, snapshot time, and how long a write
 * takes to reach a watcher, for the embedded store and (when /usr/bin/etcd exists) a local
 * single-member etcd. Every embedded write is an fsync'd transaction, so the write figure mostly
 * measures the disk.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EmbeddedStore, etcdAvailable, startEtcd, type Store, type WatchEvent } from "../src/datastore/index.js";
import { EtcdStore } from "../src/datastore/etcd-store.js";
import type { Resource } from "../src/model/index.js";
import type { BenchResult } from "./types.js";

const gns = (name: string): Resource => ({ apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkSet", metadata: { name }, spec: { nets: ["10.0.0.0/8"] } }) as Resource;

async function measure(label: string, store: Store, writes: number): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  let t = process.hrtime.bigint();
  for (let i = 0; i < writes; i++) await store.create(gns(`b-${i}`));
  let s = Number(process.hrtime.bigint() - t) / 1e9;
  out.push({ name: `${label}: create (sequential, durable)`, value: writes / s, unit: "writes/s" });

  t = process.hrtime.bigint();
  for (let i = 0; i < writes; i++) await store.get("GlobalNetworkSet", undefined, `b-${i}`);
  s = Number(process.hrtime.bigint() - t) / 1e9;
  out.push({ name: `${label}: get`, value: writes / s, unit: "reads/s" });

  t = process.hrtime.bigint();
  const snap = await store.snapshot();
  out.push({ name: `${label}: snapshot of ${snap.items.length} resources`, value: Number(process.hrtime.bigint() - t) / 1e6, unit: "ms" });

  // Write-to-watcher latency, same process (embedded: wake-up on local write; etcd: watch stream).
  let resolveSeen: (() => void) | undefined;
  const w = store.watch(undefined, (e: WatchEvent) => {
    if (e.type === "put" && e.resource.metadata.name.startsWith("lat-")) resolveSeen?.();
  });
  await w.ready;
  const lat: number[] = [];
  for (let i = 0; i < 50; i++) {
    const seen = new Promise<void>((r) => (resolveSeen = r));
    const t0 = process.hrtime.bigint();
    await store.create(gns(`lat-${i}`));
    await seen;
    lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  await w.stop();
  lat.sort((a, b) => a - b);
  out.push({ name: `${label}: write → watch event (median of 50)`, value: lat[25]!, unit: "ms", note: "includes the durable write" });
  return out;
}

export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const dir = mkdtempSync(join(tmpdir(), "tortie-bench-ds-"));
  try {
    const store = await EmbeddedStore.open({ dataDir: dir });
    results.push(...(await measure("embedded", store, 500)));
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (etcdAvailable()) {
    const etcd = await startEtcd();
    try {
      const store = await EtcdStore.open({ endpoints: etcd.endpoints });
      results.push(...(await measure("etcd (1 local member)", store, 500)));
      await store.close();
    } finally {
      await etcd.stop();
    }
  }
  return results;
}
