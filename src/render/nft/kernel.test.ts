/**
 * The renderer against the real kernel, inside a namespace created for this file: everything it
 * renders must load, list back to the expected digest, and deltas must converge to the same state
 * as a full load.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDataplane, diffModels, kernelView } from "../../dataplane/index.js";
import { arbCluster, THREE_POD_SPEC } from "../../dataplane/testdata/arbitrary.js";
import { fixtureIR, NODE } from "../../dataplane/testdata/fixtures.js";
import { nft, nftApply, nftApplyText, nftListTable, nftListTableText } from "../../kernel/index.js";
import { canUseNetns, createNamespace, deleteNamespace, uniqueName } from "../../netns/index.js";
import { batchText, diffDigest, expectedDigest, parseListing, renderDeleteTable, renderFull, renderOps, renderText } from "./index.js";

const root = canUseNetns();
const ns = uniqueName("rnd");


async function actualDigest() {
  return parseListing(await nftListTable("inet", "tortie", { netns: ns }));
}

describe.skipIf(!root)("nft renderer in a real kernel", () => {
  beforeAll(async () => {
    await createNamespace(ns);
  });
  afterAll(async () => {
    await deleteNamespace(ns);
  });

  it("the fixture loads as JSON and as text, and both list identically", async () => {
    for (const config of [{}, { denyAction: "reject" as const, logDenied: true, compileAllowRuns: false }]) {
      const m = buildDataplane(fixtureIR(), NODE, { config });
      await nftApply(renderFull(m), { netns: ns });
      expect(diffDigest(expectedDigest(m), (await actualDigest())!)).toEqual([]);
      const fromJson = await nftListTableText("inet", "tortie", { netns: ns });
      await nftApplyText(renderText(m), { netns: ns });
      expect(await nftListTableText("inet", "tortie", { netns: ns })).toBe(fromJson);
      await nftApplyText(batchText(renderFull(m)), { netns: ns });
      expect(await nftListTableText("inet", "tortie", { netns: ns })).toBe(fromJson);
    }
  });

  it("a delta that removes an endpoint applies the same as text commands as as JSON", async () => {
    const a = buildDataplane(fixtureIR(), NODE);
    const ir = fixtureIR();
    ir.endpoints = ir.endpoints.filter((e) => e.key !== "wep/prod/db");
    const b = buildDataplane(ir, NODE);
    await nftApply(renderFull(a), { netns: ns });
    await nftApply(renderOps(diffModels(a, b), b, a), { netns: ns });
    const viaJson = await nftListTableText("inet", "tortie", { netns: ns });
    await nftApplyText(batchText(renderFull(a)), { netns: ns });
    await nftApplyText(batchText(renderOps(diffModels(a, b), b, a)), { netns: ns });
    expect(await nftListTableText("inet", "tortie", { netns: ns })).toBe(viaJson);
    expect(diffDigest(expectedDigest(b), (await actualDigest())!)).toEqual([]);
  });

  it("the nftables kernel view loads: masked lookups stand in for interval sets and CIDR lists of one length", async () => {
    const m = kernelView(buildDataplane(fixtureIR(), NODE), { splitIntervalSets: true });
    // A CIDR list of one length (a masked anonymous hash set) and one of two lengths (split).
    const extra = { name: "cali-test-cidrs", rules: [
      { match: [{ kind: "addr" as const, side: "src" as const, family: 4 as const, cidrs: ["198.51.100.0/24", "203.0.113.0/24"] }], verdict: { kind: "accept" as const } },
      { match: [{ kind: "addr" as const, side: "dst" as const, family: 6 as const, cidrs: ["2001:db8:1::/48", "2001:db8:2::/48"], negate: true }], verdict: { kind: "drop" as const } },
    ] };
    const withList = { ...m, chains: m.chains.set(extra.name, extra) };
    await nftApply(renderFull(withList), { netns: ns });
    expect(diffDigest(expectedDigest(withList), (await actualDigest())!)).toEqual([]);
    const text = await nftListTableText("inet", "tortie", { netns: ns });
    expect(text).toContain("ip saddr & 255.255.255.0 == { 198.51.100.0, 203.0.113.0 } accept");
    expect(text).toContain("ip6 daddr & ffff:ffff:ffff:: != { 2001:db8:1::, 2001:db8:2:: } drop");
    expect(text).not.toMatch(/flags interval/);
    expect(text).toMatch(/ip6? [sd]addr & [0-9a-f.:]+ (==|!=) @cali[46]m/); // the fixture's network-set CIDRs
    await nftApplyText(batchText(renderFull(withList)), { netns: ns });
    expect(await nftListTableText("inet", "tortie", { netns: ns })).toBe(text);
  });

  it("negated source and destination ports stay two compares in the kernel, not one merged load", async () => {
    const m = buildDataplane(fixtureIR(), NODE);
    const name = "cali-test-notports";
    const chain = { name, rules: [{ match: [{ kind: "port" as const, side: "src" as const, ranges: [{ first: 80, last: 80 }], negate: true }, { kind: "port" as const, side: "dst" as const, ranges: [{ first: 443, last: 443 }], negate: true }], verdict: { kind: "drop" as const } }] };
    await nftApply(renderFull({ ...m, chains: m.chains.set(name, chain) }), { netns: ns });
    // What the kernel holds, as nft decodes it: `th sport != 80 th dport != 443` written plainly
    // would be one 4-byte load compared with 80 . 443 (payload_try_merge), which passes sport 80.
    const dump = await nft(["--debug=netlink", "list", "chain", "inet", "tortie", name], { netns: ns });
    expect(dump).toContain("[ payload load 2b @ transport header + 0 => reg 1 ]\n  [ range neq reg 1 0x00005000 0x00005000 ]");
    expect(dump).toContain("[ payload load 2b @ transport header + 2 => reg 1 ]\n  [ range neq reg 1 0x0000bb01 0x0000bb01 ]");
    expect(dump).not.toContain("payload load 4b @ transport header");
  });

  it("drift shows up in the digest: flushed table, extra rule, missing element", async () => {
    const m = buildDataplane(fixtureIR(), NODE);
    await nftApply(renderFull(m), { netns: ns });
    await nftApplyText("add rule inet tortie cali-wl-to-host accept\n", { netns: ns });
    expect(diffDigest(expectedDigest(m), (await actualDigest())!)).toEqual(["chain cali-wl-to-host rules differ (9 listed, 8 expected)"]);
    await nftApplyText("delete element inet tortie cali6ns-bad00000000000000000000 { 2001:db8::/32 }\n", { netns: ns });
    expect(diffDigest(expectedDigest(m), (await actualDigest())!)).toContain("set cali6ns-bad00000000000000000000 elements differ (0 listed, 1 expected)");
    await nftApplyText("flush table inet tortie\n", { netns: ns });
    expect(diffDigest(expectedDigest(m), (await actualDigest())!).length).toBeGreaterThan(5);
    await nftApply(renderDeleteTable(), { netns: ns });
    expect(await actualDigest()).toBeNull();
  });

  it("random clusters load, and a delta to another random cluster converges to its full load", async () => {
    await fc.assert(
      fc.asyncProperty(arbCluster(THREE_POD_SPEC), arbCluster(THREE_POD_SPEC), fc.boolean(), async (ir1, ir2, compile) => {
        const a = buildDataplane(ir1, "n1", { config: { compileAllowRuns: compile } });
        const b = buildDataplane(ir2, "n1", { config: { compileAllowRuns: compile } });
        await nftApply(renderFull(a), { netns: ns });
        expect(diffDigest(expectedDigest(a), (await actualDigest())!)).toEqual([]);
        await nftApply(renderOps(diffModels(a, b), b, a), { netns: ns });
        expect(diffDigest(expectedDigest(b), (await actualDigest())!)).toEqual([]);
        const viaJson = await nftListTableText("inet", "tortie", { netns: ns });
        // The same full load and delta as text commands (what the nft session is fed) list the same.
        await nftApplyText(batchText(renderFull(a)), { netns: ns });
        await nftApplyText(batchText(renderOps(diffModels(a, b), b, a)), { netns: ns });
        expect(await nftListTableText("inet", "tortie", { netns: ns })).toBe(viaJson);
        // And back, which deletes what b added (map keys, chains, sets).
        await nftApplyText(batchText(renderOps(diffModels(b, a), a, b)), { netns: ns });
        expect(diffDigest(expectedDigest(a), (await actualDigest())!)).toEqual([]);
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 25) },
    );
  });
});
