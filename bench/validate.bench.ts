/**
 * Loading and validation throughput: a multi-document YAML file of generated Calico policies
 * (5 rules each, selectors, ports, nets) read by loadManifests, and validateResource alone on
 * the parsed objects. Best of 5 runs.
 */
import { parse, stringify } from "yaml";
import { loadManifests, validateResource } from "../src/validate/index.js";
import type { BenchResult } from "./types.js";

function policy(i: number): object {
  const rule = (j: number) => ({
    action: j % 4 === 3 ? "Deny" : "Allow",
    protocol: j % 2 ? "TCP" : "UDP",
    source: { selector: `app == 'a${(i + j) % 50}' && tier in {'web', 'api'}`, namespaceSelector: "team == 'blue'" },
    destination: { ports: [80, 443, "8000:8100", "http"], nets: [`10.${j}.0.0/16`] },
  });
  return {
    apiVersion: "projectcalico.org/v3",
    kind: "NetworkPolicy",
    metadata: { name: `policy-${i}`, namespace: `ns-${i % 20}`, labels: { app: `a${i % 50}` } },
    spec: { order: i, selector: `app == 'a${i % 50}'`, ingress: [0, 1, 2].map(rule), egress: [3, 4].map(rule) },
  };
}

function best(f: () => number): number {
  let top = 0;
  for (let i = 0; i < 5; i++) top = Math.max(top, f());
  return top;
}

export async function run(): Promise<BenchResult[]> {
  const n = 1000;
  const text = Array.from({ length: n }, (_, i) => stringify(policy(i))).join("---\n");
  const objs = text.split("---\n").map((d) => parse(d) as unknown);
  const load = best(() => {
    const t = process.hrtime.bigint();
    const r = loadManifests({ text });
    if (r.resources.length !== n) throw new Error(`expected ${n} valid resources, got ${r.issues.length} issues`);
    return n / (Number(process.hrtime.bigint() - t) / 1e9);
  });
  const validate = best(() => {
    const t = process.hrtime.bigint();
    for (const o of objs) if (validateResource(o).length) throw new Error("unexpected issue");
    return n / (Number(process.hrtime.bigint() - t) / 1e9);
  });
  const kib = Buffer.byteLength(text) / 1024;
  return [
    { name: "loadManifests, 1000 policies in one YAML text", value: load, unit: "resources/s", note: `${kib.toFixed(0)} KiB; parse + positions + validate + defaults` },
    { name: "validateResource on parsed objects", value: validate, unit: "resources/s", note: "structure (zod) + Calico rules" },
  ];
}
