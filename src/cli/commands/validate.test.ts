import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildProgram } from "../main.js";
import { runValidate, type ValidateIO } from "./validate-run.js";

const GOOD = `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: default-deny
spec:
  selector: all()
  types: [Ingress, Egress]
`;
const BAD = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: db
  namespace: prod
spec:
  selector: role = 'db'
  ingress:
  - action: Allow
    destination:
      ports: [6379]
`;

function capture(stdin = ""): ValidateIO & { stdout: string; stderr: string } {
  const io = {
    stdout: "",
    stderr: "",
    out: (s: string) => void (io.stdout += s),
    err: (s: string) => void (io.stderr += s),
    readStdin: async () => stdin,
    color: false,
  };
  return io;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), `tortie-validate-${process.pid}-`));
  writeFileSync(join(dir, "good.yaml"), GOOD);
  writeFileSync(join(dir, "bad.yaml"), BAD);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("tortie validate", () => {
  it("valid input: summary line, exit 0", async () => {
    const io = capture();
    expect(await runValidate({ filename: [join(dir, "good.yaml")], output: "text" }, io)).toBe(0);
    expect(io.stdout).toBe("1 resource valid\n");
  });

  it("invalid input: every issue with an excerpt, a summary, exit 1", async () => {
    const io = capture();
    expect(await runValidate({ filename: [dir], output: "text" }, io)).toBe(1);
    const f = join(dir, "bad.yaml");
    expect(io.stdout).toBe(
      [
        `${f}:7:18: error[invalid-selector] spec.selector: invalid selector "role = 'db'": expected == (use == for equality)`,
        "  |",
        "7 |   selector: role = 'db'",
        "  |                  ^",
        "  = in NetworkPolicy(prod/db)",
        "",
        `${f}:11:14: error[ports-need-protocol] spec.ingress[0].destination.ports: destination.ports with port numbers or ranges need protocol TCP, UDP or SCTP on the rule`,
        "   |",
        "11 |       ports: [6379]",
        "   |              ^^^^^^",
        "  = in NetworkPolicy(prod/db)",
        "",
        "2 errors; 1 resource valid",
        "",
      ].join("\n"),
    );
  });

  it("reads stdin for -, and json output", async () => {
    const io = capture(BAD);
    expect(await runValidate({ filename: ["-"], output: "json" }, io)).toBe(1);
    const out = JSON.parse(io.stdout);
    expect(out.valid).toBe(false);
    expect(out.issues.map((i: { code: string; pos: { file: string } }) => [i.code, i.pos.file])).toEqual([
      ["invalid-selector", "<stdin>"],
      ["ports-need-protocol", "<stdin>"],
    ]);
  });

  it("no resources is an error; bad options are reported", async () => {
    const io = capture("# nothing\n");
    expect(await runValidate({ filename: ["-"], output: "text" }, io)).toBe(1);
    expect(io.stdout).toContain("error[no-resources]");
    const io2 = capture();
    expect(await runValidate({ filename: [], output: "text" }, io2)).toBe(1);
    expect(await runValidate({ filename: ["x"], output: "xml" }, io2)).toBe(1);
    expect(io2.stderr).toContain('unknown output format "xml"');
  });

  it("is wired into the program (in-process)", async () => {
    const writes: string[] = [];
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => {
      writes.push(String(s));
      return true;
    });
    const prev = process.exitCode;
    try {
      await buildProgram().parseAsync(["node", "tortie", "validate", "-f", join(dir, "good.yaml"), "-f", join(dir, "bad.yaml")]);
      expect(process.exitCode).toBe(1);
    } finally {
      spy.mockRestore();
      process.exitCode = prev;
    }
    expect(writes.join("")).toContain("2 errors; 1 resource valid");
  });

  it("runs as a process, reading stdin", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "validate", "-f", "-"], {
      input: GOOD,
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
    });
    expect(r.stdout).toBe("1 resource valid\n");
    expect(r.status).toBe(0);
    const bad = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "validate", "-f", "-"], { input: BAD, encoding: "utf8" });
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain("<stdin>:7:18: error[invalid-selector]");
  });
});
