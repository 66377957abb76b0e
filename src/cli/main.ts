#!/usr/bin/env node
/**
 * The `tortie` command. Each verb lives in its own file under commands/ and exports
 * `register(program)`; this file only wires them together and turns unexpected failures into a
 * one-line message (user errors are printed as issues by the commands themselves).
 */
import { Command } from "commander";
import { COMMANDS } from "./commands/index.js";

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("tortie")
    .description("Calico-compatible network policy: validate, store, explain, and enforce in the kernel")
    .version("0.1.0")
    .showHelpAfterError()
    .configureHelp({ sortSubcommands: false });
  for (const register of COMMANDS) register(program);
  return program;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const program = buildProgram();
  program.exitOverride((err) => {
    // commander reports usage errors itself; make them exit 1 like calicoctl.
    process.exit(err.exitCode === 0 ? 0 : 1);
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`tortie: ${msg}\n`);
    if (process.env.TORTIE_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ""}\n`);
    process.exitCode = 1;
  }
}

// Run when executed directly (bin or `node dist/cli/main.js`), not when imported by tests.
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
const self = fileURLToPath(import.meta.url);
const invoked = process.argv[1] ? realpathSync(process.argv[1]) : "";
if (invoked === self || invoked === self.replace(/\.ts$/, ".js")) {
  void main();
}
