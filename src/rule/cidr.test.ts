import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { canonicalAddr, canonicalCidr, cidrContains, formatAddr, parseAddr, parseCidr } from "./cidr.js";

describe("parseAddr / canonicalAddr", () => {
  it.each([
    ["10.0.0.1", "10.0.0.1"],
    ["0.0.0.0", "0.0.0.0"],
    ["255.255.255.255", "255.255.255.255"],
    ["::", "::"],
    ["::1", "::1"],
    ["FD00:198::1", "fd00:198::1"],
    ["fd00:0:0:0:0:0:0:1", "fd00::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // first longest run wins
    ["2001:0db8:0000:0001:0000:0000:0000:0001", "2001:db8:0:1::1"],
    ["1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0"], // single zero groups are not compressed
    ["::ffff:1.2.3.4", "::ffff:102:304"],
  ])("%s → %s", (input, want) => {
    expect(canonicalAddr(input)).toBe(want);
  });

  it.each(["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4/32", "::1::2", "1:2:3:4:5:6:7:8:9", "gg::1", "fe80::1%eth0", " 1.2.3.4"])(
    "rejects %j",
    (input) => {
      expect(parseAddr(input)).toBeUndefined();
    },
  );

  it("round-trips every IPv4 and IPv6 value", () => {
    fc.assert(
      fc.property(fc.ipV4(), (s) => {
        expect(formatAddr(parseAddr(s)!)).toBe(s);
      }),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (v) => {
        const text = formatAddr({ family: 6, value: v });
        expect(parseAddr(text)).toEqual({ family: 6, value: v });
      }),
    );
  });
});

describe("parseCidr", () => {
  it.each([
    ["10.1.2.3/16", "10.1.0.0/16", true],
    ["10.1.0.0/16", "10.1.0.0/16", false],
    ["1.2.3.4", "1.2.3.4/32", false],
    ["0.0.0.0/0", "0.0.0.0/0", false],
    ["fd00::1/64", "fd00::/64", true],
    ["::/0", "::/0", false],
  ])("%s → %s (host bits %s)", (input, want, hostBits) => {
    expect(canonicalCidr(input)).toBe(want);
    expect(parseCidr(input)!.hadHostBits).toBe(hostBits);
  });

  it.each(["10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/08", "x/8"])("rejects %j", (input) => {
    expect(parseCidr(input)).toBeUndefined();
  });

  it("containment", () => {
    const c = parseCidr("10.1.0.0/16")!;
    expect(cidrContains(c, parseAddr("10.1.255.255")!)).toBe(true);
    expect(cidrContains(c, parseAddr("10.2.0.0")!)).toBe(false);
    expect(cidrContains(c, parseAddr("::a01:0")!)).toBe(false); // other family never matches
    expect(cidrContains(parseCidr("::/0")!, parseAddr("fd00::1")!)).toBe(true);
    expect(cidrContains(parseCidr("0.0.0.0/0")!, parseAddr("fd00::1")!)).toBe(false);
  });
});
