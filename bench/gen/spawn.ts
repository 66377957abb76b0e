/** Runs bench/gen/child.ts in a fresh Node process and returns its JSON line. */
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

export function runChild(mode: string, args: Record<string, unknown>, opts: { heapMiB?: number; onLine?: (l: string) => void; script?: string } = {}): Promise<Record<string, unknown>> {
  const script = opts.script ?? path.join(here, "child.ts");
  const nodeArgs = ["--expose-gc", `--max-old-space-size=${opts.heapMiB ?? 4096}`, "--import", "tsx", script, mode, JSON.stringify(args)];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, nodeArgs, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => {
      const s = d.toString();
      err += s;
      for (const l of s.split("\n")) if (l.trim()) opts.onLine?.(l.trim());
    });
    p.on("error", reject);
    p.on("close", (code, signal) => {
      const last = out.trim().split("\n").pop() ?? "";
      if (code === 0 && last.startsWith("{")) resolve(JSON.parse(last) as Record<string, unknown>);
      else reject(new Error(`child ${mode} ${JSON.stringify(args)} exited ${code ?? signal}: ${err.slice(-2000)}`));
    });
  });
}
