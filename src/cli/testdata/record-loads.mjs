// Records every module the main thread loads through the ESM loader, one URL per line, in the
// file named by TORTIE_RECORD_LOADS. Used by src/cli/startup.test.ts as
//   node --import tsx --import ./record-loads.mjs src/cli/main.ts --help
// The hooks run on the loader thread; appending synchronously there needs no message passing,
// so nothing is lost when the CLI calls process.exit().
import { register } from "node:module";

const file = process.env.TORTIE_RECORD_LOADS;
if (!file) throw new Error("record-loads.mjs: set TORTIE_RECORD_LOADS to the output file");

const hooks = `
import { appendFileSync } from "node:fs";
let out;
export function initialize(data) { out = data.file; }
export async function load(url, context, nextLoad) {
  appendFileSync(out, url + "\\n");
  return nextLoad(url, context);
}
`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`, { data: { file } });
