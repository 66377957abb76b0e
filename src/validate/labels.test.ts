import { describe, expect, it } from "vitest";
import { labelValueProblem, qualifiedNameProblem } from "./labels.js";
import { doc, ruleTester } from "./testdata/rule-tester.js";

const withMeta = (meta: string) => doc("GlobalNetworkSet", "nets: [10.0.0.0/8]", { name: "s", meta });

ruleTester("labels and annotations", {
  valid: [
    withMeta("labels:\n  app: web\n  example.com/tier: front-end\n  x: ''\n  A_b.c: Z-9"),
    withMeta(`labels:\n  ${"k".repeat(63)}: ${"v".repeat(63)}`),
    withMeta("annotations:\n  Example.COM/Anything: 'free text: with spaces / and symbols!'"),
    doc("Profile", "labelsToApply:\n  pcns.app: web", { name: "p" }),
  ],
  invalid: [
    { yaml: withMeta("labels:\n  -app: web"), codes: ["invalid-label-key"], paths: ["metadata.labels.-app"] },
    { yaml: withMeta("labels:\n  a/b/c: x"), codes: ["invalid-label-key"] },
    { yaml: withMeta("labels:\n  /x: x"), codes: ["invalid-label-key"] },
    { yaml: withMeta("labels:\n  Example.com/x: x"), codes: ["invalid-label-key"] },
    { yaml: withMeta("labels:\n  'example.com/': x"), codes: ["invalid-label-key"] },
    { yaml: withMeta(`labels:\n  ${"k".repeat(64)}: x`), codes: ["invalid-label-key"] },
    { yaml: withMeta("labels:\n  app: 'has space'"), codes: ["invalid-label-value"] },
    { yaml: withMeta("labels:\n  app: -web"), codes: ["invalid-label-value"] },
    { yaml: withMeta(`labels:\n  app: ${"v".repeat(64)}`), codes: ["invalid-label-value"] },
    { name: "YAML 1.1 boolean label value", yaml: withMeta("labels:\n  enabled: on"), codes: ["invalid-type"] },
    { name: "number label value", yaml: withMeta("labels:\n  version: 2"), codes: ["invalid-type"] },
    { yaml: withMeta("annotations:\n  'bad key!': x"), codes: ["invalid-annotation-key"] },
    { yaml: withMeta(`annotations:\n  big: ${"x".repeat(256 * 1024)}`), codes: ["annotations-too-large"] },
    {
      name: "reserved namespace label on a network set",
      yaml: withMeta("labels:\n  projectcalico.org/namespace: x"),
      codes: ["reserved-label"],
    },
    { yaml: doc("Profile", "labelsToApply:\n  'a b': x", { name: "p" }), codes: ["invalid-label-key"] },
  ],
});

describe("qualifiedNameProblem", () => {
  it.each([
    ["a", true],
    ["a.b-c_d", true],
    ["example.com/a", true],
    ["a-", false],
    ["", false],
    ["a/", false],
    ["EXAMPLE.com/a", false],
    ["a/b/c", false],
  ])("%s → valid %s", (k, ok) => {
    expect(qualifiedNameProblem(k) === undefined).toBe(ok);
  });
  it("label values may be empty", () => {
    expect(labelValueProblem("")).toBeUndefined();
  });
});
