/** One measured figure; returned by every bench/*.bench.ts `run()`. */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  note?: string;
}
