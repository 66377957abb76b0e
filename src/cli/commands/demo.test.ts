/**
 * `tortie demo` without root: it says what it needs and prints offline commands — and those
 * commands must work as printed. (With root, src/lab/lab.e2e.test.ts runs the demo itself.)
 */
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";

const repo = resolve(import.meta.dirname, "..", "..", "..");
const MAIN = resolve(repo, "src", "cli", "main.ts");
const isRoot = process.getuid?.() === 0;

function run(argv: string[], asNobody: boolean) {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: "/tmp" };
  for (const k of ["SUDO_USER", "npm_command", "npm_lifecycle_event", "TORTIE_DATA_DIR", "DATASTORE_TYPE"]) delete env[k];
  const cmd = asNobody ? ["setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, ...argv]] : [process.execPath, argv];
  const r = spawnSync(cmd[0] as string, cmd[1] as string[], { cwd: repo, encoding: "utf8", env, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const hasSetpriv = spawnSync("setpriv", ["--version"]).status === 0;

describe.skipIf(isRoot && !hasSetpriv)("tortie demo without root", () => {
  it("explains that it needs root and prints offline commands that work", () => {
    const r = run(["--import", "tsx", MAIN, "demo"], isRoot);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("needs root");
    expect(r.stdout).toContain("sudo tortie demo");
    const offline = r.stdout
      .slice(r.stdout.indexOf("Offline"))
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l.startsWith("tortie "));
    expect(offline.map((l) => l.split(" ")[1])).toEqual(["validate", "explain", "explain", "matrix"]);
    const outputs = offline.map((l) => run(["--import", "tsx", MAIN, ...l.split(" ").slice(1)], false));
    expect(outputs.map((o) => o.code)).toEqual([0, 0, 0, 0]);
    expect(outputs[1]!.stdout).toMatch(/allow/i);
    expect(outputs[2]!.stdout).toMatch(/deny/i);
  });
});
