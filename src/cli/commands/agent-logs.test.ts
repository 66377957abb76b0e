import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FlowLogWriter, flowLogPath, parseListen, type FlowRecord } from "../../agent/index.js";
import { runCli } from "../testdata/run-cli.js";
import { nodeName, parseDuration } from "./agent.js";
import { formatFlow } from "./logs.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("agent flag parsing", () => {
  it.each([
    ["30s", 30_000],
    ["500ms", 500],
    ["5m", 300_000],
    ["1h", 3_600_000],
    ["0", 0],
    ["2", 2000],
    ["1.5s", 1500],
  ])("duration %s = %d ms", (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(["", "s", "-1s", "1d", "1 s x"])("duration %j is rejected", (text) => expect(parseDuration(text)).toBeUndefined());

  it.each([
    ["127.0.0.1:9099", { host: "127.0.0.1", port: 9099 }],
    [":9099", { host: "0.0.0.0", port: 9099 }],
    ["[::1]:80", { host: "::1", port: 80 }],
    ["localhost:0", { host: "localhost", port: 0 }],
  ])("listen %s", (text, want) => expect(parseListen(text)).toEqual(want));
  it.each(["9099", "host:", "host:99999", "::1:80", "a:b"])("listen %j is rejected", (text) => expect(parseListen(text)).toBeUndefined());

  it("takes the node name from the flag, then TORTIE_NODE, then NODENAME", () => {
    expect(nodeName("n1", { TORTIE_NODE: "n2", NODENAME: "n3" })).toBe("n1");
    expect(nodeName(undefined, { TORTIE_NODE: "n2", NODENAME: "n3" })).toBe("n2");
    expect(nodeName(undefined, { NODENAME: "n3" })).toBe("n3");
    expect(nodeName(undefined, {})).not.toBe("");
  });

  it("rejects a bad --listen or --drift-check-interval before touching anything", async () => {
    const r1 = await runCli(["agent", "--node", "x", "--listen", "nonsense", "--datastore-type", "embedded", "--data-dir", "/nonexistent/never"]);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(/--listen/);
    const r2 = await runCli(["agent", "--node", "x", "--drift-check-interval", "soon"]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/--drift-check-interval/);
  });
});

describe("tortie logs", () => {
  const rec: FlowRecord = {
    node: "node1",
    time: "2026-01-01T00:00:00.000Z",
    endpoint: "wep/default/node1-k8s-pod--a-eth0",
    direction: "ingress",
    tier: "default",
    policy: "np/default/deny-ssh",
    rule: 0,
    verdict: "deny",
    family: 4,
    protocol: 6,
    src: "198.18.2.1",
    dst: "198.18.1.10",
    srcPort: 40000,
    dstPort: 22,
    prefix: "DPI0|np/default/deny-ssh",
  };
  const other = (o: Partial<FlowRecord>): FlowRecord => ({ ...rec, ...o });

  it.each([
    [rec, "2026-01-01T00:00:00.000Z  deny   ingress  wep/default/node1-k8s-pod--a-eth0  default/np/default/deny-ssh rule 0  tcp  198.18.2.1:40000 -> 198.18.1.10:22"],
    [other({ policy: "", rule: -1, tier: "security" }), "2026-01-01T00:00:00.000Z  deny   ingress  wep/default/node1-k8s-pod--a-eth0  end of tier security  tcp  198.18.2.1:40000 -> 198.18.1.10:22"],
    [other({ policy: "", rule: -1, tier: "", direction: "egress" }), "2026-01-01T00:00:00.000Z  deny   egress   wep/default/node1-k8s-pod--a-eth0  no profile allowed  tcp  198.18.2.1:40000 -> 198.18.1.10:22"],
    [
      other({ endpoint: "", direction: "", tier: "", policy: "", rule: -1, verdict: "log", prefix: "weird", family: 6, protocol: 58, src: "fd00:198::1", dst: "fd00:198::2", srcPort: undefined, dstPort: undefined, icmpType: 128, icmpCode: 0 }),
      '2026-01-01T00:00:00.000Z  log    -        -  prefix "weird"  icmpv6 type 128 code 0  fd00:198::1 -> fd00:198::2',
    ],
  ])("formats a record on one line (%#)", (r, line) => expect(formatFlow(r)).toBe(line));

  it("prints the node's flow log from the data directory, as text or JSON", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tortie-logs-"));
    dirs.push(dir);
    const w = new FlowLogWriter(flowLogPath(dir, "node1"));
    w.write(rec);
    w.write(other({ verdict: "allow", dstPort: 80 }));
    w.close();
    const text = await runCli(["logs", "--node", "node1", "--data-dir", dir]);
    expect(text.code).toBe(0);
    expect(text.stdout.trim().split("\n")).toHaveLength(2);
    expect(text.stdout).toContain("allow");
    const json = await runCli(["logs", "--node", "node1", "--data-dir", dir, "-o", "json"]);
    expect(json.stdout.trim().split("\n").map((l) => JSON.parse(l))).toEqual([rec, other({ verdict: "allow", dstPort: 80 })]);
    const none = await runCli(["logs", "--node", "other", "--data-dir", dir]);
    expect(none).toMatchObject({ code: 0, stdout: "" });
  });
});
