/**
 * The actions of `tortie lab ...` and the helpers `tortie demo` shares (registration, options and
 * help are in lab.ts).
 */
import { resolve } from "node:path";
import type { Command } from "commander";
import { defaultDataDir, type DatastoreConfig } from "../../datastore/index.js";
import { checkLabName, labDown, LabError, labRequest, labUp, labWatch, listLabs, labState, runLabDaemon, type LabSpec, type LabState } from "../../lab/index.js";
import { datastoreConfigFromOptions } from "../datastore-config.js";
import { intOption } from "./engine-io.js";
import type { LabCommonOptions, UpOptions } from "./lab.js";

/** Lab files live beside the embedded database (so `tortie apply` and the lab share one data dir). */
export function labStateDir(ds: DatastoreConfig, env: NodeJS.ProcessEnv = process.env): string {
  return ds.type === "embedded" ? ds.dataDir : defaultDataDir(env);
}

async function stateDirFrom(opts: LabCommonOptions): Promise<string> {
  if (opts.stateDir) return opts.stateDir;
  return labStateDir(await datastoreConfigFromOptions(opts));
}

/** --name, or the only lab that is up. */
function labName(opts: LabCommonOptions, stateDir: string): string {
  if (opts.name) return opts.name;
  const labs = listLabs(stateDir);
  if (labs.length === 1) return labs[0]!;
  if (labs.length === 0) {
    // sudo changes the default data dir (/var/lib/tortie for root), and with it where labs are found.
    const hint = process.getuid?.() !== 0 ? " (a lab started with sudo lives in root's data dir: run this with sudo too)" : "";
    throw new LabError("NO_LAB", `no lab is up under ${stateDir}${hint}; start one with \`tortie lab up -f DIR\` or \`tortie demo\``);
  }
  throw new LabError("NO_LAB", `several labs are up (${labs.join(", ")}); choose one with --name`);
}

/** The argv that runs this CLI again (node + loader flags + script), for the daemon and agents. */
export function selfCommand(): string[] {
  return [process.execPath, ...process.execArgv, resolve(process.argv[1]!)];
}

function rootCommand(cmd: Command): Command {
  let c = cmd;
  while (c.parent) c = c.parent;
  return c;
}

/** The spec `lab up` (and `demo`) hand to the daemon. */
export async function labSpecFrom(opts: UpOptions, program: Command, name: string): Promise<LabSpec | string> {
  const nodes = intOption(opts.nodes);
  if (nodes === undefined || Number.isNaN(nodes) || nodes < 1 || nodes > 8) return "--nodes must be 1–8";
  if (opts.filename.length === 0) return "lab up needs -f FILE|DIR (the Pod/Namespace/policy manifests)";
  const ds = await datastoreConfigFromOptions(opts);
  const hasAgentVerb = rootCommand(program).commands.some((c) => c.name() === "agent");
  const mode = opts.agent === "auto" ? (hasAgentVerb ? "tortie" : "builtin") : opts.agent;
  if (mode === "tortie" && !hasAgentVerb) return "--agent tortie: this build has no `tortie agent` command";
  const self = selfCommand();
  return {
    name,
    files: opts.filename.map((f) => resolve(f)),
    nodes,
    outside: (opts.outside ?? "").split(",").map((s) => s.trim()).filter(Boolean),
    datastore: ds,
    stateDir: opts.stateDir ?? labStateDir(ds),
    agent: { mode, command: self, extraArgs: opts.dataplane && mode === "tortie" ? ["--dataplane", opts.dataplane] : [] },
    cli: self,
  };
}

export function describeLab(st: LabState): string {
  const lines = [`lab ${st.name}: ${st.nodes.length} node(s), ${st.pods.length} pod(s), agent: ${st.agent}, denies answered with ${st.denyAction}`];
  for (const n of st.nodes) lines.push(`  node ${n.name.padEnd(12)} netns ${n.netns.padEnd(16)} ${n.ips.slice(0, 2).join(" ")}${n.hostEndpoints.length ? `  host endpoints: ${n.hostEndpoints.map((h) => `hep:${h}`).join(" ")}` : ""}`);
  for (const p of st.pods) lines.push(`  pod  ${p.ref.padEnd(24)} netns ${p.netns.padEnd(16)} ${p.node.padEnd(6)} ${p.iface}  ${p.ips.join(" ")}`);
  lines.push(`  outside (netns ${st.world.netns}): ${st.world.ips.length ? st.world.ips.join(" ") : "any other address given to --from/--to"}`);
  return lines.join("\n") + "\n";
}

function fail(e: unknown): void {
  const msg = e instanceof Error ? e.message : String(e);
  process.stderr.write(`tortie lab: ${msg}\n`);
  process.exitCode = 1;
}

function formatProbe(r: Record<string, unknown>): string {
  const from = r.from as { ref: string; ip: string };
  const to = r.to as { ref: string; ip: string };
  const end = (e: { ref: string; ip: string }) => (e.ref === e.ip ? e.ip : `${e.ref} (${e.ip})`);
  const what = `${r.protocol}${r.port !== undefined ? `/${r.port}` : ""}`;
  const ex = r.explain === undefined ? "" : r.explain === r.verdict ? `   explain agrees` : `   ≠ explain says ${r.explain}`;
  const warn = r.warning ? `warning: ${r.warning}\n` : "";
  return `${String(r.verdict).toUpperCase()}  ${end(from)} → ${end(to)} ${what} IPv${r.family}: ${r.outcome} in ${r.ms} ms${ex}\n${warn}`;
}

function formatChange(e: Record<string, unknown>): string {
  return e.ms === null
    ? `revision ${e.revision} (${e.type} ${e.resource}): no node's ruleset changed within 5 s\n`
    : `revision ${e.revision} (${e.type} ${e.resource}): programmed on ${(e.nodes as string[]).join(", ")} in ${e.ms} ms\n`;
}

export async function runLabUp(opts: UpOptions, cmd: Command): Promise<void> {
  try {
    const name = opts.name ?? "lab";
    const bad = checkLabName(name);
    if (bad) throw new LabError("START_FAILED", bad);
    const spec = await labSpecFrom(opts, cmd, name);
    if (typeof spec === "string") throw new LabError("START_FAILED", spec);
    const t0 = Date.now();
    const st = await labUp(spec);
    process.stdout.write(describeLab(st));
    process.stdout.write(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s; try: tortie lab probe --from ${st.pods[0]?.ref ?? "x/a"} --to ${st.pods[1]?.ref ?? "y/b"} --protocol TCP --port 80\n`);
  } catch (e) {
    fail(e);
  }
}

export async function runLabProbe(opts: LabCommonOptions & { from: string; to: string; protocol: string; port?: string; icmpType?: string; icmpCode?: string; ipv6?: boolean; timeout: string; output: string }): Promise<void> {
  try {
    const stateDir = await stateDirFrom(opts);
    const name = labName(opts, stateDir);
    const port = intOption(opts.port);
    const icmpType = intOption(opts.icmpType);
    const icmpCode = intOption(opts.icmpCode);
    if ([port, icmpType, icmpCode].some((v) => Number.isNaN(v))) throw new LabError("REQUEST_FAILED", "--port, --icmp-type and --icmp-code must be numbers");
    const req: Record<string, unknown> = {
      op: "probe",
      from: opts.from,
      to: opts.to,
      protocol: /^[0-9]+$/.test(opts.protocol) ? Number(opts.protocol) : opts.protocol,
      timeoutMs: Number(opts.timeout),
      ...(port !== undefined ? { port } : {}),
      ...(opts.ipv6 ? { family: 6 } : {}),
      ...(icmpType !== undefined ? { icmp: { type: icmpType, ...(icmpCode !== undefined ? { code: icmpCode } : {}) } } : {}),
    };
    const r = await labRequest(stateDir, name, req);
    process.stdout.write(opts.output === "json" ? JSON.stringify(r, null, 2) + "\n" : formatProbe(r));
  } catch (e) {
    fail(e);
  }
}

export async function runLabMatrix(opts: LabCommonOptions & { protocol?: string; port?: string; ipv6?: boolean; output: string }): Promise<void> {
  try {
    const stateDir = await stateDirFrom(opts);
    const name = labName(opts, stateDir);
    const port = intOption(opts.port);
    const r = await labRequest(stateDir, name, { op: "matrix", ...(opts.protocol ? { protocol: opts.protocol } : {}), ...(port !== undefined ? { port } : {}), ...(opts.ipv6 ? { family: 6 } : {}) }, 600_000);
    const dis = r.disagreements as Array<Record<string, unknown>>;
    if (opts.output === "json") process.stdout.write(JSON.stringify(r, null, 2) + "\n");
    else {
      for (const t of r.tables as Array<Record<string, unknown>>) {
        const eps = t.endpoints as string[];
        const k = t.kernel as Array<Array<string | null>>;
        const w = Math.max(4, ...eps.map((e) => e.length));
        process.stdout.write(`\n${t.protocol}${t.port !== undefined ? `/${t.port}` : ""} IPv${t.family} (rows: from, columns: to; measured with real packets)\n`);
        process.stdout.write(`${"".padEnd(w)}  ${eps.map((_, j) => String(j + 1).padStart(3)).join("")}\n`);
        eps.forEach((e, i) => process.stdout.write(`${(`${i + 1} ${e}`).padEnd(w + 2)}${k[i]!.map((c) => (c === null ? "  ." : c === "allow" ? "  A" : "  -")).join("")}\n`));
      }
      process.stdout.write(`\n${r.probes} probes in ${r.ms} ms; ${dis.length === 0 ? "the kernel agrees with `tortie matrix` on every pair" : `${dis.length} disagreement(s) with \`tortie matrix\`:`}\n`);
      for (const d of dis) process.stdout.write(`  ${d.from} → ${d.to} ${d.protocol}${d.port !== undefined ? `/${d.port}` : ""}: engine ${d.engine}, kernel ${d.kernel} (${d.outcome})\n`);
    }
    if (dis.length > 0) process.exitCode = 2;
  } catch (e) {
    fail(e);
  }
}

export async function runLabStatus(opts: LabCommonOptions & { output: string }): Promise<void> {
  try {
    const stateDir = await stateDirFrom(opts);
    const names = opts.name ? [opts.name] : listLabs(stateDir);
    if (names.length === 0) {
      process.stdout.write("no lab is up\n");
      return;
    }
    for (const name of names) {
      const r = await labRequest(stateDir, name, { op: "status" }, 5000).catch(() => ({ ...labState(stateDir, name), unreachable: true }) as Record<string, unknown>);
      if (opts.output === "json") {
        process.stdout.write(JSON.stringify(r, null, 2) + "\n");
        continue;
      }
      process.stdout.write(describeLab(r as unknown as LabState));
      for (const a of (r.agents ?? []) as Array<{ node: string; pid: number; running: boolean }>) if (!a.running) process.stdout.write(`  the agent of ${a.node} (pid ${a.pid}) is not running; see its log\n`);
      if (r.unreachable) process.stdout.write(`  the lab daemon does not answer; \`tortie lab down --name ${name}\` cleans up\n`);
      const changes = (r.changes ?? []) as Array<Record<string, unknown>>;
      if (changes.length) process.stdout.write("  recent changes:\n" + changes.map((c) => `    ${formatChange(c)}`).join(""));
    }
  } catch (e) {
    fail(e);
  }
}

export async function runLabWatch(opts: LabCommonOptions): Promise<void> {
  try {
    const stateDir = await stateDirFrom(opts);
    const name = labName(opts, stateDir);
    const ac = new AbortController();
    process.once("SIGINT", () => ac.abort());
    await labWatch(
      stateDir,
      name,
      (e) => {
        if (e.event === "watching") process.stdout.write(`watching lab ${name}: apply a change (tortie apply -f …) to see its programming latency\n`);
        else if (e.event === "change") process.stdout.write(formatChange(e));
      },
      ac.signal,
    );
  } catch (e) {
    fail(e);
  }
}

export async function runLabDown(opts: LabCommonOptions & { all?: boolean }): Promise<void> {
  try {
    const stateDir = await stateDirFrom(opts);
    const names = opts.all ? listLabs(stateDir) : [labName(opts, stateDir)];
    for (const name of names) {
      const r = await labDown(stateDir, name);
      process.stdout.write(r.found ? `lab ${name} is down\n` : `no lab named ${name}\n`);
    }
  } catch (e) {
    fail(e);
  }
}

export async function runLabDaemonCommand(opts: { name: string; stateDir: string }): Promise<void> {
  await runLabDaemon(opts.stateDir, opts.name);
}
