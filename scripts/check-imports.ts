/**
 * Enforces the pipeline's one-way imports: a folder under src/ may import only folders of a lower
 * layer, and only through their index.ts. Prints each violation and exits 1 when there is one.
 * Run by `npm run check-imports` and by src/layering.test.ts.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve, dirname, sep } from "node:path";

/** Lower number = closer to the bottom of the pipeline. */
export const LAYERS: Record<string, number> = {
  model: 0,
  selector: 1,
  rule: 1,
  kernel: 1,
  validate: 2,
  netns: 2,
  flowlog: 2,
  convert: 3,
  datastore: 3,
  engine: 4,
  conformance: 5,
  dataplane: 5,
  render: 6,
  apply: 7,
  agent: 8,
  lab: 9,
  web: 10,
  cli: 11,
};

export interface Violation {
  file: string;
  line: number;
  spec: string;
  reason: string;
}

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith(".ts")) out.push(p);
  }
  return out;
}

export function checkImports(srcDir: string): Violation[] {
  const violations: Violation[] = [];
  const importRe = /(?:^|\s)(?:import|export)\s[^'"`]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;
  for (const file of walk(srcDir)) {
    const rel = relative(srcDir, file);
    const parts = rel.split(sep);
    if (parts.length < 2) continue; // src/index.ts is the package surface: may import anything
    const fromFolder = parts[0]!;
    const isTest = file.endsWith(".test.ts");
    const text = readFileSync(file, "utf8");
    const lines = text.split("\n");
    lines.forEach((lineText, i) => {
      importRe.lastIndex = 0;
      let m: RegExpExecArray | null;
      while ((m = importRe.exec(lineText))) {
        const spec = m[1] ?? m[2];
        if (!spec || !spec.startsWith(".")) continue;
        const target = relative(srcDir, resolve(dirname(file), spec));
        const tparts = target.split(sep);
        if (tparts[0] === "..") continue; // outside src (bench, test): not our concern here
        const toFolder = tparts.length > 1 ? tparts[0]! : "";
        if (toFolder === "" || toFolder === fromFolder) continue;
        const fromLayer = LAYERS[fromFolder];
        const toLayer = LAYERS[toFolder];
        if (fromLayer === undefined) {
          violations.push({ file: rel, line: i + 1, spec, reason: `folder ${fromFolder}/ has no layer in scripts/check-imports.ts` });
          continue;
        }
        if (toLayer === undefined) continue;
        // Tests may reach up the pipeline (e.g. a renderer test driving the engine), never sideways into internals.
        if (!isTest && toLayer >= fromLayer) {
          violations.push({ file: rel, line: i + 1, spec, reason: `${fromFolder}/ (layer ${fromLayer}) must not import ${toFolder}/ (layer ${toLayer})` });
        }
        const inner = tparts.slice(1).join("/");
        if (!isTest && inner !== "index.js" && inner !== "index.ts" && inner !== "index") {
          violations.push({ file: rel, line: i + 1, spec, reason: `import ${toFolder}/ through its index.ts, not ${inner}` });
        }
      }
    });
  }
  return violations;
}

const isMain = process.argv[1] && resolve(process.argv[1]).endsWith("check-imports.ts");
if (isMain) {
  const v = checkImports(resolve(dirname(new URL(import.meta.url).pathname), "..", "src"));
  for (const x of v) console.log(`src/${x.file}:${x.line}: ${x.spec}: ${x.reason}`);
  console.log(v.length === 0 ? "imports: ok" : `imports: ${v.length} violation(s)`);
  process.exit(v.length === 0 ? 0 : 1);
}
