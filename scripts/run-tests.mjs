#!/usr/bin/env node
// Runs vitest, then prints one plain closing line "tests: N passed, N failed, N skipped" (CI reads it)
// and exits with vitest's status. Extra arguments go to vitest (e.g. a folder to run).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "tortie-vitest-"));
const report = join(dir, "report.json");
const res = spawnSync(
  "npx",
  ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { stdio: "inherit" },
);
let line = "tests: 0 passed, 0 failed";
try {
  const r = JSON.parse(readFileSync(report, "utf8"));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  line = `tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ""}`;
} catch {
  line = "tests: 0 passed, 1 failed";
}
rmSync(dir, { recursive: true, force: true });
console.log(line);
process.exit(res.status ?? 1);
