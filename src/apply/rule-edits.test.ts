/**
 * Rule-level deltas (render/nft/rule-edits.ts) through the Applier on the fake kernel: which
 * transactions a change becomes, that the kernel ends where a full replace would put it, and how
 * handles are learned. kernel.test.ts runs the same sequences against the real kernel.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildDataplane, kernelView, type DataplaneModel } from "../dataplane/index.js";
import { groupedFixtureIR, NODE } from "../dataplane/testdata/fixtures.js";
import { nft } from "../render/index.js";
import { Applier, FakeKernel, nftBackend } from "./index.js";

const T = nft.DEFAULT_TARGET;
const groupModel = (policies: number): DataplaneModel => buildDataplane(groupedFixtureIR(policies), NODE, { config: { compileAllowRuns: false } });
const inSync = (k: FakeKernel, m: DataplaneModel) => expect(nft.diffDigest(nft.expectedDigest(kernelView(m, nftBackend().kernelView)), nft.parseListing(k.listTable(T.family, T.table))!)).toEqual([]);
type Cmd = Record<string, Record<string, Record<string, unknown>>>;
const cmds = (batch: unknown) => (batch as { nftables: Cmd[] }).nftables;
const verbs = (batch: unknown) => cmds(batch).map((c) => `${Object.keys(c)[0]} ${Object.keys(Object.values(c)[0]!)[0]}`);
const applierOn = (kernel: FakeKernel) => new Applier(kernel, { sleep: async () => {}, retry: { maxAttempts: 1 } });

describe("rule edits by handle", () => {
  it("a policy added to a group two endpoints share: the group is renamed and appended to, and nothing else changes", async () => {
    const kernel = new FakeKernel();
    const applier = applierOn(kernel);
    await applier.apply(groupModel(3));
    const oldGroup = groupModel(3).chains.keyList().filter((c) => c.startsWith("cali-gi-"));
    await applier.apply(groupModel(4));
    inSync(kernel, groupModel(4));
    const edits = kernel.batches.at(-1);
    // One transaction: appends to the group under its old name, then its rename. The endpoint
    // chains' jumps follow the renamed group, so nothing else changes.
    const v = verbs(edits);
    expect(v.at(-1)).toBe("rename chain");
    expect(new Set(v.slice(0, -1))).toEqual(new Set(["add rule"]));
    const rename = cmds(edits).at(-1)!.rename!.chain!;
    expect(oldGroup).toContain(rename.name);
    expect(groupModel(4).chains.keyList()).toContain(rename.newname);
    expect(new Set(cmds(edits).slice(0, -1).map((c) => Object.values(c)[0]!.rule!.chain))).toEqual(new Set([rename.name]));
    // Without rule edits the same change re-creates the group and rewrites both endpoint chains.
    const plain = new FakeKernel();
    const plainApplier = new Applier(plain, { backend: nftBackend(T, { ruleEdits: false }), sleep: async () => {} });
    await plainApplier.apply(groupModel(3));
    await plainApplier.apply(groupModel(4));
    expect(verbs(edits).length * 5).toBeLessThan(verbs(plain.batches.at(-1)).filter((x) => x.endsWith(" rule")).length);
    // The applier never lists the kernel for this.
    expect(kernel.listCount).toBe(0);
  });

  it("a chain rewritten in the same delta as a rename jumps to the renamed chain by its old name", async () => {
    const kernel = new FakeKernel();
    const applier = applierOn(kernel);
    await applier.apply(groupModel(3));
    // The group grows (renamed) while web's ingress chain also changes (its profile goes), so web's
    // chain is rewritten in the same batch and names the group.
    const ir = groupedFixtureIR(4);
    ir.endpoints.find((e) => e.key === "wep/prod/web")!.ingress.profiles = [];
    const m = buildDataplane(ir, NODE, { config: { compileAllowRuns: false } });
    await applier.apply(m);
    inSync(kernel, m);
    const batch = cmds(kernel.batches.at(-1));
    const rename = batch.at(-1)!.rename!.chain!;
    const jumps = batch.flatMap((c) => ((Object.values(c)[0]!.rule?.expr as Array<{ jump?: { target: string } }> | undefined) ?? []).flatMap((x) => (x.jump ? [x.jump.target] : [])));
    expect(jumps).toContain(rename.name);
    expect(jumps).not.toContain(rename.newname);
  });

  it("rules are deleted by handle once a drift check has listed them, and refilled while their handles are unknown", async () => {
    const kernel = new FakeKernel();
    const applier = applierOn(kernel);
    await applier.apply(groupModel(4));
    // Handles unknown since the full load: taking k4 out of the group refills it (and renames it).
    await applier.apply(groupModel(3));
    expect(verbs(kernel.batches.at(-1))).toContain("flush chain");
    inSync(kernel, groupModel(3));
    // A drift check in sync teaches the handles: now k4 in and out again are appends and deletes.
    for (const n of [4, 3]) {
      expect((await applier.checkDrift()).differences).toEqual([]);
      await applier.apply(groupModel(n));
      inSync(kernel, groupModel(n));
      expect(new Set(verbs(kernel.batches.at(-1)))).toEqual(new Set([n === 4 ? "add rule" : "delete rule", "rename chain"]));
    }
  });

  it("a failed batch with a rename is retried as a full replace and converges", async () => {
    const kernel = new FakeKernel();
    const events: string[] = [];
    const applier = new Applier(kernel, { sleep: async () => {}, onEvent: (e) => events.push(e.kind === "applied" ? `applied ${e.mode}` : e.kind) });
    await applier.apply(groupModel(3));
    kernel.failApplyWhen((b) => (verbs(b).includes("rename chain") ? "FAILED" : undefined));
    const r = await applier.apply(groupModel(4));
    kernel.failApplyWhen(undefined);
    expect(r.mode).toBe("full");
    expect(events).toEqual(["applied full", "apply-failed", "applied full"]);
    inSync(kernel, groupModel(4));
    await applier.apply(groupModel(5));
    inSync(kernel, groupModel(5));
  });

  it("random model sequences, with drift checks between some steps, end where a full replace would", async () => {
    const ir = (n: number, hosts: boolean) => {
      const x = groupedFixtureIR(n);
      if (!hosts) x.endpoints = x.endpoints.filter((e) => e.kind !== "host");
      return buildDataplane(x, NODE, { config: { compileAllowRuns: n % 2 === 0 } });
    };
    const step = fc.record({ n: fc.integer({ min: 0, max: 6 }), hosts: fc.boolean(), drift: fc.boolean() });
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 2, maxLength: 8 }), async (steps) => {
        const kernel = new FakeKernel();
        const applier = applierOn(kernel);
        for (const s of steps) {
          if (s.drift) expect((await applier.checkDrift()).differences).toEqual([]);
          await applier.apply(ir(s.n, s.hosts));
          inSync(kernel, ir(s.n, s.hosts));
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe("chainEdit", () => {
  const rule = (comment: string) => ({ expr: [{ accept: null }] as nft.NftExpr[], comment });
  const listed = (k: FakeKernel) => {
    const rules = ((k.listTable(T.family, T.table) as { nftables: Array<{ rule?: { handle: number; comment: string } }> }).nftables ?? []).flatMap((x) => (x.rule ? [x.rule] : []));
    return { keys: rules.map((r) => r.comment), handles: rules.map((r) => r.handle) };
  };
  const load = async (comments: string[]) => {
    const k = new FakeKernel();
    await k.apply({ nftables: [{ add: { table: { family: T.family, name: T.table } } }, { add: { chain: { family: T.family, table: T.table, name: "c" } } }, ...comments.map((c) => ({ add: { rule: { family: T.family, table: T.table, chain: "c", ...rule(c) } } }))] });
    return k;
  };

  it("edits any chain into any other with deletes, prepends and appends, keeping the handles of the rules it keeps, in no more commands than a refill", async () => {
    const comments = fc.array(fc.constantFrom("a", "b", "c", "d", "e", "f"), { maxLength: 14 });
    await fc.assert(
      fc.asyncProperty(comments, comments, fc.array(fc.boolean(), { minLength: 14, maxLength: 14 }), async (old, next, unknown) => {
        const k = await load(old);
        const known = listed(k);
        // Some handles unknown (added since the last listing): such a rule is never deleted.
        known.handles = known.handles.map((h, i) => (unknown[i] ? -1 : h));
        const edit = nft.chainEdit("c", known, next.map(rule), T);
        if (!edit) return; // a refill is no more commands, or a rule to delete has no handle
        expect(edit.cmds.length).toBeLessThanOrEqual(next.length);
        // Only the commands nft 1.0.6 runs without fetching every rule of the table first.
        for (const c of edit.cmds) {
          const rule = Object.values(c)[0]!.rule as { handle?: number };
          expect("delete" in c ? rule.handle! >= 0 : rule.handle === undefined, JSON.stringify(c)).toBe(true);
        }
        await k.apply({ nftables: edit.cmds });
        const after = listed(k);
        expect(after.keys).toEqual(next);
        edit.handles.forEach((h, i) => h >= 0 && expect(after.handles[i]).toBe(h));
      }),
      { numRuns: 300 },
    );
  });

  it("a rule appended is one add, a rule prepended one insert; in the middle, the longer side stays", async () => {
    const k = await load(["a", "b", "c"]);
    const known = listed(k);
    const rule1 = (verb: string, comment: string) => ({ [verb]: { rule: { family: T.family, table: T.table, chain: "c", ...rule(comment) } } });
    const del = (i: number) => ({ delete: { rule: { family: T.family, table: T.table, chain: "c", handle: known.handles[i] } } });
    expect(nft.chainEdit("c", known, ["a", "b", "c", "x"].map(rule), T)!.cmds).toEqual([rule1("add", "x")]);
    expect(nft.chainEdit("c", known, ["x", "a", "b", "c"].map(rule), T)!.cmds).toEqual([rule1("insert", "x")]);
    expect(nft.chainEdit("c", known, ["a", "b", "x", "c"].map(rule), T)!.cmds).toEqual([del(2), rule1("add", "x"), rule1("add", "c")]);
    expect(nft.chainEdit("c", known, ["y", "x", "b", "c"].map(rule), T)!.cmds).toEqual([del(0), rule1("insert", "x"), rule1("insert", "y")]);
    expect(nft.chainEdit("c", known, ["x", "y", "z"].map(rule), T)).toBeUndefined();
    expect(nft.chainEdit("c", { keys: known.keys, handles: [known.handles[0]!, known.handles[1]!, -1] }, ["a", "b", "x", "c"].map(rule), T)).toBeUndefined();
  });
});
