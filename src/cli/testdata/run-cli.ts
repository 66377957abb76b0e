/**
 * Runs the real `tortie` program in-process with captured output, for tests. Commander's exits
 * become a status code, as do errors that main() would print.
 */
import { CommanderError, type Command } from "commander";
import { buildProgram } from "../main.js";
import { withSink } from "../resource-io.js";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function overrideAll(cmd: Command, write: { out: (s: string) => void; err: (s: string) => void }): void {
  cmd.exitOverride();
  cmd.configureOutput({ writeOut: write.out, writeErr: write.err });
  for (const sub of cmd.commands) overrideAll(sub, write);
}

export async function runCli(args: string[]): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  let failed = false;
  const program = buildProgram();
  overrideAll(program, { out: (s) => (stdout += s), err: (s) => (stderr += s) });
  let code = 0;
  await withSink(
    { out: (s) => (stdout += s), err: (s) => (stderr += s), fail: () => (failed = true), isTTY: false },
    async () => {
      try {
        await program.parseAsync(["node", "tortie", ...args]);
      } catch (err) {
        if (err instanceof CommanderError) code = err.exitCode === 0 ? 0 : 1;
        else {
          stderr += `tortie: ${(err as Error).message}\n`;
          code = 1;
        }
      }
    },
  );
  if (failed && code === 0) code = 1;
  return { code, stdout, stderr };
}
