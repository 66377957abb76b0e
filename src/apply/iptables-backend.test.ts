/**
 * The iptables + ipset backend against the real kernel, in namespaces this file creates: the
 * rendered fixture loads with iptables-restore and ipset, iptables-save / ipset save read back to
 * the expected digest, deltas are small and converge, drift is detected and repaired, removal
 * leaves nothing of ours — with the host's default iptables (nf_tables backend here) and with
 * iptables-legacy.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDataplane, kernelView, type DataplaneModel } from "../dataplane/index.js";
import { arbCluster, type ArbSpec } from "../dataplane/testdata/arbitrary.js";
import { fixtureIR, NODE, SET_DNS } from "../dataplane/testdata/fixtures.js";
import { exec } from "../kernel/index.js";
import { canUseNetns, createNamespace, deleteNamespace, uniqueName } from "../netns/index.js";
import { iptables } from "../render/index.js";
import type { ClusterIR } from "../rule/index.js";
import { Applier, IptablesKernel, iptablesBackend, iptablesBinaries, type IptablesVariant } from "./index.js";

const root = canUseNetns();

const spec: ArbSpec = {
  pods: [
    { name: "a", iface: "cali5e1c4d6c68c", v4: "198.18.1.10", v6: "fd00:198:0:1::10", node: "n1" },
    { name: "b", iface: "cali2f5353dd8c5", v4: "198.18.1.11", v6: "fd00:198:0:1::11", node: "n1" },
  ],
  externalNets: ["198.19.0.0/16", "fd00:198:99::/64"],
};

const fixture = (mut?: (ir: ClusterIR) => void, config = {}) => {
  const ir = fixtureIR();
  mut?.(ir);
  return buildDataplane(ir, NODE, { config: { compileAllowRuns: false, ...config } });
};

for (const variant of ["default", "legacy"] as IptablesVariant[]) {
  describe.skipIf(!root)(`iptables backend in a real kernel (${variant})`, () => {
    const ns = uniqueName("ipt");
    const kernel = new IptablesKernel({ netns: ns, variant });
    const backend = iptablesBackend();
    const digest = async () => backend.parse(await kernel.list());
    const inSync = async (m: DataplaneModel, what = "") => expect(backend.compare(backend.expected(kernelView(m)), await digest()), what).toEqual([]);
    const run = (cmd: string, args: string[]) => exec(cmd, args, { netns: ns });
    const ipt = (family: 4 | 6, args: string[]) => run(iptablesBinaries(variant, family).restore.replace("-restore", ""), args);
    const save = async (family: 4 | 6, table: string) => (await run(iptablesBinaries(variant, family).save, ["-t", table])).stdout;

    beforeAll(() => createNamespace(ns));
    afterAll(async () => {
      await kernel.close();
      await deleteNamespace(ns);
    });

    it("loads the fixture (both configs), reads back to the expected digest, and leaves others' rules alone", async () => {
      // Someone else's rules, before and after ours.
      await ipt(4, ["-A", "FORWARD", "-s", "198.19.9.9", "-j", "DROP"]);
      await ipt(4, ["-N", "other-chain"]);
      await ipt(4, ["-A", "other-chain", "-j", "RETURN"]);
      for (const config of [{}, { denyAction: "reject" as const, logDenied: true, compileAllowRuns: true }]) {
        const m = fixture(undefined, config);
        const applier = new Applier(kernel, { backend, sleep: async () => {}, retry: { maxAttempts: 1 } });
        expect((await applier.apply(m)).mode).toBe("full");
        await inSync(m);
        const filter = await save(4, "filter");
        const fwd = filter.split("\n").filter((l) => l.startsWith("-A FORWARD "));
        expect(fwd[0]).toMatch(/-j cali-FORWARD$/);
        expect(fwd[1]).toMatch(/-s 198\.19\.9\.9\/32 -j DROP/);
        expect(filter).toContain("-A other-chain -j RETURN");
        expect(await save(6, "raw")).toMatch(/-A PREROUTING .*-j cali-PREROUTING/);
        expect((await run("ipset", ["list", "cali40n-postgres000000000000000"])).stdout).toContain("198.18.1.11,tcp:5432");
      }
    });

    it("applies deltas: a selector member is one ipset add; edits, endpoint and host-endpoint removal converge", async () => {
      const applier = new Applier(kernel, { backend, sleep: async () => {}, retry: { maxAttempts: 1 } });
      await applier.apply(fixture());
      await inSync(fixture());

      const withMember = fixture((ir) => (ir.sets.get(SET_DNS) as unknown as { members: string[] }).members.push("198.18.2.99/32"));
      const relayed = kernel.relayStats.batches;
      expect(await applier.apply(withMember)).toMatchObject({ mode: "delta", ops: 1 });
      expect(kernel.lastSteps).toEqual([{ tool: "ipset", input: "add cali40s-dns00000000000000000000 198.18.2.99\n" }]);
      // The add went to the kernel as a netlink message (ipset-nl.ts), not through `ipset restore`.
      expect(kernel.relayStats.batches).toBe(relayed + 1);
      await inSync(withMember);
      expect(await applier.apply(fixture())).toMatchObject({ mode: "delta", ops: 1 });
      expect(kernel.relayStats.batches).toBe(relayed + 2);
      await inSync(fixture());
      await applier.apply(withMember);
      await inSync(withMember);

      // The same with the relay turned off: the ipset tool runs the step.
      const byTool = new IptablesKernel({ netns: ns, variant, netlinkElements: false });
      const toolApplier = new Applier(byTool, { backend, sleep: async () => {}, retry: { maxAttempts: 1 } });
      await toolApplier.apply(withMember);
      expect(await toolApplier.apply(fixture())).toMatchObject({ mode: "delta", ops: 1 });
      expect(byTool.relayStats).toMatchObject({ batches: 0, starts: 0 });
      await inSync(fixture());
      // The first applier believes withMember: its delta deletes an element that is gone, which
      // -exist semantics (kept by the netlink path) make harmless.
      expect(await applier.apply(fixture())).toMatchObject({ mode: "delta", ops: 1 });
      expect(kernel.relayStats.batches).toBe(relayed + 4);

      const seq: Array<[string, DataplaneModel]> = [
        ["policy edit", fixture((ir) => (ir.policies.get("knp/prod/db")!.ingress[0]!.action = "Deny"))],
        ["endpoint removed", fixture((ir) => (ir.endpoints = ir.endpoints.filter((e) => e.key !== "wep/prod/db")))],
        ["host endpoint removed", fixture((ir) => (ir.endpoints = ir.endpoints.filter((e) => e.kind !== "host")))],
        ["everything back", fixture()],
        ["only the host endpoint", fixture((ir) => (ir.endpoints = ir.endpoints.filter((e) => e.kind === "host")))],
        ["no endpoints", fixture((ir) => (ir.endpoints = []))],
        ["everything back again", fixture()],
      ];
      for (const [what, m] of seq) {
        expect((await applier.apply(m)).mode, what).toBe("delta");
        await inSync(m, what);
      }
      const noHost = await save(4, "raw");
      expect(noHost).toContain(":cali-PREROUTING"); // the last model has the host endpoint again
    });

    it("detects drift (flushed chain, deleted jump, rule inserted above ours, lost element) and resyncs", async () => {
      const m = fixture();
      const applier = new Applier(kernel, { backend, sleep: async () => {} });
      await applier.apply(m);
      expect((await applier.checkDrift()).differences).toEqual([]);
      const drifts: Array<[string, () => Promise<unknown>]> = [
        ["flush cali-FORWARD", () => ipt(4, ["-F", "cali-FORWARD"])],
        ["delete the FORWARD jump", () => ipt(6, ["-D", "FORWARD", "1"])],
        ["insert above our jump", () => ipt(4, ["-I", "INPUT", "1", "-s", "198.19.8.8", "-j", "ACCEPT"])],
        ["delete a set element", () => run("ipset", ["del", "cali40svc-prod-api", "198.18.2.20,tcp:8443"])],
        ["add a foreign rule to our chain", () => ipt(4, ["-A", "cali-wl-to-host", "-j", "ACCEPT"])],
      ];
      for (const [what, act] of drifts) {
        await act();
        const r = await applier.checkDrift();
        expect(r.resynced, what).toBe(true);
        expect(r.differences.length, what).toBeGreaterThan(0);
        await inSync(m, what);
      }
      // The admin's rule inserted above ours survives the resync (only our jump moved back on top).
      expect(await save(4, "filter")).toMatch(/-A INPUT -s 198\.19\.8\.8\/32 -j ACCEPT/);
    });

    it("random model sequences converge with one delta each", async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(arbCluster(spec), { minLength: 2, maxLength: 3 }), fc.boolean(), async (irs, compile) => {
          const applier = new Applier(kernel, { backend, sleep: async () => {}, retry: { maxAttempts: 1 } });
          for (const [i, ir] of irs.entries()) {
            const m = buildDataplane(ir, "n1", { config: { compileAllowRuns: compile } });
            const r = await applier.apply(m);
            if (i > 0) expect(r.mode).not.toBe("full");
            await inSync(m);
          }
        }),
        { numRuns: Number(process.env.PROPERTY_RUNS ?? 8) },
      );
    });

    it("remove() deletes every chain, jump and set of ours and nothing else", async () => {
      const applier = new Applier(kernel, { backend, sleep: async () => {} });
      await applier.apply(fixture());
      await applier.remove();
      expect(await digest()).toBeNull();
      const filter = await save(4, "filter");
      expect(filter).not.toContain("cali-");
      expect(filter).toContain("-A other-chain -j RETURN");
      expect(filter).toContain("198.19.9.9");
      expect((await run("ipset", ["list", "-n"])).stdout.trim()).toBe("");
      // And a full load into that clean state works again.
      await applier.apply(fixture());
      await inSync(fixture());
    });
  });
}

/** The fixture plus `n` more workloads on the node (enough for the dispatch prefix trie). */
function manyWorkloads(n: number): DataplaneModel {
  return fixture((ir) => {
    const base = ir.endpoints.find((e) => e.key === "wep/prod/web")!;
    for (let i = 0; i < n; i++) {
      const hex = (i * 2654435761).toString(16).padStart(11, "0").slice(-11);
      ir.endpoints.push({ ...base, key: `wep/prod/w${i}`, name: `w${i}`, interfaceName: `cali${hex}`, ips: [`198.18.3.${i + 1}`] });
    }
  });
}

describe.skipIf(!root)("iptables backend: dispatch trie in the kernel", () => {
  const ns = uniqueName("ipd");
  beforeAll(() => createNamespace(ns));
  afterAll(() => deleteNamespace(ns));

  it("many workloads load as a prefix trie and shrink back to linear dispatch by delta", async () => {
    const kernel = new IptablesKernel({ netns: ns });
    const backend = iptablesBackend();
    const applier = new Applier(kernel, { backend, sleep: async () => {}, retry: { maxAttempts: 1 } });
    for (const [n, mode] of [[60, "full"], [30, "delta"], [0, "delta"], [45, "delta"]] as const) {
      const m = manyWorkloads(n);
      expect((await applier.apply(m)).mode).toBe(mode);
      expect(backend.compare(backend.expected(kernelView(m)), backend.parse(await kernel.list())), `${n} workloads`).toEqual([]);
      const filter = (await exec("iptables-save", ["-t", "filter"], { netns: ns })).stdout;
      expect(filter.includes(":cali-from-wl-dispatch-"), `${n} workloads`).toBe(n >= 30);
    }
  });
});

describe.skipIf(!root)("iptables backend: full replace over leftovers", () => {
  const ns = uniqueName("ipr");
  beforeAll(() => createNamespace(ns));
  afterAll(() => deleteNamespace(ns));

  it("replaces stale chains, duplicate jumps, leftover temp sets and a set of the wrong type", async () => {
    const kernel = new IptablesKernel({ netns: ns });
    const run = (cmd: string, args: string[], input?: string) => exec(cmd, args, { netns: ns, ...(input ? { input } : {}) });
    await run("ipset", ["restore"], "create cali40s-dns00000000000000000000 hash:net family inet\ncreate cali4t0 hash:ip family inet\ncreate cali40s-stale hash:ip family inet\n");
    await run("iptables", ["-N", "cali-stale"]);
    await run("iptables", ["-N", "cali-FORWARD"]);
    await run("iptables", ["-A", "FORWARD", "-j", "cali-FORWARD"]);
    await run("iptables", ["-A", "FORWARD", "-j", "cali-stale"]);
    await run("iptables", ["-A", "cali-stale", "-m", "set", "--match-set", "cali40s-dns00000000000000000000", "src", "-j", "DROP"]);
    const m = fixture();
    const applier = new Applier(kernel, { backend: iptablesBackend(), sleep: async () => {}, retry: { maxAttempts: 1 } });
    await applier.apply(m);
    expect(iptables.diffDigest(iptables.expectedDigest(iptables.render(kernelView(m))), iptables.stateDigest(iptables.parseState(await kernel.list())))).toEqual([]);
    const sets = (await run("ipset", ["list", "-n"])).stdout;
    expect(sets).not.toContain("cali4t0");
    expect(sets).not.toContain("cali40s-stale");
  });
});
