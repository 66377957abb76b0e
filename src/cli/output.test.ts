import { describe, expect, it } from "vitest";
import type { Issue } from "../model/index.js";
import { countIssues, formatIssue, formatIssues, useColor } from "./output.js";

const text = "apiVersion: v1\nkind: Namespace\nmetadata:\n\tname: x\n  labels: {a: b}\n";
const issue = (over: Partial<Issue> = {}): Issue => ({
  code: "invalid-label-value",
  path: ["metadata", "labels", "a"],
  message: "bad value",
  severity: "error",
  resource: "Namespace(x)",
  pos: { file: "ns.yaml", line: 5, col: 16, offset: 0, endOffset: 1 },
  ...over,
});

describe("formatIssue", () => {
  it("prints the header, the source line and a caret under the node", () => {
    expect(formatIssue(issue(), { sources: new Map([["ns.yaml", text]]) })).toBe(
      [
        "ns.yaml:5:16: error[invalid-label-value] metadata.labels.a: bad value",
        "  |",
        "5 |   labels: {a: b}",
        "  |                ^",
        "  = in Namespace(x)",
      ].join("\n"),
    );
  });

  it("underlines the whole node range, and keeps tabs so carets line up", () => {
    const out = formatIssue(issue({ pos: { file: "ns.yaml", line: 4, col: 8, offset: 10, endOffset: 11 } }), {
      sources: new Map([["ns.yaml", text]]),
    });
    expect(out.split("\n")[3]).toBe("  | \t      ^");
    const wide = formatIssue(issue({ pos: { file: "ns.yaml", line: 1, col: 13, offset: 12, endOffset: 14 } }), {
      sources: new Map([["ns.yaml", text]]),
    });
    expect(wide.split("\n")[3]).toBe("  |             ^^");
  });

  it("works without a source text, without a position, and for anonymous input", () => {
    expect(formatIssue(issue())).toBe("ns.yaml:5:16: error[invalid-label-value] metadata.labels.a: bad value\n  = in Namespace(x)");
    expect(formatIssue(issue({ pos: undefined }))).toBe("Namespace(x): error[invalid-label-value] metadata.labels.a: bad value");
    expect(formatIssue(issue({ pos: { line: 1, col: 1 }, resource: undefined, path: [], severity: "warning" }), { sources: new Map([["", "a: b\n"]]) })).toBe(
      "<input>:1:1: warning[invalid-label-value] bad value\n  |\n1 | a: b\n  | ^",
    );
  });

  it("colours only when asked", () => {
    expect(formatIssue(issue(), { color: true })).toContain("\x1b[1;31merror\x1b[0m");
    expect(formatIssue(issue())).not.toContain("\x1b");
  });
});

describe("helpers", () => {
  it("formatIssues separates issues and ends with a newline", () => {
    expect(formatIssues([])).toBe("");
    expect(formatIssues([issue({ pos: undefined }), issue({ pos: undefined })]).split("\n\n")).toHaveLength(2);
  });
  it("countIssues", () => {
    expect(countIssues([issue(), issue({ severity: "warning" }), issue()]).text).toBe("2 errors, 1 warning");
  });
  it("useColor respects TTY and NO_COLOR", () => {
    expect(useColor({ isTTY: true }, {})).toBe(true);
    expect(useColor({ isTTY: false }, {})).toBe(false);
    expect(useColor({ isTTY: true }, { NO_COLOR: "1" })).toBe(false);
  });
});
