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
import { Applier, FakeKernel, nftBackend, type ListOptions } from "./index.js";

const T = nft.DEFAULT_TARGET;
const groupModel = (policies: number): DataplaneModel => buildDataplane(groupedFixtureIR(policies), NODE, { config: { compileAllowRuns: false } });
const inSync = (k: FakeKernel, m: DataplaneModel) => expect(nft.diffDigest(nft.expectedDigest(kernelView(m, nftBackend().kernelView)), nft.parseListing(k.listTable(T.family, T.table))!)).toEqual([]);
type Cmd = Record<string, Record<string, Record<string, unknown>>>;
const verbs = (batch: unknown) => ((batch as { nftables: Cmd[] }).nftables ?? []).map((c) => `${Object.keys(c)[0]} ${Object.keys(Object.values(c)[0]!)[0]}`);

/** A fake kernel that records the options of every listing. */
function recordingKernel(): { kernel: FakeKernel; lists: ListOptions[] } {
  const kernel = new FakeKernel();
  const lists: ListOptions[] = [];
  const list = kernel.list.bind(kernel);
  kernel.list = (opts: ListOptions = {}) => {
    lists.push(opts);
    return list(opts);
  };
  return { kernel, lists };
}

describe("rule edits by handle", () => {
  it("a policy added to a group two endpoints share: the group is renamed and appended to, and nothing else changes", async () => {
    const { kernel, lists } = recordingKernel();
    const applier = new Applier(kernel, { backend: nftBackend(T, { ruleEditOptions: { renameMinRules: 4 } }), sleep: async () => {} });
    await applier.apply(groupModel(3));
    const before = kernel.batches.length;
    const r = await applier.apply(groupModel(4));
    inSync(kernel, groupModel(4));
    expect(r.summary).toMatch(/\(2 transactions\)$/);
    const [rename, edits] = kernel.batches.slice(before);
    expect(verbs(rename)).toEqual(["rename chain"]);
    // One terse listing taught the handles after the full load.
    expect(lists).toEqual([{ terse: true }]);
    // The endpoint chains' jumps follow the renamed group: only the group is edited.
    const v = verbs(edits);
    expect(v).not.toContain("flush chain");
    expect(v).not.toContain("add chain");
    const chains = new Set((edits as { nftables: Cmd[] }).nftables.map((c) => Object.values(c)[0]!.rule?.chain));
    expect([...chains]).toEqual([(rename as { nftables: Cmd[] }).nftables[0]!.rename!.chain!.newname]);
    // Without rule edits the same change re-creates the group and rewrites both endpoint chains.
    const plain = new FakeKernel();
    const plainApplier = new Applier(plain, { backend: nftBackend(T, { ruleEdits: false }), sleep: async () => {} });
    await plainApplier.apply(groupModel(3));
    await plainApplier.apply(groupModel(4));
    const plainRules = verbs(plain.batches.at(-1)).filter((x) => x.endsWith(" rule")).length;
    expect(v.filter((x) => x.endsWith(" rule")).length * 5).toBeLessThan(plainRules);
  });

  it("rules added since the last listing are listed, chain by chain, before they are edited again", async () => {
    const { kernel, lists } = recordingKernel();
    const applier = new Applier(kernel, { backend: nftBackend(T, { ruleEditOptions: { renameMinRules: 4 } }), sleep: async () => {} });
    for (const n of [3, 4, 5, 6, 5, 4]) {
      await applier.apply(groupModel(n));
      inSync(kernel, groupModel(n));
    }
    const chainListings = lists.filter((l) => l.chains);
    expect(chainListings.length).toBeGreaterThan(0);
    for (const l of chainListings) expect(l.chains!.length).toBeGreaterThan(0);
    // One policy more or less at a time: every batch after the first edits by handle, and no
    // chain is flushed but to be deleted.
    for (const b of kernel.batches.slice(1)) {
      const named = (verb: string) => (b as { nftables: Cmd[] }).nftables.filter((c) => c[verb]?.chain).map((c) => c[verb]!.chain!.name);
      expect(named("flush")).toEqual(named("delete"));
    }
  });

  it("a delta that changes only set elements does not list the kernel", async () => {
    const { kernel, lists } = recordingKernel();
    const applier = new Applier(kernel, { sleep: async () => {} });
    const ir = groupedFixtureIR(3);
    await applier.apply(buildDataplane(ir, NODE));
    expect(lists).toEqual([{ terse: true }]); // after the full load
    const set = Object.values(ir.sets).find((s) => s.kind === "selector")!;
    set.members = [...set.members, "198.18.9.9/32"];
    const r = await applier.apply(buildDataplane(ir, NODE));
    expect(r.summary).not.toMatch(/chain/);
    expect(lists).toHaveLength(1);
  });

  it("a failed edit after a rename is retried as a full replace and converges", async () => {
    const kernel = new FakeKernel();
    const events: string[] = [];
    const applier = new Applier(kernel, { backend: nftBackend(T, { ruleEditOptions: { renameMinRules: 4 } }), sleep: async () => {}, onEvent: (e) => events.push(e.kind === "applied" ? `applied ${e.mode}` : e.kind) });
    await applier.apply(groupModel(3));
    // The rename goes through; the transaction after it fails once.
    let renamed = false;
    kernel.failApplyWhen((b) => {
      if (verbs(b).includes("rename chain")) renamed = true;
      else if (renamed) {
        renamed = false;
        return "FAILED";
      }
      return undefined;
    });
    const r = await applier.apply(groupModel(4));
    kernel.failApplyWhen(undefined);
    expect(r.mode).toBe("full");
    expect(events).toEqual(["applied full", "apply-failed", "applied full"]);
    inSync(kernel, groupModel(4));
    // And the next delta edits by handle again.
    await applier.apply(groupModel(5));
    inSync(kernel, groupModel(5));
  });

  it("random model sequences end where a full replace would, with or without renames", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 2, maxLength: 8 }), fc.integer({ min: 1, max: 40 }), async (sizes, renameMinRules) => {
        const kernel = new FakeKernel();
        const applier = new Applier(kernel, { backend: nftBackend(T, { ruleEditOptions: { renameMinRules } }), sleep: async () => {}, retry: { maxAttempts: 1 } });
        for (const n of sizes) {
          await applier.apply(groupModel(n));
          inSync(kernel, groupModel(n));
        }
      }),
      { numRuns: 40 },
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
      fc.asyncProperty(comments, comments, async (old, next) => {
        const k = await load(old);
        const edit = nft.chainEdit("c", listed(k), next.map(rule), T);
        if (!edit) return; // nothing carried over, or a refill is no more commands
        expect(edit.cmds.length).toBeLessThanOrEqual(next.length);
        // Only the commands nft 1.0.6 runs without fetching every rule of the table first.
        for (const c of edit.cmds) {
          const rule = Object.values(c)[0]!.rule as { handle?: number };
          expect("delete" in c || rule.handle === undefined, JSON.stringify(c)).toBe(true);
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
  });
});
