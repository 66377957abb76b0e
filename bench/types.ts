/** One measured figure; returned by every bench/*.bench.ts `run()`. */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  note?: string;
}

/** Flags bench/run.ts passes to every `run(opts)` (benches that take no argument ignore them). */
export interface BenchOptions {
  /** `--full`: the issue's largest sizes (100k pods / 75k policies, 100k rules); takes long. */
  full: boolean;
  /** `--quick`: smallest sizes and shortest measurements (smoke test of the suite). */
  quick: boolean;
  /** Prints one progress line (long benches call it between steps). */
  progress: (msg: string) => void;
}

/** A bench may also return its figures with extra Markdown (shown below its table in the doc). */
export interface BenchReport {
  results: BenchResult[];
  /** Markdown appended below the section's table (e.g. a ratio table, skipped parts). */
  extra?: string;
}
