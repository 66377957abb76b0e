/**
 * The resource verbs as a real process: exit statuses, stdin input, and no colour codes when
 * output is not a terminal. (The in-process tests in resource-verbs.test.ts cover the behaviour.)
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const MAIN = join(dirname(fileURLToPath(import.meta.url)), "..", "main.ts");
const root = mkdtempSync(join(tmpdir(), `tortie-cliproc-${process.pid}-`));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const cfg = join(root, "empty.yaml");
writeFileSync(cfg, "");

function tortie(args: string[], input?: string) {
  const env = { ...process.env };
  for (const k of ["DATASTORE_TYPE", "ETCD_ENDPOINTS", "TORTIE_DATA_DIR", "TORTIE_CONFIG", "NO_COLOR"]) delete env[k];
  const r = spawnSync(process.execPath, ["--import", "tsx", MAIN, ...args, "--config", cfg, "--data-dir", join(root, "db")], {
    input,
    encoding: "utf8",
    env,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const NP = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: from-stdin
spec:
  selector: all()
`;

describe("tortie resource verbs as a process", () => {
  it("apply -f - reads stdin; exit 0 on success, 1 on failure; no ANSI codes in pipes", () => {
    const a = tortie(["apply", "-f", "-"], NP);
    expect(a.stderr).toBe("");
    expect(a.stdout).toBe("Successfully applied 1 'NetworkPolicy' resource(s)\n");
    expect(a.code).toBe(0);
    const c = tortie(["create", "-f", "-"], NP);
    expect(c.code).toBe(1);
    expect(c.stderr).toBe("Failed to create NetworkPolicy(default/from-stdin): resource already exists: NetworkPolicy(default/from-stdin)\n");
    const g = tortie(["get", "np"]);
    expect(g.code).toBe(0);
    expect(g.stdout).toBe("NAME         TIER\nfrom-stdin   default\n");
    expect(g.stdout + c.stderr).not.toContain("\x1b[");
    const bad = tortie(["get", "np", "--bogus-flag"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("unknown option");
  });
});
