/**
 * Runs every bench/*.bench.ts (or those whose file name contains one of the CLI arguments),
 * prints a table, and rewrites that bench file's section in docs/BENCHMARKS.md.
 *
 *   npm run bench                 # all benches
 *   npm run bench -- selector     # only files matching "selector"
 *
 * A bench file exports `async function run(): Promise<BenchResult[]>`.
 * Numbers are wall-clock on whatever machine runs this; tests never assert on them.
 */
import { readFile, readdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { BenchResult } from "./types.js";

export type { BenchResult };

const here = path.dirname(fileURLToPath(import.meta.url));
const docPath = path.join(here, "..", "docs", "BENCHMARKS.md");

function fmt(v: number): string {
  if (v >= 100) return Math.round(v).toLocaleString("en-US");
  return v.toPrecision(3);
}

function table(results: BenchResult[]): string {
  const cell = (s: string) => s.replace(/\|/g, "\\|");
  const rows = results.map((r) => `| ${cell(r.name)} | ${fmt(r.value)} | ${cell(r.unit)} | ${cell(r.note ?? "")} |`);
  return ["| benchmark | value | unit | note |", "| --- | ---: | --- | --- |", ...rows].join("\n");
}

function machine(): string {
  const cpus = os.cpus();
  const load = os.loadavg()[0].toFixed(2);
  return `${cpus[0]?.model ?? "unknown CPU"}, ${cpus.length} cores, ${os.platform()} ${os.release()}, Node ${process.version}; 1-min load average ${load} when the run began (other work on the machine lowers the figures)`;
}

async function updateDoc(file: string, body: string): Promise<void> {
  const start = `<!-- bench:${file}:start -->`;
  const end = `<!-- bench:${file}:end -->`;
  let doc: string;
  try {
    doc = await readFile(docPath, "utf8");
  } catch {
    doc = "# Benchmarks\n\nWritten by `npm run bench` (bench/run.ts); one section per bench file. Do not edit between the markers.\n";
  }
  const section = `${start}\n## ${file}\n\n${body}\n${end}`;
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  if (i >= 0 && j > i) doc = doc.slice(0, i) + section + doc.slice(j + end.length);
  else doc = `${doc.trimEnd()}\n\n${section}\n`;
  await writeFile(docPath, doc);
}

async function main(): Promise<void> {
  const filters = process.argv.slice(2);
  const files = (await readdir(here))
    .filter((f) => f.endsWith(".bench.ts"))
    .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
    .sort();
  for (const file of files) {
    const mod = (await import(pathToFileURL(path.join(here, file)).href)) as { run?: () => Promise<BenchResult[]> };
    if (typeof mod.run !== "function") {
      console.error(`${file}: no exported run()`);
      process.exitCode = 1;
      continue;
    }
    const results = await mod.run();
    const t = table(results);
    console.log(`\n${file}\n${t}`);
    const body = [
      `Machine: ${machine()}`,
      `Date: ${new Date().toISOString().slice(0, 10)}`,
      `Command: \`npm run bench -- ${file.replace(/\.bench\.ts$/, "")}\``,
      "",
      t,
    ].join("\n");
    await updateDoc(file, body);
  }
}

await main();
