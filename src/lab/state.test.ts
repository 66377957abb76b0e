/**
 * The lab's bookkeeping without a daemon: names, PID checks, and `lab down` from a state file alone
 * (it kills only recorded PIDs that are still ours and deletes only recorded namespaces).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { canUseNetns, createNamespace, deleteNamespace, namespaceExists, uniqueName } from "../netns/index.js";
import { labDown, LabError, labRequest, listLabs } from "./lab.js";
import { checkLabName, labPrefix, pidMatches, statePath, writeJson, type LabState } from "./state.js";

const dir = mkdtempSync(join(tmpdir(), `tortie-labstate-${process.pid}-`));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("lab names", () => {
  it.each([
    ["demo", true],
    ["lab-2", true],
    ["a", true],
    ["0123456789abcdef", true],
    ["0123456789abcdefg", false],
    ["", false],
    ["-x", false],
    ["Demo", false],
    ["a_b", false],
    ["a/b", false],
    ["a.b", false],
  ])("%j valid: %s", (name, ok) => {
    expect(checkLabName(name) === undefined).toBe(ok);
  });

  it("prefixes namespaces with tl-<name>", () => {
    expect(labPrefix("demo")).toBe("tl-demo");
  });
});

describe("pidMatches", () => {
  it("reads /proc/<pid>/cmdline", () => {
    expect(pidMatches(process.pid, process.execPath)).toBe(true);
    expect(pidMatches(process.pid, "no-such-word-in-cmdline-xyz")).toBe(false);
    expect(pidMatches(2 ** 22 + 12345, "node")).toBe(false);
  });
});

describe("without a lab", () => {
  it("requests fail with NO_LAB and down reports nothing found", async () => {
    await expect(labRequest(dir, "nolab", { op: "status" })).rejects.toSatisfy((e: unknown) => e instanceof LabError && e.code === "NO_LAB");
    expect(await labDown(dir, "nolab")).toEqual({ found: false, namespaces: 0, killed: [] });
    expect(listLabs(dir)).toEqual([]);
  });
});

describe("lab down from the state file alone (daemon gone)", () => {
  it("kills recorded PIDs that are still the lab's, spares reused ones, deletes recorded namespaces", async () => {
    // "ours": its command line names the lab; "reused": a recorded PID now running something else.
    const ours = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)", "tortie-lab"], { stdio: "ignore" });
    const reused = spawn("sleep", ["30"], { stdio: "ignore" });
    const ns = canUseNetns() ? uniqueName("tls") : undefined;
    try {
      if (ns) await createNamespace(ns);
      const st: LabState = {
        name: "orphan",
        status: "ready",
        prefix: "tl-orphan",
        daemonPid: 2 ** 22 + 4321, // not running
        pids: [ours.pid!, reused.pid!],
        namespaces: ns ? [ns] : [],
        nodes: [],
        pods: [],
        world: { netns: "tl-orphan-w", ips: [] },
        socket: join(dir, "labs", "orphan.sock"),
        log: join(dir, "labs", "orphan.log"),
        datastore: { type: "embedded", dataDir: join(dir, "db") },
        agent: "tortie agent",
        denyAction: "reject",
        createdAt: new Date().toISOString(),
        stored: [],
      };
      writeJson(statePath(dir, "orphan"), st);
      expect(listLabs(dir)).toEqual(["orphan"]);
      const r = await labDown(dir, "orphan");
      expect(r.found).toBe(true);
      expect(r.killed).toEqual([ours.pid]);
      expect(alive(ours.pid!)).toBe(false);
      expect(alive(reused.pid!)).toBe(true);
      if (ns) expect(await namespaceExists(ns)).toBe(false);
      expect(existsSync(statePath(dir, "orphan"))).toBe(false);
    } finally {
      ours.kill("SIGKILL");
      reused.kill("SIGKILL");
      if (ns) await deleteNamespace(ns);
    }
  });
});
