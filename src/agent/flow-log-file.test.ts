import { mkdtempSync, rmSync, writeFileSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { flowLogPath, FlowLogWriter, followFlowLog, readFlowLog, type FlowRecord } from "./flow-log-file.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "tortie-flowlog-"));
  dirs.push(d);
  return d;
}
const rec = (i: number): FlowRecord => ({
  node: "n1",
  time: new Date(1_700_000_000_000 + i).toISOString(),
  endpoint: "wep/x/y",
  direction: "ingress",
  tier: "default",
  policy: "np/x/y",
  rule: i,
  verdict: "deny",
  family: 4,
  protocol: 6,
  src: "198.18.1.10",
  dst: "198.18.1.11",
  dstPort: 80,
  prefix: `DPI${i}|np/x/y`,
});
const until = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
};

describe("flow log file", () => {
  it("names the file after the node, with unsafe characters replaced", () => {
    expect(flowLogPath("/var/lib/tortie", "node-1.example")).toBe("/var/lib/tortie/flows-node-1.example.log");
    expect(flowLogPath("/d", "a/b c")).toBe("/d/flows-a_b_c.log");
  });

  it("appends JSON lines and reads them back in order", () => {
    const p = join(tmp(), "sub", "flows.log");
    const w = new FlowLogWriter(p);
    for (let i = 0; i < 5; i++) w.write(rec(i));
    w.close();
    expect(readFlowLog(p)).toEqual([0, 1, 2, 3, 4].map(rec));
  });

  it("rotates by size, keeps one old file, and readers see old then new", () => {
    const p = join(tmp(), "flows.log");
    const size = JSON.stringify(rec(0)).length + 1;
    const w = new FlowLogWriter(p, size * 3);
    for (let i = 0; i < 10; i++) w.write(rec(i));
    w.close();
    // 10 records, 3 per file: files hold [6,7,8] (.1) and [9]; older ones are gone.
    expect(readFlowLog(p).map((r) => r.prefix)).toEqual([6, 7, 8, 9].map((i) => rec(i).prefix));
  });

  it("skips a torn last line and lines that are not JSON", () => {
    const p = join(tmp(), "flows.log");
    writeFileSync(p, `${JSON.stringify(rec(1))}\nnot json\n${JSON.stringify(rec(2)).slice(0, 10)}`);
    expect(readFlowLog(p)).toEqual([rec(1)]);
  });

  it("follows appends and rotations", async () => {
    const p = join(tmp(), "flows.log");
    const size = JSON.stringify(rec(0)).length + 1;
    const w = new FlowLogWriter(p, size * 2);
    w.write(rec(0));
    const seen: string[] = [];
    const stop = followFlowLog(p, (r) => seen.push(r.prefix), { fromStart: true, intervalMs: 10 });
    try {
      await until(() => seen.length === 1);
      for (let i = 1; i < 6; i++) {
        w.write(rec(i));
        await until(() => seen.length === i + 1);
      }
      // A partial line is held back until it is complete.
      appendFileSync(p, JSON.stringify(rec(6)).slice(0, 20));
      await new Promise((r) => setTimeout(r, 50));
      expect(seen).toHaveLength(6);
      appendFileSync(p, JSON.stringify(rec(6)).slice(20) + "\n");
      await until(() => seen.length === 7);
      expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => rec(i).prefix));
    } finally {
      stop();
      w.close();
    }
  });
});
