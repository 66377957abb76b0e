/**
 * Conformance scenarios through the lab, the way a user runs them: `tortie lab up` (real
 * namespaces, the datastore, a real `tortie agent` process per node programming the kernel), then
 * one real packet per expected probe, compared with the verdict the scenario's semantics demand.
 *
 * src/apply/differential.test.ts runs EVERY scenario through engine → dataplane → applier → kernel
 * in-process; this file adds the agent and lab path on top. A lab costs a few seconds to bring up,
 * so by default a fixed, diverse selection runs (k8s e2e and Calico-specific); set
 * TORTIE_LAB_CONFORMANCE=all to run every scenario. Steps after the first are applied through
 * `tortie apply` / `tortie delete`, so the agent's incremental path is exercised too.
 *
 * Root only (skipped with a message otherwise). Names are unique per run; `lab down` and a
 * namespace sweep of this run's prefix run even when a probe fails.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { expectedProbes, loadScenarioDir, stepStates, type Probe, type Scenario, type ScenarioResource } from "../src/conformance/index.js";
import { labDown, labRequest, labState } from "../src/lab/index.js";
import { canUseNetns, deleteNamespace } from "../src/netns/index.js";

const MAIN = resolve(import.meta.dirname, "..", "src", "cli", "main.ts");
const root = canUseNetns();
if (!root) console.warn("lab conformance skipped: it creates network namespaces and needs root");

/** A spread of semantics: k8s e2e (ingress, egress, namespaces, named ports, ipBlock, UDP, SCTP,
 *  updates) and Calico (tiers and Pass, global policy, network sets, service accounts, ICMP, IPv6). */
const SELECTION = new Set([
  "k8s-default-deny-ingress",
  "k8s-allow-from-namespace-selector",
  "k8s-named-port-ingress",
  "k8s-egress-cidr-except",
  "k8s-udp-ports",
  "k8s-sctp-policy-isolates",
  "k8s-updated-policy",
  "calico-pass-and-tier-default-action",
  "calico-global-policy-namespace-selector",
  "calico-network-sets",
  "calico-service-accounts",
  "calico-icmp",
  "calico-ipv6",
]);

const loaded = loadScenarioDir(resolve(import.meta.dirname, "scenarios"));
const scenarios: Scenario[] = loaded.scenarios.filter((s) => process.env.TORTIE_LAB_CONFORMANCE === "all" || SELECTION.has(s.name));

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function keyOf(r: ScenarioResource): string {
  return `${r.apiVersion}|${r.kind}|${r.metadata.namespace ?? ""}|${r.metadata.name}`;
}

/** YAML 1.1 output: tortie reads manifests as kubectl does (YAML 1.1), where a bare `y` is a boolean. */
function writeDocs(file: string, resources: ScenarioResource[]): void {
  writeFileSync(file, resources.map((r) => stringify(r, { version: "1.1" })).join("---\n"));
}

describe.skipIf(!root)("conformance scenarios through the lab (real agent, real packets)", () => {
  it("the selection exists", () => {
    if (process.env.TORTIE_LAB_CONFORMANCE === "all") return;
    expect(scenarios.map((s) => s.name).sort()).toEqual([...SELECTION].sort());
  });

  for (const scenario of scenarios) {
    it(scenario.name, { timeout: 300_000 }, async () => {
      const dir = mkdtempSync(join(tmpdir(), `tortie-labconf-${process.pid}-`));
      dirs.push(dir);
      const data = join(dir, "data");
      mkdirSync(join(dir, "step0"));
      const name = `c${process.pid.toString(36)}${randomBytes(2).toString("hex")}`;
      const tortie = (args: string[]) => {
        const env = { ...process.env };
        for (const k of ["DATASTORE_TYPE", "ETCD_ENDPOINTS", "TORTIE_DATA_DIR", "TORTIE_CONFIG"]) delete env[k];
        const r = spawnSync(process.execPath, ["--import", "tsx", MAIN, ...args, "--data-dir", data], { encoding: "utf8", env, timeout: 170_000 });
        return { code: r.status, stdout: r.stdout, stderr: r.stderr };
      };
      const states = stepStates(scenario);
      const probes = expectedProbes(scenario);
      const failures: string[] = [];
      expect(probes.length).toBeGreaterThan(0);
      try {
        writeDocs(join(dir, "step0", "cluster.yaml"), states[0]!);
        const up = tortie(["lab", "up", "-f", join(dir, "step0"), "--name", name, "--agent", "tortie"]);
        expect(up.stderr + up.stdout).toContain(`lab ${name}:`);
        expect(up.code).toBe(0);
        for (let step = 0; step < states.length; step++) {
          if (step > 0) {
            // Move the datastore from the previous step's state to this one, as a user would.
            const before = new Map(states[step - 1]!.map((r) => [keyOf(r), r]));
            const after = new Map(states[step]!.map((r) => [keyOf(r), r]));
            const changed = [...after.values()].filter((r) => JSON.stringify(before.get(keyOf(r))) !== JSON.stringify(r));
            const removed = [...before.values()].filter((r) => !after.has(keyOf(r)));
            if (changed.length > 0) {
              writeDocs(join(dir, `apply-${step}.yaml`), changed);
              const a = tortie(["apply", "-f", join(dir, `apply-${step}.yaml`)]);
              expect(a.stderr).toBe("");
            }
            if (removed.length > 0) {
              writeDocs(join(dir, `delete-${step}.yaml`), removed);
              const d = tortie(["delete", "-f", join(dir, `delete-${step}.yaml`)]);
              expect(d.stderr).toBe("");
            }
          }
          for (const p of probes.filter((x) => x.step === step)) {
            const got = await probeWithSettle(data, name, p, step > 0);
            if (got !== p.verdict) failures.push(`${p.origin}: expected ${p.verdict}, kernel said ${got}`);
          }
        }
      } finally {
        const st = labState(data, name);
        await labDown(data, name).catch(() => undefined);
        for (const ns of st?.namespaces ?? []) await deleteNamespace(ns);
      }
      expect(failures).toEqual([]);
    });
  }
});

/**
 * One real probe. After a change (steps > 0) the agent needs its programming latency, so a verdict
 * that disagrees is retried for a while before it counts; the first probes of a step are where
 * that matters, and a correct kernel converges well within the window.
 */
async function probeWithSettle(data: string, name: string, p: Probe, afterChange: boolean): Promise<string> {
  const req = {
    op: "probe",
    from: p.src.ref.replace(/^wep:/, ""),
    to: p.dst.ref.replace(/^wep:/, ""),
    protocol: p.protocol,
    family: p.family,
    ...(p.port !== undefined ? { port: p.port } : {}),
    ...(p.icmp ? { icmp: p.icmp } : {}),
  };
  const deadline = Date.now() + (afterChange ? 15_000 : 0);
  for (;;) {
    const r = await labRequest(data, name, req);
    const verdict = String(r.verdict ?? r.error ?? "error");
    if (verdict === p.verdict || Date.now() >= deadline) return verdict;
    await new Promise((res) => setTimeout(res, 250));
  }
}
