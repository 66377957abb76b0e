/**
 * Start-up cost of the CLI: registering the verbs (what `tortie --help`, `--version` and every
 * `tortie <verb> --help` run) must load only commander, the registration files of src/cli and
 * src/model. Everything else (the datastore with LMDB and etcd, the engine, apply, the lab, pino,
 * prom-client, yaml, zod) is imported by a verb's action when it runs. See docs/cli-startup.md.
 *
 * How: the real CLI runs in a child process under a module-loader hook (testdata/record-loads.mjs)
 * that writes every URL the ESM loader loads to a file; the test classifies those URLs. This
 * measures which modules are loaded, never how long anything takes.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { DEFAULT_CONFIG_FILE as STORE_DEFAULT_CONFIG_FILE } from "../datastore/index.js";
import { DEFAULT_CONFIG_FILE } from "./datastore-config.js";

const REPO = resolve(import.meta.dirname, "..", "..");
const HOOK = pathToFileURL(join(import.meta.dirname, "testdata", "record-loads.mjs")).href;
const tmp = mkdtempSync(join(tmpdir(), `tortie-startup-${process.pid}-`));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Loaded modules: "src/..." for repository files, the package name for node_modules. Builtins left out. */
  loaded: string[];
}

let runs = 0;
function runRecorded(args: string[]): Run {
  const file = join(tmp, `loads-${runs++}.txt`);
  writeFileSync(file, "");
  const r = spawnSync(process.execPath, ["--import", "tsx", "--import", HOOK, "src/cli/main.ts", ...args], {
    cwd: REPO,
    encoding: "utf8",
    env: { ...process.env, TORTIE_RECORD_LOADS: file, NO_COLOR: "1" },
    timeout: 60_000,
  });
  const loaded = new Set<string>();
  for (const url of readFileSync(file, "utf8").split("\n")) {
    if (!url.startsWith("file:")) continue; // node: builtins, data: URLs
    const rel = relative(REPO, fileURLToPath(url)).split(sep);
    const nm = rel.lastIndexOf("node_modules");
    if (nm >= 0) loaded.add(rel[nm + 1]!.startsWith("@") ? `${rel[nm + 1]}/${rel[nm + 2]}` : rel[nm + 1]!);
    else loaded.add(rel.join("/"));
  }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, loaded: [...loaded].sort() };
}

/** What registration may load; anything else is a regression (report it by name). */
function notAllowedAtRegistration(loaded: readonly string[]): string[] {
  return loaded.filter((m) => {
    if (m === "commander") return false;
    if (m.startsWith("src/model/")) return false;
    if (m === "src/cli/resource-io.ts") return true; // loads the datastore, the validator and yaml
    if (m.startsWith("src/cli/") && !m.endsWith("-run.ts") && !m.endsWith(".test.ts")) return false;
    return true;
  });
}

const HEAVY = ["lmdb", "etcd3", "pino", "prom-client", "yaml", "zod", "src/datastore/", "src/engine/", "src/apply/", "src/lab/", "src/agent/", "src/validate/"];
const heavyIn = (loaded: readonly string[], which = HEAVY) => loaded.filter((m) => which.some((h) => (h.endsWith("/") ? m.startsWith(h) : m === h)));

describe("CLI start-up loads only the verb registrations", () => {
  it.each([[["--help"]], [["--version"]], [["get", "--help"]], [["lab", "probe", "--help"]], [["agent", "--help"]]])(
    "tortie %j",
    (args) => {
      const r = runRecorded(args);
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
      // The hook saw the program itself, so an empty list cannot pass for a light one.
      expect(r.loaded).toContain("src/cli/main.ts");
      expect(r.loaded).toContain("src/cli/commands/lab.ts");
      expect(r.loaded).toContain("commander");
      expect(heavyIn(r.loaded)).toEqual([]);
      expect(notAllowedAtRegistration(r.loaded)).toEqual([]);
    },
    90_000,
  );

  it("a verb loads its implementation when it runs: validate reads YAML but opens no store and builds no cluster", () => {
    const f = join(tmp, "tier.yaml");
    writeFileSync(f, "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: security\nspec:\n  order: 100\n");
    const r = runRecorded(["validate", "-f", f]);
    expect(r.stdout).toContain("1 resource valid");
    expect(r.status).toBe(0);
    expect(r.loaded).toContain("src/cli/commands/validate-run.ts");
    expect(heavyIn(r.loaded, ["yaml", "src/validate/"]).length).toBeGreaterThan(0);
    expect(heavyIn(r.loaded, ["lmdb", "etcd3", "pino", "prom-client", "src/datastore/", "src/engine/", "src/apply/", "src/lab/", "src/agent/"])).toEqual([]);
  }, 90_000);

  it("get opens the embedded store (LMDB) and loads nothing of the engine, apply, agent, lab or etcd", () => {
    const r = runRecorded(["get", "tiers", "--data-dir", join(tmp, "data"), "-o", "name"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.loaded).toContain("lmdb");
    expect(r.loaded.some((m) => m.startsWith("src/datastore/"))).toBe(true);
    expect(heavyIn(r.loaded, ["etcd3", "pino", "prom-client", "src/engine/", "src/apply/", "src/lab/", "src/agent/"])).toEqual([]);
  }, 90_000);

  it("the help text's default config file is the datastore's", () => {
    expect(DEFAULT_CONFIG_FILE).toBe(STORE_DEFAULT_CONFIG_FILE);
  });
});
