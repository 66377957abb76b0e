/**
 * Table-driven validation tests in typescript-eslint's RuleTester shape: `valid` YAML snippets
 * must load with no issue at all; each `invalid` snippet must produce exactly the listed issue
 * codes (as a multiset, errors and warnings alike), every one of them positioned in the text.
 */
import { describe, expect, it } from "vitest";
import { loadManifests } from "../load.js";

export interface ValidCase {
  name?: string;
  yaml: string;
}

export interface InvalidCase {
  name?: string;
  yaml: string;
  codes: string[];
  /** Optional: the formatted paths (a.b[0].c) of the issues, in any order. */
  paths?: string[];
}

export interface Table {
  valid: Array<ValidCase | string>;
  invalid: InvalidCase[];
}

function fmt(path: ReadonlyArray<string | number>): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

function label(c: { name?: string; yaml: string }): string {
  return c.name ?? c.yaml.trim().split("\n").slice(-3).join(" ⏎ ").slice(0, 100);
}

export function ruleTester(title: string, table: Table): void {
  describe(title, () => {
    describe("valid", () => {
      for (const v of table.valid) {
        const c = typeof v === "string" ? { yaml: v } : v;
        it(label(c), () => {
          const r = loadManifests({ text: c.yaml, file: "case.yaml" });
          expect(r.issues.map((i) => `${i.code} ${fmt(i.path)}: ${i.message}`)).toEqual([]);
          expect(r.resources.length).toBeGreaterThan(0);
        });
      }
    });
    describe("invalid", () => {
      for (const c of table.invalid) {
        it(label(c), () => {
          const r = loadManifests({ text: c.yaml, file: "case.yaml" });
          const got = r.issues.map((i) => i.code).sort();
          expect(got, r.issues.map((i) => `${i.code} ${fmt(i.path)}: ${i.message}`).join("\n")).toEqual([...c.codes].sort());
          for (const i of r.issues) expect(i.pos, `${i.code} has a position`).toBeDefined();
          if (c.paths) expect(r.issues.map((i) => fmt(i.path)).sort()).toEqual([...c.paths].sort());
          if (r.issues.some((i) => i.severity === "error")) expect(r.resources).toHaveLength(0);
        });
      }
    });
  });
}

/** Indents a YAML block by n spaces (for embedding snippets). */
export function indent(yaml: string, n: number): string {
  const pad = " ".repeat(n);
  return yaml
    .replace(/^\n+|\s+$/g, "")
    .split("\n")
    .map((l) => (l.trim() === "" ? "" : pad + l))
    .join("\n");
}

/** A whole resource document with the given spec (YAML text, any indentation). */
export function doc(kind: string, spec: string, opts: { apiVersion?: string; name?: string; namespace?: string; meta?: string } = {}): string {
  const api = opts.apiVersion ?? "projectcalico.org/v3";
  const ns = opts.namespace ? `\n  namespace: ${opts.namespace}` : "";
  const meta = opts.meta ? `\n${indent(dedent(opts.meta), 2)}` : "";
  const body = spec.trim() === "" ? "" : `\nspec:\n${indent(dedent(spec), 2)}`;
  return `apiVersion: ${api}\nkind: ${kind}\nmetadata:\n  name: ${opts.name ?? "p"}${ns}${meta}${body}\n`;
}

/** A NetworkPolicy in namespace "ns" with one ingress rule (YAML text). */
export function ingressRule(rule: string, kind = "NetworkPolicy"): string {
  return doc(kind, `ingress:\n${indent(dedent(rule).replace(/^/, "- ").replace(/\n/g, "\n  "), 0)}`, {
    namespace: kind === "NetworkPolicy" ? "ns" : undefined,
  });
}

/** A NetworkPolicy in namespace "ns" with one egress rule. */
export function egressRule(rule: string, kind = "NetworkPolicy"): string {
  return doc(kind, `egress:\n${indent(dedent(rule).replace(/^/, "- ").replace(/\n/g, "\n  "), 0)}`, {
    namespace: kind === "NetworkPolicy" ? "ns" : undefined,
  });
}

export function dedent(s: string): string {
  const lines = s.replace(/^\n+|\s+$/g, "").split("\n");
  const min = Math.min(...lines.filter((l) => l.trim() !== "").map((l) => l.match(/^ */)![0].length));
  return lines.map((l) => l.slice(min)).join("\n");
}
