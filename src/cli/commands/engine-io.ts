/**
 * What the engine commands (explain, matrix, diff; convert and lab use parts) share at
 * registration and at run time: the input options and the I/O object. Light on purpose: it is
 * imported when the CLI registers its verbs, so only commander and src/cli/output.ts here.
 */
import { Option, type Command } from "commander";
import type { DatastoreOverrides } from "../../datastore/index.js";
import type { ManifestInput } from "../../validate/index.js";
import { addDatastoreOptions } from "../datastore-config.js";
import { useColor } from "../output.js";

export interface EngineIO {
  out: (s: string) => void;
  err: (s: string) => void;
  readStdin: () => Promise<string>;
  color: boolean;
}

async function readProcessStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(typeof c === "string" ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString("utf8");
}

/** `-f` arguments as loader inputs; "-" reads standard input once, however often it is given. */
export async function manifestInputs(files: readonly string[], io: Pick<EngineIO, "readStdin">): Promise<ManifestInput[]> {
  const inputs: ManifestInput[] = [];
  let stdinRead = false;
  for (const f of files) {
    if (f !== "-") inputs.push({ path: f });
    else if (!stdinRead) {
      stdinRead = true;
      inputs.push({ text: await io.readStdin(), file: "<stdin>" });
    }
  }
  return inputs;
}

export const defaultEngineIO = (): EngineIO => ({
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
  readStdin: readProcessStdin,
  color: useColor(process.stderr),
});

/** Options every engine command takes (resource source and Felix settings). */
export interface EngineInputOptions extends DatastoreOverrides {
  filename?: string[];
  failsafeInbound?: string;
  failsafeOutbound?: string;
  endpointToHostAction?: string;
}

export function addEngineInputOptions(cmd: Command, fileHelp = "file, directory (read recursively) or - for stdin; repeatable. Without -f: the datastore"): Command {
  cmd.option("-f, --filename <path>", fileHelp, (v: string, prev: string[]) => [...prev, v], [] as string[]);
  cmd.addOption(new Option("--failsafe-inbound <list>", 'host-endpoint inbound failsafe ports, Felix syntax ("tcp:22,udp:68", "none")'));
  cmd.addOption(new Option("--failsafe-outbound <list>", "host-endpoint outbound failsafe ports"));
  cmd.addOption(new Option("--endpoint-to-host-action <action>", "Felix DefaultEndpointToHostAction for workload → own host traffic").choices(["Drop", "Return", "Accept"]));
  addDatastoreOptions(cmd);
  return cmd;
}

/** Parses a decimal option value; undefined when absent, NaN when malformed. */
export function intOption(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  return /^[0-9]+$/.test(v.trim()) ? Number(v.trim()) : Number.NaN;
}
