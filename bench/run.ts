/**
 * Runs every bench/*.bench.ts (or those whose file name contains one of the CLI arguments),
 * prints a table, and rewrites that bench file's section in docs/BENCHMARKS.md.
 *
 *   npm run bench                 # all benches
 *   npm run bench -- selector     # only files matching "selector"
 *   npm run bench -- --only kernel --quick   # same filter as a flag; shortest sizes
 *   npm run bench -- --full       # the issue's largest sizes (100k pods, 100k rules); long
 *
 * Flags: --full, --quick, --only NAME (repeatable; same as a bare NAME), --no-doc (print only).
 * Flags reach each bench as `run(opts)` (types.ts BenchOptions); a bench may return a BenchReport
 * (figures plus extra Markdown) instead of a bare array. Progress lines go to stderr.
 *
 * A bench file exports `async function run(): Promise<BenchResult[]>`.
 * Numbers are wall-clock on whatever machine runs this; tests never assert on them.
 */
import { readFile, readdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { BenchOptions, BenchReport, BenchResult } from "./types.js";

export type { BenchOptions, BenchReport, BenchResult };

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

interface Args {
  filters: string[];
  full: boolean;
  quick: boolean;
  doc: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { filters: [], full: false, quick: false, doc: true };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i]!;
    if (x === "--full") a.full = true;
    else if (x === "--quick") a.quick = true;
    else if (x === "--no-doc") a.doc = false;
    else if (x === "--only") {
      const v = argv[++i];
      if (!v) throw new Error("--only needs a bench name");
      a.filters.push(v);
    } else if (x.startsWith("--only=")) a.filters.push(x.slice(7));
    else if (x.startsWith("--")) throw new Error(`unknown flag ${x} (known: --full, --quick, --only NAME, --no-doc)`);
    else a.filters.push(x);
  }
  return a;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const filters = args.filters;
  const files = (await readdir(here))
    .filter((f) => f.endsWith(".bench.ts"))
    .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
    .sort();
  const t0 = Date.now();
  const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(0)}s`;
  for (const file of files) {
    const mod = (await import(pathToFileURL(path.join(here, file)).href)) as { run?: (opts: BenchOptions) => Promise<BenchResult[] | BenchReport> };
    if (typeof mod.run !== "function") {
      console.error(`${file}: no exported run()`);
      process.exitCode = 1;
      continue;
    }
    console.error(`[${elapsed()}] ${file} …`);
    const opts: BenchOptions = {
      full: args.full,
      quick: args.quick,
      progress: (msg) => console.error(`[${elapsed()}] ${file}: ${msg} (load ${os.loadavg()[0].toFixed(2)})`),
    };
    let out: BenchResult[] | BenchReport;
    try {
      out = await mod.run(opts);
    } catch (e) {
      // One failing bench must not cost the others' figures; the doc keeps its previous section.
      console.error(`[${elapsed()}] ${file} FAILED: ${(e as Error).stack ?? String(e)}`);
      process.exitCode = 1;
      continue;
    }
    const report: BenchReport = Array.isArray(out) ? { results: out } : out;
    const t = table(report.results);
    console.log(`\n${file}\n${t}${report.extra ? `\n\n${report.extra}` : ""}`);
    const flags = [args.full ? " --full" : "", args.quick ? " --quick" : ""].join("");
    const body = [
      `Machine: ${machine()}`,
      `Date: ${new Date().toISOString().slice(0, 10)}`,
      `Command: \`npm run bench -- ${file.replace(/\.bench\.ts$/, "")}${flags}\``,
      "",
      t,
      ...(report.extra ? ["", report.extra] : []),
    ].join("\n");
    if (args.doc) await updateDoc(file, body);
    console.error(`[${elapsed()}] ${file} done`);
  }
}

await main();
