/**
 * Starts a namespace agent (agent.ts) inside a namespace and talks to it. From a build (dist/) the
 * compiled agent.js beside this file runs directly; from the sources (tests) agent.ts is
 * transpiled once per process into a temp .mjs, because the agent must start fast in many
 * namespaces and a TypeScript loader would cost ~0.5 s each.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { KernelError } from "../kernel/index.js";
import { RAW_HELPER_PERL } from "./raw-helper.js";

let scriptPath: Promise<string> | undefined;

function agentScript(): Promise<string> {
  scriptPath ??= buildAgentScript();
  return scriptPath;
}

async function buildAgentScript(): Promise<string> {
  const here = dirname(fileURLToPath(import.meta.url));
  const js = join(here, "agent.js");
  if (existsSync(js)) return js;
  const src = readFileSync(join(here, "agent.ts"), "utf8");
  const dir = join(tmpdir(), "tortie-agent");
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `agent-${createHash("sha256").update(src).digest("hex").slice(0, 12)}.mjs`);
  if (!existsSync(out)) {
    const ts = await import("typescript");
    const res = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
    writeFileSync(`${out}.${process.pid}`, res.outputText);
    // rename is atomic: concurrent test workers never run a half-written file
    renameSync(`${out}.${process.pid}`, out);
  }
  return out;
}

export class AgentError extends Error {
  override readonly name = "AgentError";
}

/** A running agent in one namespace. Requests may be issued concurrently. */
export class Agent {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  private exited: string | null = null;
  readonly pid: number;

  private constructor(
    readonly netns: string,
    private readonly child: ChildProcess,
  ) {
    this.pid = child.pid!;
    createInterface({ input: child.stdout! }).on("line", (line) => {
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line);
      } catch {
        return;
      }
      const id = o.id as number | undefined;
      if (id === undefined) return;
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      if (typeof o.error === "string" && Object.keys(o).length === 2) p.reject(new AgentError(`${netns}: ${o.error}`));
      else p.resolve(o);
    });
    child.on("exit", (code, sig) => {
      this.exited = `agent in ${netns} exited (${code ?? sig})`;
      for (const p of this.pending.values()) p.reject(new AgentError(this.exited));
      this.pending.clear();
    });
  }

  static async start(netns: string): Promise<Agent> {
    const script = await agentScript();
    const child = spawn("ip", ["netns", "exec", netns, process.execPath, script], {
      stdio: ["pipe", "pipe", "inherit"],
      env: { ...process.env, TORTIE_RAW_HELPER: RAW_HELPER_PERL },
    });
    const ready = new Promise<void>((resolve, reject) => {
      const rl = createInterface({ input: child.stdout! });
      const onLine = (line: string) => {
        if (line.includes('"ready"')) {
          rl.off("line", onLine);
          rl.close();
          resolve();
        }
      };
      rl.on("line", onLine);
      child.on("error", (e) => reject(new KernelError("TOOL_MISSING", `starting the agent in ${netns}: ${e.message}`)));
      child.on("exit", (code) => reject(new KernelError("FAILED", `agent in ${netns} exited with ${code} before it was ready`)));
    });
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new KernelError("TIMEOUT", `agent in ${netns} not ready in 20 s`)), 20_000).unref());
    try {
      await Promise.race([ready, timeout]);
    } catch (e) {
      child.kill("SIGKILL");
      throw e;
    }
    return new Agent(netns, child);
  }

  /** Sends one request; rejects when the agent dies or does not answer within the request's own
   *  timeout plus `graceMs` (an answer that never comes must not hang a test). */
  request(op: string, args: Record<string, unknown> = {}, graceMs = 10_000): Promise<Record<string, unknown>> {
    if (this.exited) return Promise.reject(new AgentError(this.exited));
    const id = this.nextId++;
    const limit = (typeof args.timeoutMs === "number" ? args.timeoutMs : 0) + graceMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new AgentError(`${this.netns}: no answer to ${op} within ${limit} ms`));
      }, limit);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.stdin!.write(JSON.stringify({ id, op, ...args }) + "\n");
    });
  }

  /** Stops the agent (and its Perl helper): polite exit, then SIGKILL by PID. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once("exit", () => r()));
    try {
      this.child.stdin!.end();
    } catch {
      /* already closed */
    }
    const t = setTimeout(() => this.child.kill("SIGKILL"), 1000);
    await gone;
    clearTimeout(t);
  }
}
