/**
 * Set-element batches as netlink messages (nfnl.ts) through native/nfnl-relay, against nft itself:
 * the same batch applied by nft to a twin table must list the same elements. Plus the encoder's
 * refusals (what must stay with nft), atomicity, error codes, and a relay that dies or cannot run.
 */
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canUseNetns, createNamespace, deleteNamespace, uniqueName } from "../netns/index.js";
import { isKernelError } from "./errors.js";
import { nftApply, nftListTable } from "./nft.js";
import { parseIPv4 } from "../model/index.js";
import { ipv4Bytes, ipv6Bytes } from "./netlink.js";
import { encodeElementBatch, SetShapes } from "./nfnl.js";
import { defaultRelayPath, NfnlRelay, RelayUnavailableError } from "./nfnl-relay.js";
import { existsSync } from "node:fs";

const root = canUseNetns();

describe("address encoders", () => {
  it("ipv4Bytes agrees with ipaddr.js on dotted quads and refuses other texts", () => {
    fc.assert(
      fc.property(fc.ipV4(), (a) => {
        expect([...ipv4Bytes(a)!]).toEqual(ipaddr.parse(a).toByteArray());
      }),
    );
    for (const bad of ["1.2.3", "1.2.3.256", "01.2.3.4", "1.2.3.4/32", "::1", "a.b.c.d", ""]) expect(ipv4Bytes(bad)).toBeUndefined();
  });
  it("ipv4Bytes (a character loop) refuses exactly what model/addr.ts parseIPv4 refuses", () => {
    const texts = fc.oneof(
      fc.ipV4(),
      fc.string({ unit: fc.constantFrom("0", "1", "2", "5", "9", ".", "a", " ", "-"), maxLength: 18 }),
      fc.array(fc.oneof(fc.nat(300).map(String), fc.constantFrom("", "00", "01", "255", "256", "1a")), { minLength: 1, maxLength: 6 }).map((p) => p.join(".")),
    );
    fc.assert(
      fc.property(texts, (t) => {
        const v = parseIPv4(t);
        expect(ipv4Bytes(t)?.toString("hex")).toBe(v === undefined ? undefined : v.toString(16).padStart(8, "0"));
      }),
      { numRuns: 2000 },
    );
  });
  it("ipv6Bytes agrees with ipaddr.js, with :: and embedded IPv4, and refuses other texts", () => {
    // ipaddr.js reads "::1.2.3.4" as IPv4-mapped (::ffff:1.2.3.4); inet_pton, which nft uses, and
    // RFC 4291 read it as IPv4-compatible (::102:304). The WHATWG URL parser follows the RFC, so it
    // rewrites the text without a dotted quad first.
    const oracle = (a: string) => ipaddr.parse(new URL(`http://[${a}]/`).hostname.slice(1, -1)).toByteArray();
    fc.assert(
      fc.property(fc.ipV6(), (a) => {
        expect([...ipv6Bytes(a)!]).toEqual(oracle(a));
      }),
    );
    for (const ok of ["::", "::1", "fd00::", "fd00:1:2:3:4:5:6:7", "::ffff:10.0.0.1", "64:ff9b::192.0.2.1", "::0.0.0.0", "::1.2.3.4"]) expect([...ipv6Bytes(ok)!]).toEqual(oracle(ok));
    for (const bad of ["1:2:3:4:5:6:7", "1::2::3", "fe80::1%eth0", "fd00::/64", "12345::", "1:2:3:4:5:6:7:8:9", "10.0.0.1"]) expect(ipv6Bytes(bad)).toBeUndefined();
  });
});

describe("encodeElementBatch", () => {
  const shapes = new SetShapes("inet", "t");
  shapes.learnBatch({
    nftables: [
      { add: { set: { family: "inet", table: "t", name: "a4", type: "ipv4_addr" } } },
      { add: { set: { family: "inet", table: "t", name: "iv", type: "ipv4_addr", flags: ["interval"] } } },
      { add: { map: { family: "inet", table: "t", name: "m", type: "ifname", map: "verdict" } } },
      { add: { set: { family: "inet", table: "other", name: "x", type: "ipv4_addr" } } },
    ],
  });
  const el = (verb: string, name: string, elem: unknown[], table = "t") => ({ nftables: [{ [verb]: { element: { family: "inet", table, name, elem } } }] });

  it("encodes element additions and deletions of sets and verdict maps it knows", () => {
    const r = encodeElementBatch({ nftables: [...el("add", "a4", ["10.0.0.1"]).nftables, ...el("delete", "m", ["cali1"]).nftables, ...el("add", "m", [["cali2", { jump: { target: "c" } }]]).nftables] }, shapes, 100);
    expect(typeof r).toBe("object");
    if (typeof r === "string") return;
    expect(r.sends).toHaveLength(2);
    expect(r.terminator).toBe(100 + 5); // begin, 3 commands, end; then the GETGEN
    expect([...r.describe.values()]).toContain("delete element inet t m");
  });

  it("leaves to nft what it does not encode", () => {
    const refused: Array<[unknown, RegExp]> = [
      [{ nftables: [{ add: { chain: { family: "inet", table: "t", name: "c" } } }] }, /add chain/], // rules and chains: encodeNftBatch's option
      [{ nftables: [{ flush: { set: { family: "inet", table: "t", name: "a4" } } }] }, /flush/],
      [el("add", "iv", ["10.0.0.0"]), /unknown layout/], // interval sets are not learned
      [el("add", "x", ["10.0.0.1"], "other"), /another table/],
      [el("add", "nope", ["10.0.0.1"]), /unknown layout/],
      [el("add", "a4", [{ prefix: { addr: "10.0.0.0", len: 8 } }]), /not an IPv4 address/],
      [el("add", "a4", ["fd00::1"]), /not an IPv4 address/],
      [el("add", "m", [["cali*", { jump: { target: "c" } }]]), /not an interface name/],
      [el("add", "m", [["cali1", { accept: null }]]), /jump or goto/],
      [el("add", "m", ["cali1"]), /without a verdict/],
      [el("add", "m", [["abcdefghijklmnop", { jump: { target: "c" } }]]), /longer than an interface name/],
      [{ nftables: [] }, /empty/],
      // ~10 MB of elements: the tools take batches this large.
    ];
    for (const [batch, why] of refused) expect(encodeElementBatch(batch, shapes, 1)).toMatch(why);
    // Over the size limit (48 MiB by default; the tools take batches of any size).
    const big = el("add", "a4", Array.from({ length: 60_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`));
    expect(encodeElementBatch(big, shapes, 1, 1 << 19)).toMatch(/more than the relay takes/);
    expect(typeof encodeElementBatch(big, shapes, 1)).toBe("object");
  });

  it("forgets a set that is deleted and everything when the table is deleted", () => {
    const s = new SetShapes("inet", "t");
    s.learnBatch({ nftables: [{ add: { set: { family: "inet", table: "t", name: "a", type: "ipv4_addr" } } }, { add: { set: { family: "inet", table: "t", name: "b", type: "ipv4_addr" } } }] });
    s.learnBatch({ nftables: [{ delete: { set: { family: "inet", table: "t", name: "a" } } }] });
    expect([s.get("a"), s.get("b")?.fields]).toEqual([undefined, ["ipv4_addr"]]);
    s.learnBatch({ nftables: [{ add: { table: { family: "inet", name: "t" } } }, { delete: { table: { family: "inet", name: "t" } } }, { add: { table: { family: "inet", name: "t" } } }] });
    expect(s.size).toBe(0);
  });
});

// ---- against the kernel

const ns = uniqueName("nfnl");
const TWINS = ["viarelay", "vianft"] as const;

function setupBatch(table: string): { nftables: unknown[] } {
  const T = { family: "inet", table };
  return {
    nftables: [
      { add: { table: { family: "inet", name: table } } },
      { delete: { table: { family: "inet", name: table } } },
      { add: { table: { family: "inet", name: table } } },
      { add: { set: { ...T, name: "a4", type: "ipv4_addr" } } },
      { add: { set: { ...T, name: "a6", type: "ipv6_addr" } } },
      { add: { set: { ...T, name: "p", type: "inet_service" } } },
      { add: { set: { ...T, name: "c4", type: ["ipv4_addr", "inet_proto", "inet_service"] } } },
      { add: { set: { ...T, name: "c6", type: ["ipv6_addr", "inet_proto", "inet_service"] } } },
      { add: { chain: { ...T, name: "to-a" } } },
      { add: { chain: { ...T, name: "to-b" } } },
      { add: { map: { ...T, name: "m", type: "ifname", map: "verdict" } } },
      // The map is used from a base chain, so a jump element makes the kernel validate the chains.
      { add: { chain: { ...T, name: "fwd", type: "filter", hook: "forward", prio: 0, policy: "accept" } } },
      { add: { rule: { ...T, chain: "fwd", expr: [{ vmap: { key: { meta: { key: "iifname" } }, data: "@m" } }] } } },
    ],
  };
}

const SET_NAMES = ["a4", "a6", "p", "c4", "c6", "m"] as const;
type Change = { verb: "add" | "delete"; set: (typeof SET_NAMES)[number]; elem: unknown[] };

function batchOf(table: string, changes: Change[]): { nftables: unknown[] } {
  return { nftables: changes.map((c) => ({ [c.verb]: { element: { family: "inet", table, name: c.set, elem: c.elem } } })) };
}

function elementsOf(listing: unknown, name: string): string[] {
  const items = (listing as { nftables: Array<Record<string, { name?: string; elem?: unknown[] }>> }).nftables;
  const s = items.find((i) => i.set?.name === name)?.set ?? items.find((i) => i.map?.name === name)?.map;
  return ((s?.elem ?? []) as unknown[]).map((e) => JSON.stringify(e)).sort();
}

async function listAll(table: string): Promise<Record<string, string[]>> {
  const l = await nftListTable("inet", table, { netns: ns });
  return Object.fromEntries(SET_NAMES.map((n) => [n, elementsOf(l, n)]));
}

const v4 = fc.constantFrom("198.18.0.1", "198.18.0.2", "198.18.3.4", "10.255.0.1", "0.0.0.0", "255.255.255.255");
const v6 = fc.constantFrom("fd00::1", "fd00::2", "2001:db8::a:b", "::1", "::ffff:198.18.0.1", "fd00:1:2:3:4:5:6:7");
const proto = fc.constantFrom(6, 17, 132, 1, 58);
const port = fc.constantFrom(0, 1, 80, 443, 8080, 65535);
const ifname = fc.constantFrom("cali1", "cali2abcdef", "eth0", "a", "cali123456789ab");
const elementOf: Record<(typeof SET_NAMES)[number], fc.Arbitrary<unknown>> = {
  a4: v4,
  a6: v6,
  p: port,
  c4: fc.tuple(v4, proto, port).map((c) => ({ concat: c })),
  c6: fc.tuple(v6, proto, port).map((c) => ({ concat: c })),
  m: fc.tuple(ifname, fc.constantFrom("to-a", "to-b"), fc.constantFrom("jump", "goto")).map(([k, chain, v]) => [k, { [v]: { target: chain } }]),
};

/** A map element's key, or the element itself: what must be unique within one set. */
const keyText = (e: unknown) => JSON.stringify(Array.isArray(e) ? e[0] : e);
let seen = 0;

describe.skipIf(!root)("nfnl relay against nft (real kernel, in a namespace)", () => {
  const relay = new NfnlRelay({ netns: ns });
  const shapes = new SetShapes("inet", "viarelay");
  beforeAll(async () => {
    expect(existsSync(defaultRelayPath()), "native/build/nfnl-relay is built by npm install").toBe(true);
    await createNamespace(ns);
    for (const t of TWINS) await nftApply(setupBatch(t), { netns: ns });
    shapes.learnBatch(setupBatch("viarelay"));
  });
  afterAll(async () => {
    await relay.close();
    await deleteNamespace(ns);
  });

  async function viaRelay(changes: Change[]): Promise<void> {
    const enc = encodeElementBatch(batchOf("viarelay", changes), shapes, relay.nextSeq());
    if (typeof enc === "string") throw new Error(enc);
    await relay.send(enc);
  }

  it("a batch of additions and deletions lists the same elements as the same batch through nft", async () => {
    const perSet = (set: (typeof SET_NAMES)[number]) =>
      fc.record({
        set: fc.constant(set),
        // Elements with distinct keys (a map key may hold one verdict).
        initial: fc.uniqueArray(elementOf[set], { maxLength: 4, selector: keyText }),
        added: fc.uniqueArray(elementOf[set], { maxLength: 4, selector: keyText }),
        dropped: fc.nat(4),
      });
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.constantFrom(...SET_NAMES).chain(perSet), { minLength: 1, maxLength: 6, selector: (s) => s.set }), async (steps) => {
        // Both twins start from the same state, made by nft.
        for (const t of TWINS) await nftApply(setupBatch(t), { netns: ns });
        const initial: Change[] = steps.filter((s) => s.initial.length > 0).map((s) => ({ verb: "add", set: s.set, elem: s.initial }));
        if (initial.length > 0) for (const t of TWINS) await nftApply(batchOf(t, initial), { netns: ns });
        const changes: Change[] = [];
        for (const s of steps) {
          const drop = s.initial.slice(0, s.dropped).map((e) => (s.set === "m" ? (e as unknown[])[0] : e));
          if (drop.length > 0) changes.push({ verb: "delete", set: s.set, elem: drop });
          const have = new Set(s.initial.map(keyText));
          const add = s.added.filter((e) => !have.has(keyText(e)));
          if (add.length > 0) changes.push({ verb: "add", set: s.set, elem: add });
        }
        if (changes.length === 0) return;
        await nftApply(batchOf("vianft", changes), { netns: ns });
        await viaRelay(changes);
        const [a, b] = [await listAll("viarelay"), await listAll("vianft")];
        expect(a).toEqual(b);
        seen += Object.values(a).filter((l) => l.length > 0).length;
      }),
      { numRuns: 40 },
    );
    expect(seen).toBeGreaterThan(40);
  });

  it("is atomic: a batch with one failing command changes nothing, and reports the kernel's code", async () => {
    const before = await listAll("viarelay");
    const err = await viaRelay([
      { verb: "add", set: "a4", elem: ["192.0.2.77"] },
      { verb: "delete", set: "a4", elem: ["192.0.2.78"] },
    ]).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isKernelError(err, "NOT_FOUND")).toBe(true);
    expect((err as Error).message).toMatch(/delete element inet viarelay a4: ENOENT/);
    expect(await listAll("viarelay")).toEqual(before);
    // The relay is still usable after a refused batch.
    await viaRelay([{ verb: "add", set: "a4", elem: ["192.0.2.77"] }]);
    expect((await listAll("viarelay")).a4).toContain('"192.0.2.77"');
  });

  it("a map element to a missing chain fails like nft (NOT_FOUND)", async () => {
    const err = await viaRelay([{ verb: "add", set: "m", elem: [["zz9", { jump: { target: "no-such-chain" } }]] }]).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isKernelError(err, "NOT_FOUND")).toBe(true);
  });

  it("splits a large batch into several messages and still commits it as one", async () => {
    const many = Array.from({ length: 9000 }, (_, i) => `198.19.${i >> 8}.${i & 255}`);
    await viaRelay([{ verb: "add", set: "a4", elem: many }]);
    const listed = (await listAll("viarelay")).a4!;
    expect(many.every((a) => listed.includes(JSON.stringify(a)))).toBe(true);
    const err = await viaRelay([
      { verb: "delete", set: "a4", elem: many },
      { verb: "delete", set: "a4", elem: ["192.0.2.99"] },
    ]).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isKernelError(err, "NOT_FOUND")).toBe(true);
    expect((await listAll("viarelay")).a4!.length).toBe(listed.length);
    await viaRelay([{ verb: "delete", set: "a4", elem: many }]);
    expect((await listAll("viarelay")).a4!.length).toBe(listed.length - many.length);
  });

  it("starts a new relay after its process dies", async () => {
    await viaRelay([{ verb: "add", set: "p", elem: [4242] }]);
    const pid = relay.pid!;
    process.kill(pid, "SIGKILL");
    await new Promise((r) => setTimeout(r, 50));
    await viaRelay([{ verb: "add", set: "p", elem: [4243] }]);
    expect(relay.pid).not.toBe(pid);
    expect((await listAll("viarelay")).p).toEqual(expect.arrayContaining(["4242", "4243"]));
  });

  it("a relay that cannot run is unavailable, and nothing is sent", async () => {
    const missing = new NfnlRelay({ netns: ns, binary: "/nonexistent/nfnl-relay" });
    const err = await missing.send({ sends: [], terminator: 1, describe: new Map() }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RelayUnavailableError);
    expect(missing.unavailable).toMatch(/not built/);
    const noNamespace = new NfnlRelay({ netns: `${ns}-absent` });
    const err2 = await noNamespace.send({ sends: [], terminator: 1, describe: new Map() }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err2).toBeInstanceOf(RelayUnavailableError);
    await noNamespace.close();
  });
});
