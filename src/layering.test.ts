import { describe, expect, it } from "vitest";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { checkImports } from "../scripts/check-imports.js";

describe("layering", () => {
  it("src/ imports point one way, through index.ts", () => {
    const violations = checkImports(resolve(import.meta.dirname));
    expect(violations.map((v) => `src/${v.file}:${v.line} ${v.spec}: ${v.reason}`)).toEqual([]);
  });

  it("the checker flags upward and deep imports", () => {
    const dir = mkdtempSync(join(tmpdir(), "tortie-layers-"));
    mkdirSync(join(dir, "model"));
    mkdirSync(join(dir, "engine"));
    writeFileSync(join(dir, "engine", "index.ts"), "export const x = 1;\n");
    writeFileSync(join(dir, "engine", "inner.ts"), "export const y = 1;\n");
    writeFileSync(join(dir, "model", "a.ts"), 'import { x } from "../engine/index.js";\n');
    writeFileSync(join(dir, "model", "b.ts"), 'export { y } from "../engine/inner.js";\n');
    const v = checkImports(dir);
    expect(v.map((x) => `${x.file}`).sort()).toEqual(["model/a.ts", "model/b.ts", "model/b.ts"]);
  });
});
