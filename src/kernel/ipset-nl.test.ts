/**
 * ipset add/del lines as netlink messages (ipset-nl.ts) through native/nfnl-relay, against the
 * ipset tool: the same lines given to `ipset restore -exist` on a twin set must leave the same
 * members. Plus what stays with the tool, and how set types are learned.
 */
import { execFileSync } from "node:child_process";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canUseNetns, createNamespace, deleteNamespace, uniqueName } from "../netns/index.js";
import { isKernelError } from "./errors.js";
import { exec } from "./exec.js";
import { encodeIpsetLines, encodeIpsetProtocolQuery, IpsetShapes, ipsetErrno } from "./ipset-nl.js";
import { NfnlRelay } from "./nfnl-relay.js";

const root = canUseNetns();

describe("IpsetShapes and encodeIpsetLines", () => {
  it("learns types from create, destroy, swap and rename, and from ipset save", () => {
    const s = new IpsetShapes();
    s.learnRestore("create a hash:ip family inet maxelem 1048576\ncreate b hash:net,port family inet6 hashsize 1024 maxelem 65536\ncreate c hash:ip family inet timeout 60\ncreate d list:set\nadd a 10.0.0.1\n");
    expect([s.get("a"), s.get("b"), s.get("c"), s.get("d")]).toEqual([{ type: "hash:ip", family: 4 }, { type: "hash:net,port", family: 6 }, undefined, undefined]);
    s.learnRestore("swap a b\n");
    expect([s.get("a")?.type, s.get("b")?.type]).toEqual(["hash:net,port", "hash:ip"]);
    s.learnRestore("rename a z\ndestroy b\n");
    expect([s.get("a"), s.get("b"), s.get("z")?.family]).toEqual([undefined, undefined, 6]);
    s.learnRestore("test z ::1\n"); // a command this reader does not know
    expect(s.size).toBe(0);
    s.learnSave("create x hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1234abcd\nadd x 10.0.0.1,tcp:80\n");
    expect(s.get("x")).toEqual({ type: "hash:ip,port", family: 4 });
  });

  it("encodes add/del lines of known sets and leaves everything else to the tool", () => {
    const s = new IpsetShapes();
    s.learnSave("create v4 hash:ip family inet\ncreate n6 hash:net family inet6\ncreate p4 hash:ip,port family inet\n");
    const ok = encodeIpsetLines("add v4 10.0.0.1\nadd v4 10.0.0.2\ndel v4 10.0.0.3\nadd n6 fd00::/64\n\nadd p4 10.0.0.1,udp:53\n", s, 10);
    expect(typeof ok).toBe("object");
    if (typeof ok === "object") expect([...ok.describe.values()]).toEqual(["add v4", "del v4", "add n6", "add p4", "ipset protocol query"]);
    const refused: Array<[string, RegExp]> = [
      ["create v5 hash:ip family inet\nadd v5 10.0.0.1\n", /line/],
      ["swap v4 v5\n", /line/],
      ["add nope 10.0.0.1\n", /unknown type/],
      ["add v4 fd00::1\n", /not an IPv4 address/],
      ["add v4 10.0.0.0/8\n", /prefix in a hash:ip set/],
      ["add n6 fd00::/129\n", /prefix length/],
      ["add p4 10.0.0.1,icmp:0\n", /addr,proto:port/],
      ["add p4 10.0.0.1,tcp:70000\n", /addr,proto:port/],
      ["add v4 10.0.0.1 timeout 5\n", /line/],
      ["\n", /no elements/],
      [Array.from({ length: 600_000 }, (_, i) => `add v4 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`).join("\n"), /more than the relay takes/],
    ];
    for (const [input, why] of refused) expect(encodeIpsetLines(input, s, 1)).toMatch(why);
  });

  it("names ipset's own error numbers", () => {
    expect(ipsetErrno(4103)?.code).toBe("EXISTS");
    expect(ipsetErrno(4102)?.text).toMatch(/TYPE_MISMATCH/);
    expect(ipsetErrno(2)).toBeUndefined();
  });
});

const ns = uniqueName("ipnl");
const TYPES = [
  ["ip4", "hash:ip", "inet"],
  ["ip6", "hash:ip", "inet6"],
  ["net4", "hash:net", "inet"],
  ["net6", "hash:net", "inet6"],
  ["ipp4", "hash:ip,port", "inet"],
  ["netp6", "hash:net,port", "inet6"],
] as const;
type SetKey = (typeof TYPES)[number][0];

const v4 = fc.constantFrom("198.18.0.1", "198.18.0.2", "10.255.0.1", "0.0.0.1", "255.255.255.254");
const v6 = fc.constantFrom("fd00::1", "fd00::2", "2001:db8::a:b", "::1", "fd00:1:2:3:4:5:6:7");
const net4 = fc.constantFrom("198.18.0.0/16", "10.0.0.0/8", "198.18.3.4", "192.0.2.128/25");
const net6 = fc.constantFrom("fd00::/64", "2001:db8::/32", "fd00::1", "fd00:1::/48");
const protoPort = fc.tuple(fc.constantFrom("tcp", "udp", "sctp"), fc.constantFrom(1, 80, 443, 65535)).map(([p, n]) => `${p}:${n}`);
const elements: Record<SetKey, fc.Arbitrary<string>> = {
  ip4: v4,
  ip6: v6,
  net4,
  net6,
  ipp4: fc.tuple(v4, protoPort).map(([a, p]) => `${a},${p}`),
  netp6: fc.tuple(net6, protoPort).map(([a, p]) => `${a},${p}`),
};

async function members(set: string): Promise<string[]> {
  const out = (await exec("ipset", ["list", set], { netns: ns })).stdout;
  return out.slice(out.indexOf("Members:") + "Members:".length).trim().split("\n").filter(Boolean).sort();
}

describe.skipIf(!root)("ipset lines through the relay against ipset restore (real kernel, in a namespace)", () => {
  const relay = new NfnlRelay({ netns: ns, probe: encodeIpsetProtocolQuery, describeError: ipsetErrno });
  const shapes = new IpsetShapes();
  beforeAll(async () => {
    await createNamespace(ns);
    const create = TYPES.flatMap(([k, type, family]) => [`create t-${k} ${type} family ${family}`, `create r-${k} ${type} family ${family}`]).join("\n");
    await exec("ipset", ["restore"], { netns: ns, input: `${create}\n` });
    shapes.learnSave((await exec("ipset", ["save"], { netns: ns })).stdout);
  });
  afterAll(async () => {
    await relay.close();
    await deleteNamespace(ns);
  });

  async function viaRelay(input: string): Promise<void> {
    const enc = encodeIpsetLines(input, shapes, relay.nextSeq());
    if (typeof enc === "string") throw new Error(enc);
    await relay.send(enc);
  }

  it("the same add/del lines leave the same members as ipset restore -exist", async () => {
    let nonEmpty = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom(...TYPES.map((t) => t[0])), fc.constantFrom("add", "del", "add")).chain(([k, verb]) => fc.tuple(fc.constant(k), fc.constant(verb), elements[k])), { minLength: 1, maxLength: 12 }), async (lines) => {
        const text = (prefix: string) => lines.map(([k, verb, e]) => `${verb} ${prefix}-${k} ${e}`).join("\n") + "\n";
        // Each run starts from empty twins (a shrunk counterexample then stands on its own).
        await exec("ipset", ["restore"], { netns: ns, input: TYPES.flatMap(([k]) => [`flush t-${k}`, `flush r-${k}`]).join("\n") + "\n" });
        await exec("ipset", ["restore", "-exist"], { netns: ns, input: text("t") });
        await viaRelay(text("r"));
        for (const [k] of TYPES) {
          const [t, r] = [await members(`t-${k}`), await members(`r-${k}`)];
          expect(r, k).toEqual(t);
          if (r.length > 0) nonEmpty++;
        }
      }),
      { numRuns: 30 },
    );
    expect(nonEmpty).toBeGreaterThan(30);
  });

  it("many elements in one step are split into several messages", async () => {
    const many = Array.from({ length: 6000 }, (_, i) => `198.19.${i >> 8}.${i & 255}`);
    await viaRelay(many.map((a) => `add r-ip4 ${a}`).join("\n"));
    expect((await members("r-ip4")).filter((m) => m.startsWith("198.19.")).length).toBe(6000);
    await viaRelay(many.map((a) => `del r-ip4 ${a}`).join("\n"));
    expect((await members("r-ip4")).filter((m) => m.startsWith("198.19.")).length).toBe(0);
  });

  it("a set that is gone fails with NOT_FOUND, and the relay stays usable", async () => {
    execFileSync("ip", ["netns", "exec", ns, "ipset", "create", "gone", "hash:ip", "family", "inet"]);
    const s = new IpsetShapes();
    s.learnSave("create gone hash:ip family inet\n");
    execFileSync("ip", ["netns", "exec", ns, "ipset", "destroy", "gone"]);
    const enc = encodeIpsetLines("add gone 10.0.0.1\n", s, relay.nextSeq());
    if (typeof enc === "string") throw new Error(enc);
    const err = await relay.send(enc).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isKernelError(err, "NOT_FOUND")).toBe(true);
    expect((err as Error).message).toMatch(/add gone/);
    await viaRelay("add r-ip4 192.0.2.1\n");
    expect(await members("r-ip4")).toContain("192.0.2.1");
  });
});
