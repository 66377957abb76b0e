import { describe, expect, it } from "vitest";
import type { EntityRule, Rule } from "../model/index.js";
import type { EntityMatch } from "../rule/index.js";
import { compileRule } from "./rule-compiler.js";
import { SetRegistry } from "./set-calculator.js";

function compileSide(destination: EntityRule, namespace: string, sets: SetRegistry): EntityMatch {
  const rule: Rule = { action: "Allow", protocol: "TCP", destination };
  const r = compileRule(rule, { namespace, origin: { tier: "default", policy: `np/${namespace}/p`, direction: "ingress", index: 0 }, path: ["spec", "ingress", 0], sets });
  expect(r.issues).toEqual([]);
  return r.rule!.match.dst;
}

// Entity sides and whether compiling them reads the policy namespace. Those that do not share one
// compiled match across namespaces (the entity memo's namespace-free table).
const SIDES: Array<[string, EntityRule, boolean]> = [
  ["ports only", { ports: [80] }, false],
  ["two ports, one named", { ports: [80, "http"] }, false],
  ["nets and notNets", { nets: ["10.0.0.0/8"], notNets: ["10.1.0.0/16"] }, false],
  ["namespaceSelector", { namespaceSelector: "team == 'a'" }, false],
  ["selector in namespaces", { selector: "app == 'web'", namespaceSelector: "all()" }, false],
  ["namespaceSelector and ports", { namespaceSelector: "team == 'a'", selector: "app == 'web'", ports: ["http"] }, false],
  ["services with a namespace", { services: { name: "db", namespace: "data" } }, false],
  ["selector", { selector: "app == 'web'" }, true],
  ["notSelector", { notSelector: "app == 'web'" }, true],
  ["serviceAccounts", { serviceAccounts: { names: ["sa1"] } }, true],
  ["selector and ports", { selector: "app == 'web'", ports: [443] }, true],
  ["services in the policy's namespace", { services: { name: "db" } }, true],
];

describe("rule compiler entity memo", () => {
  it.each(SIDES)("%s: compiles as without the memo, shared across namespaces only where the namespace is not read", (_name, side, readsNamespace) => {
    const shared = new SetRegistry();
    const a = compileSide(side, "a", shared);
    const b = compileSide(side, "b", shared);
    const again = compileSide({ ...side }, "a", shared);
    expect(a).toEqual(compileSide(side, "a", new SetRegistry()));
    expect(b).toEqual(compileSide(side, "b", new SetRegistry()));
    expect(again).toBe(a);
    expect(a === b).toBe(!readsNamespace);
    if (readsNamespace) expect(a).not.toEqual(b);
  });

  it("shares a namespace-free side between namespaced and global policies, with equal results", () => {
    const shared = new SetRegistry();
    const global = compileSide({ ports: [53, "dns"] }, "", shared);
    expect(compileSide({ ports: [53, "dns"] }, "a", shared)).toBe(global);
    expect(global).toEqual(compileSide({ ports: [53, "dns"] }, "a", new SetRegistry()));
  });
});
