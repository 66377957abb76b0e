#!/usr/bin/env node
// Runs vitest, then prints one plain closing line "tests: N passed, N failed, N skipped" (CI reads it)
// and exits with vitest's status. Extra arguments go to vitest (e.g. a folder to run). A full run
// (no arguments) first type-checks every file, tests included (vitest strips types without
// checking them), and fails when that does.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

let typecheckFailed = false;
if (process.argv.length <= 2) {
  const tc = spawnSync("npx", ["tsc", "-p", "tsconfig.json", "--noEmit"], { stdio: "inherit" });
  typecheckFailed = tc.status !== 0;
  console.log(typecheckFailed ? "typecheck: failed" : "typecheck: ok");
}
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
  // A failed type check counts as one failed test, so that the closing line tells it too.
  line = `tests: ${r.numPassedTests} passed, ${r.numFailedTests + (typecheckFailed ? 1 : 0)} failed${skipped ? `, ${skipped} skipped` : ""}`;
} catch {
  line = "tests: 0 passed, 1 failed";
}
rmSync(dir, { recursive: true, force: true });
console.log(line);
process.exit(typecheckFailed ? 1 : (res.status ?? 1));
