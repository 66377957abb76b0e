/**
 * The applier and the fake kernel against the real kernel (in a namespace of this file): the fake
 * must accept and refuse the same batches, and the applier must converge, detect drift and resync
 * on both alike.
 */
import fc from "fast-check";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDataplane, diffModels, kernelView, type DataplaneModel } from "../dataplane/index.js";
import { arbCluster, type ArbSpec } from "../dataplane/testdata/arbitrary.js";
import { fixtureIR, groupedFixtureIR, NODE, SET_CLIENT } from "../dataplane/testdata/fixtures.js";
import { isKernelError, nftApplyText, nftListTable } from "../kernel/index.js";
import { canUseNetns, createNamespace, deleteNamespace, uniqueName } from "../netns/index.js";
import { nft } from "../render/index.js";
import { Applier, FakeKernel, nftBackend, NftKernel } from "./index.js";

const root = canUseNetns();

function fixtureModel(mut?: (ir: ReturnType<typeof fixtureIR>) => void): DataplaneModel {
  const ir = fixtureIR();
  mut?.(ir);
  return buildDataplane(ir, NODE);
}
const ns = uniqueName("apl");
const T = { family: "inet", table: "tortie" };

const spec: ArbSpec = {
  pods: [
    { name: "a", iface: "cali5e1c4d6c68c", v4: "198.18.1.10", v6: "fd00:198:0:1::10", node: "n1" },
    { name: "b", iface: "cali2f5353dd8c5", v4: "198.18.1.11", v6: "fd00:198:0:1::11", node: "n1" },
  ],
  externalNets: ["198.19.0.0/16", "fd00:198:99::/64"],
};

describe.skipIf(!root)("applier and fake kernel vs the real kernel", () => {
  beforeAll(() => createNamespace(ns));
  afterAll(() => deleteNamespace(ns));

  it("the fake refuses exactly the batches the kernel refuses, and both stay unchanged", async () => {
    const setup = {
      nftables: [
        { add: { table: { family: "inet", name: "tortie" } } },
        { delete: { table: { family: "inet", name: "tortie" } } },
        { add: { table: { family: "inet", name: "tortie" } } },
        { add: { chain: { ...T, name: "a" } } },
        { add: { chain: { ...T, name: "b" } } },
        { add: { set: { ...T, name: "s", type: "ipv4_addr", flags: ["interval"], elem: [{ prefix: { addr: "10.0.0.0", len: 8 } }] } } },
        { add: { map: { ...T, name: "m", type: "ifname", map: "verdict", elem: [["x", { goto: { target: "b" } }]] } } },
        { add: { rule: { ...T, chain: "a", comment: "AAAAAAAAAAAA", expr: [{ jump: { target: "b" } }] } } },
      ],
    };
    const batches: Array<[string, unknown[]]> = [
      ["rule naming a missing chain", [{ add: { rule: { ...T, chain: "a", expr: [{ jump: { target: "zz" } }] } } }]],
      ["deleting a referenced chain", [{ delete: { chain: { ...T, name: "b" } } }]],
      ["deleting a non-empty, unreferenced chain (allowed)", [{ delete: { chain: { ...T, name: "a" } } }]],
      ["deleting a missing element", [{ delete: { element: { ...T, name: "s", elem: ["1.2.3.4"] } } }]],
      ["overlapping interval", [{ add: { element: { ...T, name: "s", elem: [{ prefix: { addr: "10.1.0.0", len: 16 } }] } } }]],
      ["re-adding a map key with another verdict", [{ add: { element: { ...T, name: "m", elem: [["x", { goto: { target: "a" } }]] } } }]],
      ["a valid batch", [{ add: { element: { ...T, name: "s", elem: ["11.0.0.1"] } } }, { flush: { chain: { ...T, name: "a" } } }, { delete: { chain: { ...T, name: "a" } } }]],
    ];
    const real = new NftKernel({ netns: ns });
    for (const [name, cmds] of batches) {
      const fake = new FakeKernel();
      await real.apply(setup);
      await fake.apply(setup);
      const batch = { nftables: [{ add: { chain: { ...T, name: "new" } } }, ...cmds] };
      const outcome = async (k: { apply(b: unknown): Promise<unknown> }) => {
        try {
          await k.apply(batch);
          return "ok";
        } catch (e) {
          if (!isKernelError(e)) throw e;
          return "refused";
        }
      };
      const [r, f] = [await outcome(real), await outcome(fake)];
      expect(f, name).toBe(r);
      expect(nft.parseListing(await fake.list()), name).toEqual(nft.parseListing(await real.list()));
    }
  });

  it("applies a sequence of models with deltas on both kernels to identical states", async () => {
    const fixture = fixtureModel;
    const seq: DataplaneModel[] = [
      fixture(),
      fixture((ir) => ir.endpoints.pop()), // host endpoint gone: its chains, maps and base chains go
      fixture(), // and back
      fixture((ir) => (ir.endpoints = ir.endpoints.filter((e) => e.kind === "host"))),
      fixture((ir) => (ir.policies.get("np/prod/web")!.ingress = ir.policies.get("np/prod/web")!.ingress.slice(3))),
      fixture(),
    ];
    const real = new NftKernel({ netns: ns });
    await real.apply(nft.renderDeleteTable());
    const fake = new FakeKernel();
    const ra = new Applier(real, { sleep: async () => {} });
    const fa = new Applier(fake, { sleep: async () => {} });
    for (const [i, m] of seq.entries()) {
      const [r, f] = [await ra.apply(m), await fa.apply(m)];
      expect(r.mode, `step ${i}`).toBe(i === 0 ? "full" : "delta");
      expect(f.mode, `step ${i}`).toBe(r.mode);
      expect(nft.diffDigest(nft.expectedDigest(kernelView(m, nftBackend().kernelView)), nft.parseListing(await real.list())!), `step ${i}`).toEqual([]);
      expect(nft.parseListing(await fake.list()), `step ${i}`).toEqual(nft.parseListing(await real.list()));
    }
  });

  it("rule edits and group renames: the same sequence on both kernels ends in the same state", async () => {
    const real = new NftKernel({ netns: ns });
    await real.apply(nft.renderDeleteTable());
    const fake = new FakeKernel();
    const ra = new Applier(real, { sleep: async () => {}, retry: { maxAttempts: 1 } });
    const fa = new Applier(fake, { sleep: async () => {}, retry: { maxAttempts: 1 } });
    const batches: string[] = [];
    const realApply = real.apply.bind(real);
    real.apply = (b: unknown) => {
      batches.push(nft.batchText(b as nft.NftBatch));
      return realApply(b);
    };
    try {
      // Groups grow (appends + rename), shrink (deletes once a drift check taught the handles,
      // refills before), vanish and come back; then Allow runs are compiled (every rule changes).
      // At step 4 web's ingress chain also changes (its profile goes), so it is rewritten in the
      // batch that renames the group it jumps to.
      for (const [i, n] of [3, 4, 5, 4, 6, 2, 0, 3, 4].entries()) {
        if (i % 3 === 0 && i > 0) for (const a of [ra, fa]) expect((await a.checkDrift()).differences).toEqual([]);
        const ir = groupedFixtureIR(n);
        if (i === 4) ir.endpoints.find((e) => e.key === "wep/prod/web")!.ingress.profiles = [];
        const m = buildDataplane(ir, NODE, { config: { compileAllowRuns: i >= 6 } });
        const [r, f] = [await ra.apply(m), await fa.apply(m)];
        expect(f.mode, `step ${i}`).toBe(r.mode);
        expect(nft.diffDigest(nft.expectedDigest(kernelView(m, nftBackend().kernelView)), nft.parseListing(await real.list())!), `step ${i}`).toEqual([]);
        expect(nft.parseListing(await fake.list()), `step ${i}`).toEqual(nft.parseListing(await real.list()));
      }
      // The real kernel got renames and rule deletes by handle, not only refills.
      expect(batches.some((b) => /^rename chain /m.test(b))).toBe(true);
      expect(batches.some((b) => /^delete rule .* handle \d+$/m.test(b))).toBe(true);
    } finally {
      await real.close();
    }
  });

  it("random model sequences converge with one delta batch each", async () => {
    const real = new NftKernel({ netns: ns });
    await fc.assert(
      fc.asyncProperty(fc.array(arbCluster(spec), { minLength: 2, maxLength: 4 }), async (irs) => {
        const applier = new Applier(real, { sleep: async () => {}, retry: { maxAttempts: 1 } });
        await real.apply(nft.renderDeleteTable());
        for (const ir of irs) {
          const m = buildDataplane(ir, "n1");
          await applier.apply(m);
          expect(nft.diffDigest(nft.expectedDigest(kernelView(m, nftBackend().kernelView)), nft.parseListing(await real.list())!)).toEqual([]);
        }
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 15) },
    );
  });

  it("deltas go to the kernel through the netlink relay (element changes alone, or with rules too), the rest through nft", async () => {
    const withClient = (extra: string[], noHost = false) =>
      fixtureModel((ir) => {
        ir.sets.get(SET_CLIENT)!.members = [...(ir.sets.get(SET_CLIENT)!.members as string[]), ...extra];
        if (noHost) ir.endpoints.pop();
      });
    const seq = [withClient([]), withClient(["198.18.2.11/32"]), withClient(["198.18.2.12/32", "fd00:198:0:2::12/128"]), withClient([]), withClient([], true), withClient(["198.18.2.13/32"], true)];
    const expected: Array<[{ netlinkElements?: boolean; netlinkRules?: boolean }, string[]]> = [
      // Dropping the host endpoint deletes chains and maps: nft, unless rules go by netlink too.
      [{ netlinkRules: false }, ["session", "relay", "relay", "relay", "session", "relay"]],
      // With rules, the full load goes by netlink too.
      [{}, ["relay", "relay", "relay", "relay", "relay", "relay"]],
      [{ netlinkElements: false }, ["session", "session", "session", "session", "session", "session"]],
    ];
    for (const [opts, want] of expected) {
      const k = new NftKernel({ netns: ns, ...opts });
      const applier = new Applier(k, { sleep: async () => {}, retry: { maxAttempts: 1 } });
      try {
        await k.apply(nft.renderDeleteTable());
        const paths: string[] = [];
        for (const [i, m] of seq.entries()) {
          const [relayed, viaSession] = [k.relayStats.batches, k.sessionStats?.calls ?? 0];
          await applier.apply(m);
          paths.push(k.relayStats.batches > relayed ? "relay" : (k.sessionStats?.calls ?? 0) > viaSession ? "session" : "one-shot");
          expect(nft.diffDigest(nft.expectedDigest(kernelView(m, nftBackend().kernelView)), nft.parseListing(await k.list())!), `step ${i}`).toEqual([]);
        }
        // The digest compares every set's and map's elements with the model's.
        // The (small) full load goes through the session; member changes are elements only;
        // dropping the host endpoint deletes chains and maps; a member added after it is elements.
        expect(paths, JSON.stringify(opts)).toEqual(want);
      } finally {
        await k.close();
      }
    }
    // A kernel object that has not applied anything learns the layouts from its listing.
    const fresh = new NftKernel({ netns: ns });
    try {
      const listing = await fresh.list();
      const set = (listing as { nftables: Array<{ set?: { name: string; type: unknown } }> }).nftables.find((i) => i.set?.type === "ipv4_addr")!.set!;
      await fresh.apply({ nftables: [{ add: { element: { ...T, name: set.name, elem: ["192.0.2.200"] } } }] });
      expect(fresh.relayStats.batches).toBe(1);
      expect(JSON.stringify(await fresh.list())).toContain("192.0.2.200");
    } finally {
      await fresh.close();
    }
  });

  it("a batch the kernel refuses as netlink messages but accepts from nft turns the netlink path off; one refused by both fails", async () => {
    // A stand-in relay (the protocol of native/nfnl-relay.c) that answers every query and refuses
    // every batch's first command with EINVAL, as a kernel would refuse a wrong encoding.
    const dir = mkdtempSync(join(tmpdir(), "tortie-fakerelay-"));
    const relay = join(dir, "relay.mjs");
    writeFileSync(
      relay,
      `#!${process.execPath}
let buf = Buffer.alloc(0);
const msg = (type, seq, errno) => { const b = Buffer.alloc(36); b.writeUInt32LE(36, 0); b.writeUInt16LE(type, 4); b.writeUInt16LE(0x100, 6); b.writeUInt32LE(seq, 8); b.writeInt32LE(-errno, 16); return b; };
process.stdin.on("data", (d) => {
  buf = Buffer.concat([buf, d]);
  for (;;) {
    if (buf.length < 4) return;
    const count = buf.readUInt32LE(0);
    let off = 4; const sends = [];
    for (let i = 0; i < count; i++) { if (buf.length < off + 4) return; const len = buf.readUInt32LE(off); if (buf.length < off + 4 + len) return; sends.push(buf.subarray(off + 4, off + 4 + len)); off += 4 + len; }
    if (buf.length < off + 4) return;
    const terminator = buf.readUInt32LE(off); buf = buf.subarray(off + 4);
    const first = sends[0] && sends[0].length >= 16 ? sends[0].readUInt32LE(8) : 0;
    const out = sends.length > 1 ? [msg(2, first + 1, 22), msg(2, terminator, 0)] : [msg(2, terminator, 0)];
    const body = Buffer.concat(out); const head = Buffer.alloc(8); head.writeUInt32LE(body.length, 4);
    process.stdout.write(Buffer.concat([head, body]));
  }
});
`,
    );
    chmodSync(relay, 0o755);
    const k = new NftKernel({ netns: ns, relayBinary: relay });
    try {
      const m = fixtureModel();
      const applier = new Applier(k, { sleep: async () => {}, retry: { maxAttempts: 1 } });
      await applier.apply(m);
      expect(k.netlinkOff).toMatch(/kernel refused .*Invalid argument/i);
      expect(k.netlinkStatus().unavailable).toBe(k.netlinkOff);
      expect(nft.diffDigest(nft.expectedDigest(kernelView(m, nftBackend().kernelView)), nft.parseListing(await k.list())!)).toEqual([]);
      // From now on nft applies every batch, and a bad one still fails.
      await expect(k.apply({ nftables: [{ add: { rule: { ...T, chain: "no-such-chain", expr: [{ accept: null }] } } }] })).rejects.toThrow();
      expect(k.relayStats.batches).toBe(0);
    } finally {
      await k.close();
      rmSync(dir, { recursive: true, force: true });
    }
    // With the real relay, a batch the kernel refuses either way fails with the tools' error and
    // leaves the path on.
    const real = new NftKernel({ netns: ns });
    try {
      await real.apply(nft.renderFull(kernelView(fixtureModel(), nftBackend().kernelView)));
      await expect(real.apply({ nftables: [{ add: { rule: { ...T, chain: "no-such-chain", expr: [{ accept: null }] } } }] })).rejects.toThrow(/No such file|no such/i);
      expect(real.netlinkOff).toBeUndefined();
      expect(real.relayStats.batches).toBe(1);
    } finally {
      await real.close();
    }
  });

  it("applies a batch one-shot when the session cannot write its batch file, and uses the session again after", async () => {
    // Rule deltas through nft: what is tested here is the session.
    const k = new NftKernel({ netns: ns, netlinkRules: false });
    const [a, b] = [fixtureModel(), fixtureModel((ir) => (ir.endpoints = ir.endpoints.slice(1)))];
    try {
      await k.apply(nft.renderFull(a));
      const tmp = process.env.TMPDIR;
      process.env.TMPDIR = `/nonexistent-${ns}`;
      try {
        await k.apply(nft.renderOps(diffModels(a, b), b, a));
      } finally {
        if (tmp === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = tmp;
      }
      expect(nft.diffDigest(nft.expectedDigest(b), nft.parseListing(await k.list())!)).toEqual([]);
      const calls = k.sessionStats?.calls ?? 0;
      await k.apply(nft.renderOps(diffModels(b, a), a, b));
      expect(nft.diffDigest(nft.expectedDigest(a), nft.parseListing(await k.list())!)).toEqual([]);
      expect(k.sessionStats?.calls).toBe(calls + 1);
    } finally {
      await k.close();
    }
  });

  it("sends batches longer than sessionMaxBytes one-shot and the rest through the session", async () => {
    const [a, b] = [fixtureModel(), fixtureModel((ir) => (ir.endpoints = ir.endpoints.slice(1)))];
    const full = nft.renderFull(a);
    const delta = nft.renderOps(diffModels(a, b), b, a);
    const max = nft.batchText(delta).length;
    expect(nft.batchText(full).length).toBeGreaterThan(max);
    const k = new NftKernel({ netns: ns, sessionMaxBytes: max, netlinkRules: false });
    try {
      await k.apply(full);
      expect(k.sessionStats).toBeUndefined();
      await k.apply(delta);
      expect(k.sessionStats?.calls).toBe(1);
      expect(nft.diffDigest(nft.expectedDigest(b), nft.parseListing(await k.list())!)).toEqual([]);
    } finally {
      await k.close();
    }
  });

  it("detects someone flushing or deleting the table and resyncs", async () => {
    const m = buildDataplane(fixtureIR(), NODE);
    const applier = new Applier(new NftKernel({ netns: ns }), { sleep: async () => {} });
    await applier.apply(m);
    expect((await applier.checkDrift()).differences).toEqual([]);
    for (const cmd of ["flush table inet tortie", "delete table inet tortie", "delete element inet tortie cali40svc-prod-api { 198.18.2.20 . tcp . 8443 }"]) {
      await nftApplyText(cmd + "\n", { netns: ns });
      const r = await applier.checkDrift();
      expect(r.resynced, cmd).toBe(true);
      expect(nft.diffDigest(nft.expectedDigest(kernelView(m, nftBackend().kernelView)), nft.parseListing(await nftListTable("inet", "tortie", { netns: ns }))!), cmd).toEqual([]);
    }
  });
});
