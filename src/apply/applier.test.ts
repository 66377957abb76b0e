import { describe, expect, it } from "vitest";
import { buildDataplane, kernelView } from "../dataplane/index.js";
import { fixtureIR, NODE, SET_DNS } from "../dataplane/testdata/fixtures.js";
import { nft } from "../render/index.js";
import { Applier, ApplyError, FakeKernel, nftBackend, type ApplierEvent } from "./index.js";

type Cmd = Record<string, Record<string, unknown>>;
const cmds = (b: unknown) => (b as { nftables: Cmd[] }).nftables;
const verbs = (b: unknown) => cmds(b).map((c) => `${Object.keys(c)[0]} ${Object.keys(Object.values(c)[0]!)[0]}`);

function setup(retry = {}) {
  const kernel = new FakeKernel();
  const sleeps: number[] = [];
  const events: ApplierEvent[] = [];
  const applier = new Applier(kernel, { retry, sleep: async (ms) => void sleeps.push(ms), random: () => 0, onEvent: (e) => events.push(e) });
  return { kernel, applier, sleeps, events };
}

const model = (mut?: (ir: ReturnType<typeof fixtureIR>) => void) => {
  const ir = fixtureIR();
  mut?.(ir);
  return buildDataplane(ir, NODE, { config: { compileAllowRuns: false } });
};

const inSync = (k: FakeKernel, m: ReturnType<typeof model>) => expect(nft.diffDigest(nft.expectedDigest(kernelView(m, nftBackend().kernelView)), nft.parseListing(k.listTable("inet", "tortie"))!)).toEqual([]);

describe("Applier on the fake kernel", () => {
  it("loads fully first, then sends nothing when unchanged, then only what changed", async () => {
    const { kernel, applier } = setup();
    const m1 = model();
    expect((await applier.apply(m1)).mode).toBe("full");
    inSync(kernel, m1);
    expect(await applier.apply(model())).toMatchObject({ mode: "noop" });
    expect(kernel.batches).toHaveLength(1);

    const m2 = model((ir) => (ir.sets.get(SET_DNS) as unknown as { members: string[] }).members.push("198.18.2.99/32"));
    expect(await applier.apply(m2)).toMatchObject({ mode: "delta", ops: 1 });
    expect(cmds(kernel.batches[1])).toEqual([{ add: { element: { family: "inet", table: "tortie", name: "cali40s-dns00000000000000000000", elem: ["198.18.2.99"] } } }]);
    inSync(kernel, m2);
  });

  it("a policy edit replaces one chain in one batch", async () => {
    const { kernel, applier } = setup();
    await applier.apply(model());
    await applier.apply(model((ir) => (ir.policies.get("knp/prod/db")!.ingress[0]!.action = "Deny")));
    expect(verbs(kernel.batches[1]).filter((v) => v !== "add rule")).toEqual(["flush chain"]);
    expect(JSON.stringify(kernel.batches[1])).toContain("cali-pi-knp/prod/db");
  });

  it("retries a failed delta as a full replace, with exponential backoff", async () => {
    const { kernel, applier, sleeps, events } = setup({ initialDelayMs: 10, maxAttempts: 5 });
    await applier.apply(model());
    kernel.failNextApply(2, "BUSY");
    const m2 = model((ir) => ir.endpoints.pop());
    const r = await applier.apply(m2);
    expect(r).toMatchObject({ mode: "full", attempts: 3 });
    expect(sleeps).toEqual([10, 20]);
    expect(events.filter((e) => e.kind === "apply-failed").map((e) => (e as { mode: string }).mode)).toEqual(["delta", "full"]);
    inSync(kernel, m2);
  });

  it("gives up with ApplyError after maxAttempts; the next apply is a full replace", async () => {
    const { kernel, applier, sleeps } = setup({ initialDelayMs: 100, maxDelayMs: 250, maxAttempts: 4 });
    await applier.apply(model());
    kernel.failNextApply(4, "TIMEOUT");
    await expect(applier.apply(model((ir) => ir.endpoints.pop()))).rejects.toBeInstanceOf(ApplyError);
    expect(sleeps).toEqual([100, 200, 250]);
    expect(applier.programmed).toBeNull();
    const r = await applier.apply(model((ir) => ir.endpoints.pop()));
    expect(r.mode).toBe("full");
  });

  it("a failed batch changes nothing in the kernel (atomicity)", async () => {
    const { kernel, applier } = setup({ maxAttempts: 1 });
    const m1 = model();
    await applier.apply(m1);
    const before = JSON.stringify(kernel.listTable("inet", "tortie"));
    // Fail any batch that deletes a chain: the earlier commands of that batch must not stick.
    kernel.failApplyWhen((b) => (verbs(b).includes("delete chain") ? "BUSY" : undefined));
    await expect(applier.apply(model((ir) => (ir.endpoints = ir.endpoints.filter((e) => e.key !== "wep/prod/db"))))).rejects.toThrow(ApplyError);
    expect(JSON.stringify(kernel.listTable("inet", "tortie"))).toBe(before);
  });

  it("detects a flushed table and resyncs", async () => {
    const { kernel, applier, events } = setup();
    const m1 = model();
    await applier.apply(m1);
    expect(await applier.checkDrift()).toEqual({ differences: [], resynced: false });
    kernel.external({ nftables: [{ flush: { table: { family: "inet", name: "tortie" } } }] });
    const report = await applier.checkDrift();
    expect(report.resynced).toBe(true);
    expect(report.differences.length).toBeGreaterThan(0);
    expect(events.some((e) => e.kind === "drift")).toBe(true);
    inSync(kernel, m1);
  });

  it("detects a deleted table, a deleted element and a foreign rule", async () => {
    const { kernel, applier } = setup();
    const m1 = model();
    await applier.apply(m1);
    const drifts: Array<[string, unknown]> = [
      ["table", { nftables: [{ delete: { table: { family: "inet", name: "tortie" } } }] }],
      ["element", { nftables: [{ delete: { element: { family: "inet", table: "tortie", name: "cali40s-dns00000000000000000000", elem: ["198.18.2.53"] } } }] }],
      ["rule", { nftables: [{ add: { rule: { family: "inet", table: "tortie", chain: "cali-wl-to-host", expr: [{ accept: null }] } } }] }],
    ];
    for (const [what, batch] of drifts) {
      kernel.external(batch);
      const r = await applier.checkDrift();
      expect(r.resynced, what).toBe(true);
      inSync(kernel, m1);
    }
  });

  it("reports but does not throw when listing fails", async () => {
    const { kernel, applier, events } = setup();
    await applier.apply(model());
    kernel.failNextList();
    expect(await applier.checkDrift()).toEqual({ differences: [], resynced: false });
    expect(events.at(-1)).toMatchObject({ kind: "drift-check-failed" });
  });

  it("serialises concurrent calls in call order", async () => {
    const { kernel, applier } = setup();
    const ms = [model(), model((ir) => ir.endpoints.pop()), model((ir) => ir.endpoints.splice(0, 2))];
    const results = await Promise.all(ms.map((m) => applier.apply(m)));
    expect(results.map((r) => r.mode)).toEqual(["full", "delta", "delta"]);
    inSync(kernel, ms[2]!);
  });

  it("remove() deletes the table", async () => {
    const { kernel, applier } = setup();
    await applier.apply(model());
    await applier.remove();
    expect(kernel.listTable("inet", "tortie")).toBeNull();
  });
});

describe("FakeKernel enforces what the kernel enforces", () => {
  const T = { family: "inet", table: "tortie" };
  const base = () => {
    const k = new FakeKernel();
    k.external({
      nftables: [
        { add: { table: { family: "inet", name: "tortie" } } },
        { add: { chain: { ...T, name: "a" } } },
        { add: { chain: { ...T, name: "b" } } },
        { add: { set: { ...T, name: "s", type: "ipv4_addr", flags: ["interval"], elem: [{ prefix: { addr: "10.0.0.0", len: 8 } }] } } },
        { add: { map: { ...T, name: "m", type: "ifname", map: "verdict", elem: [["x", { goto: { target: "b" } }]] } } },
        { add: { rule: { ...T, chain: "a", expr: [{ jump: { target: "b" } }] } } },
      ],
    });
    return k;
  };
  const cases: Array<[string, Cmd[], string]> = [
    ["rule naming a missing chain", [{ add: { rule: { ...T, chain: "a", expr: [{ jump: { target: "zz" } }] } } }], "NOT_FOUND"],
    ["rule naming a missing set", [{ add: { rule: { ...T, chain: "a", expr: [{ match: { op: "==", left: 1, right: "@nope" } }] } } }], "NOT_FOUND"],
    ["deleting a referenced chain", [{ delete: { chain: { ...T, name: "b" } } }], "BUSY"],
    ["deleting a missing element", [{ delete: { element: { ...T, name: "s", elem: ["1.2.3.4"] } } }], "NOT_FOUND"],
    ["overlapping interval", [{ add: { element: { ...T, name: "s", elem: [{ prefix: { addr: "10.1.0.0", len: 16 } }] } } }], "EXISTS"],
    ["re-adding a map key with another verdict", [{ add: { element: { ...T, name: "m", elem: [["x", { goto: { target: "a" } }]] } } }], "EXISTS"],
    ["changing a set's type", [{ add: { set: { ...T, name: "s", type: "ipv6_addr" } } }], "EXISTS"],
  ];
  for (const [name, batch, code] of cases) {
    it(`${name} fails (${code}) and leaves the state unchanged`, async () => {
      const k = base();
      const before = JSON.stringify(k.listTable("inet", "tortie"));
      await expect(k.apply({ nftables: [{ add: { chain: { ...T, name: "new" } } }, ...batch] })).rejects.toMatchObject({ code });
      expect(JSON.stringify(k.listTable("inet", "tortie"))).toBe(before);
    });
  }
});
