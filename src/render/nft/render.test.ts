import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { buildDataplane, diffModels, type DataplaneModel, type DpRule } from "../../dataplane/index.js";
import { fixtureIR, NODE, runFixtureIR, SET_DNS } from "../../dataplane/testdata/fixtures.js";
import { ruleExprLists } from "./expr.js";
import { batchText, batchTextWithin, chainRules, expectedDigest, parseListing, renderFull, renderOps, renderText } from "./index.js";

const here = dirname(fileURLToPath(import.meta.url));

/** Compares with testdata/<name>; UPDATE_GOLDEN=1 rewrites the file instead. */
function golden(name: string, actual: string): void {
  const p = join(here, "testdata", name);
  if (process.env.UPDATE_GOLDEN === "1" || !existsSync(p)) {
    writeFileSync(p, actual);
    if (process.env.UPDATE_GOLDEN !== "1") throw new Error(`golden ${name} was missing and has been written; re-run`);
    return;
  }
  expect(actual).toBe(readFileSync(p, "utf8"));
}

describe("golden rulesets", () => {
  it("fixture, default config (nft text)", () => {
    golden("fixture.nft", renderText(buildDataplane(fixtureIR(), NODE)));
  });
  it("fixture, reject + logDenied + no compiled runs (nft text)", () => {
    golden("fixture-reject-log.nft", renderText(buildDataplane(fixtureIR(), NODE, { config: { denyAction: "reject", logDenied: true, compileAllowRuns: false } })));
  });
  it("compiled Allow/Deny run across policies: a drop and an accept lookup per family (nft text)", () => {
    golden("run-allow-deny.nft", renderText(buildDataplane(runFixtureIR(), NODE)));
  });
  it("fixture, default config (nft JSON)", () => {
    golden("fixture.json", JSON.stringify(renderFull(buildDataplane(fixtureIR(), NODE)), null, 1) + "\n");
  });
});

describe("rule expressions", () => {
  const cases: Array<[string, DpRule, number, RegExp[]]> = [
    ["plain accept", { match: [], verdict: { kind: "accept" } }, 1, [/"accept":null/]],
    ["reject splits into tcp reset and icmpx", { match: [{ kind: "family", family: 4 }], verdict: { kind: "reject" } }, 2, [/tcp reset/, /admin-prohibited/]],
    ["log effect precedes the verdict", { match: [], effects: [{ kind: "log", prefix: "x", group: 3 }], verdict: { kind: "drop" } }, 1, [/"log":\{"prefix":"x","group":3\}\},\{"drop"/]],
    ["mark clear uses the complement", { match: [], effects: [{ kind: "mark-clear", bits: 0x30000 }] }, 1, [/4294770687/]],
    ["interface prefix becomes a wildcard", { match: [{ kind: "iface", dir: "in", name: "cali", prefix: true }], verdict: { kind: "return" } }, 1, [/"cali\*"/]],
    ["port ranges and lists", { match: [{ kind: "port", side: "dst", ranges: [{ first: 80, last: 80 }, { first: 8000, last: 8080 }] }] }, 1, [/"set":\[80,\{"range":\[8000,8080\]\}\]/]],
    ["one negated port is a one-port range (nft would merge two negated port compares into one)", { match: [{ kind: "port", side: "src", ranges: [{ first: 80, last: 80 }], negate: true }] }, 1, [/"op":"!=","left":\{"payload":\{"protocol":"th","field":"sport"\}\},"right":\{"range":\[80,80\]\}/]],
    ["negated icmp type/code is a concatenation", { match: [{ kind: "icmp", family: 6, type: 128, code: 0, negate: true }] }, 1, [/"op":"!=","left":\{"concat"/, /"right":58/]],
  ];
  for (const [name, rule, n, res] of cases) {
    it(name, () => {
      const lists = ruleExprLists(rule);
      expect(lists).toHaveLength(n);
      const s = JSON.stringify(lists);
      for (const re of res) expect(s).toMatch(re);
    });
  }

  it("every kernel rule gets a comment starting with its content hash", () => {
    const m = buildDataplane(fixtureIR(), NODE);
    for (const c of m.chains.valueList()) for (const r of chainRules(c)) expect(r.comment).toMatch(/^[A-Za-z0-9_-]{12}( |$)/);
  });
});

/** The fixture's model, and the same without the db workload and with the DNS set emptied. */
function fixtureWithoutDb(): [DataplaneModel, DataplaneModel] {
  const ir = fixtureIR();
  ir.endpoints = ir.endpoints.filter((e) => e.key !== "wep/prod/db");
  (ir.sets.get(SET_DNS) as unknown as { members: string[] }).members = [];
  return [buildDataplane(fixtureIR(), NODE), buildDataplane(ir, NODE)];
}

describe("renderOps ordering", () => {
  it("creates before use and deletes after the last use", () => {
    const [a, b] = fixtureWithoutDb();
    const cmds = renderOps(diffModels(a, b), b, a).nftables.map((c) => `${Object.keys(c)[0]} ${Object.keys(Object.values(c)[0]!)[0]}`);
    const first = (s: string) => cmds.indexOf(s);
    const last = (s: string) => cmds.lastIndexOf(s);
    expect(last("delete element")).toBeLessThan(first("delete chain"));
    expect(last("flush chain")).toBeLessThanOrEqual(last("delete chain"));
    expect(cmds.filter((c) => c === "delete set").length).toBeGreaterThan(0);
    expect(last("delete chain")).toBeLessThan(first("delete set"));
  });
});

describe("batchText (the nft session's form of a batch)", () => {
  it("prints a delta in nft's language: map keys quoted, set elements bare, one command per line", () => {
    const [a, b] = fixtureWithoutDb();
    const batch = renderOps(diffModels(a, b), b, a);
    const lines = batchText(batch).trimEnd().split("\n");
    expect(lines.length).toBe(batch.nftables.length);
    const mapDeletes = lines.filter((l) => /^delete element inet tortie cali-(to|from)-wl-dispatch /.test(l));
    expect(mapDeletes.length).toBe(2);
    for (const l of mapDeletes) expect(l).toMatch(/\{ "cali[0-9a-f]+" \}$/);
    const setDeletes = lines.filter((l) => /^delete element inet tortie cali[46]/.test(l));
    expect(setDeletes.length).toBeGreaterThan(0);
    for (const l of setDeletes) expect(l).not.toContain('"');
    expect(lines.some((l) => /^flush chain inet tortie cali-/.test(l))).toBe(true);
    expect(lines.some((l) => /^delete set inet tortie cali/.test(l))).toBe(true);
  });

  it("gives up as soon as the text would pass a length, and not before", () => {
    const [a] = fixtureWithoutDb();
    const text = batchText(renderFull(a));
    expect(batchTextWithin(renderFull(a), text.length)).toBe(text);
    expect(batchTextWithin(renderFull(a), text.length - 1)).toBeUndefined();
    expect(batchTextWithin(renderFull(a), 10)).toBeUndefined();
  });

  it("refuses what it cannot print instead of guessing", () => {
    expect(() => batchText({ nftables: [{ reset: { counters: { family: "inet", table: "tortie" } } }] })).toThrow(/unknown command reset/);
    expect(() => batchText({ nftables: [{ replace: { rule: { family: "inet", table: "tortie", chain: "c", handle: 1, expr: [{ accept: null }] } } }] })).toThrow(/unknown command replace/);
    expect(() => batchText({ nftables: [{ insert: { rule: { family: "inet", table: "tortie", chain: "c", handle: 1, expr: [{ accept: null }] } } }] })).toThrow(/insert rule at a position is not rendered/);
    expect(() => batchText({ nftables: [{ insert: { set: { family: "inet", table: "tortie", name: "s" } } }] })).toThrow(/insert set is not rendered/);
    expect(() => batchText({ nftables: [{ rename: { set: { family: "inet", table: "tortie", name: "s" } } }] })).toThrow(/rename set is not rendered/);
    expect(() => batchText({ nftables: [{ add: { rule: { family: "inet", table: "tortie", chain: "c", expr: [{ counter: null }] } } }] })).toThrow(/no printer for statement counter/);
  });
});

describe("digest", () => {
  it("a listing that mirrors the rendered batch has the expected digest", () => {
    const m: DataplaneModel = buildDataplane(fixtureIR(), NODE);
    // Build a listing the way `nft -j list table` shows it: objects with elements, rules with comments.
    const batch = renderFull(m).nftables.slice(2).map((c) => c.add!);
    const listing = { nftables: [{ metainfo: {} }, ...batch] };
    expect(parseListing(listing)).toEqual(expectedDigest(m));
  });
  it("no table → null", () => {
    expect(parseListing({ nftables: [{ metainfo: {} }] })).toBeNull();
  });
});
