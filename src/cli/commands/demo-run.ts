/** `tortie demo`'s action (registration, options and help are in demo.ts). */
import type { Command } from "commander";
import { existsSync } from "node:fs";
import { relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { canUseNetns } from "../../netns/index.js";
import { labUp, type LabState } from "../../lab/index.js";
import { describeLab, labSpecFrom } from "./lab-run.js";
import type { UpOptions } from "./lab.js";

/** examples/ of this package: three levels above this file, from src/ and from dist/ alike. */
function examplesDir(): string {
  return resolve(fileURLToPath(import.meta.url), "..", "..", "..", "..", "examples");
}

function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.startsWith("..") ? path : rel;
}

/** How the user ran us, so the tour's commands can be pasted as they are. */
function commandPrefix(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.npm_command === "exec" || env.npm_lifecycle_event === "npx" ? "npx tortie" : "tortie";
  return env.SUDO_USER ? `sudo ${base}` : base;
}

export function offlineTour(t: string, demo: string): string {
  return [
    `Offline (no root, no kernel) — the same manifests, answered by the policy engine:`,
    `  ${t} validate -f ${demo}`,
    `  ${t} explain -f ${demo} --from web/frontend-1 --to api/backend-1 --protocol TCP --port 8080`,
    `  ${t} explain -f ${demo} --from default/debug --to api/backend-1 --protocol TCP --port 8080`,
    `  ${t} matrix -f ${demo} --protocol TCP --port 8080`,
    "",
  ].join("\n");
}

export function labTour(t: string, st: LabState, change: string, demo: string): string {
  const lines = [
    ``,
    `Try next (each command can be pasted as is):`,
    ``,
    `  1. Ask the engine why a flow is allowed, and which policy decides:`,
    `       ${t} explain --from web/frontend-1 --to api/backend-1 --protocol TCP --port 8080`,
    `  2. Send a real packet through the lab and see the kernel agree:`,
    `       ${t} lab probe --from web/frontend-1 --to api/backend-1 --protocol TCP --port 8080     # ALLOW`,
    `       ${t} lab probe --from default/debug --to api/backend-1 --protocol TCP --port 8080      # DENY`,
    `       ${t} lab probe --from 203.0.113.7 --to web/frontend-1 --protocol TCP --port 80         # an outside client`,
    `  3. The whole table, engine and kernel compared:`,
    `       ${t} matrix --protocol TCP --port 8080`,
    `       ${t} lab matrix`,
    `  4. Change the policy and watch enforcement follow (in another terminal: ${t} lab watch):`,
    `       ${t} apply -f ${change}`,
    `       ${t} lab probe --from default/debug --to api/backend-1 --protocol TCP --port 8080      # now ALLOW`,
    `       ${t} lab status                                    # how long the agent took to program it`,
    `       ${t} delete globalnetworkpolicy allow-debug-to-backend`,
    `  5. Clean up:`,
    `       ${t} lab down`,
    ``,
    offlineTour(t, demo),
  ];
  if (st.agent.startsWith("builtin")) lines.push(`(This build has no \`tortie agent\` verb; the lab daemon programs nft itself with the agent's from-scratch model.)`, "");
  return lines.join("\n");
}

export async function runDemo(opts: Omit<UpOptions, "filename">, c: Command): Promise<void> {
  const examples = examplesDir();
  const demo = resolve(examples, "demo");
  const change = resolve(examples, "lab", "allow-debug-to-backend.yaml");
  const t = commandPrefix();
  if (!existsSync(demo)) {
    process.stderr.write(`tortie demo: the demo manifests are missing (looked in ${demo})\n`);
    process.exitCode = 1;
    return;
  }
  if (!canUseNetns()) {
    process.stdout.write(
      [
        `tortie demo builds network namespaces, veths and nftables rules, so it needs root:`,
        `  sudo ${t.replace(/^sudo /, "")} demo`,
        `(Linux with nftables; everything stays inside namespaces it creates — the host's own network and firewall are not touched.)`,
        ``,
        offlineTour(t, shown(demo)),
      ].join("\n"),
    );
    process.exitCode = 1;
    return;
  }
  const name = opts.name ?? "demo";
  const spec = await labSpecFrom({ ...opts, filename: [demo] } as UpOptions, c, name);
  if (typeof spec === "string") {
    process.stderr.write(`tortie demo: ${spec}\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(`Bringing up the demo lab from ${shown(demo)} (datastore: ${spec.datastore.type === "embedded" ? spec.datastore.dataDir : spec.datastore.endpoints.join(",")})…\n`);
  const t0 = Date.now();
  try {
    const st = await labUp(spec);
    process.stdout.write(describeLab(st));
    process.stdout.write(`Ready in ${((Date.now() - t0) / 1000).toFixed(1)} s.\n`);
    process.stdout.write(labTour(t, st, shown(change), shown(demo)));
  } catch (e) {
    process.stderr.write(`tortie demo: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
