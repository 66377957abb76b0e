import { describe, expect, it } from "vitest";
import type { EntityRule } from "../model/index.js";
import type { EntityMatch } from "../rule/index.js";
import { EntityMemo } from "./entity-memo.js";

/** Distinct entity rules, each of which must find only its own entry. */
const DISTINCT: Array<[string, EntityRule]> = [
  ["selector", { selector: "app == 'a'" }],
  ["other selector", { selector: "app == 'b'" }],
  ["selector + namespaceSelector", { selector: "app == 'a'", namespaceSelector: "team == 'x'" }],
  ["same texts, swapped", { selector: "team == 'x'", namespaceSelector: "app == 'a'" }],
  ["namespaceSelector alone", { namespaceSelector: "app == 'a'" }],
  ["port number", { ports: [8080] }],
  ["port text of that number", { ports: ["8080"] }],
  ["port name", { ports: ["http"] }],
  ["two ports", { ports: [8080, 9090] }],
  ["two ports, swapped", { ports: [9090, 8080] }],
  ["two ports, one a text", { ports: [8080, "9090"] }],
  ["two port names", { ports: ["http", "metrics"] }],
  ["three ports", { ports: [8080, 9090, 80] }],
  ["selector + port name", { selector: "app == 'a'", ports: ["http"] }],
  ["other selector + port", { selector: "app == 'b'", ports: [8080] }],
  ["selector + two ports", { selector: "app == 'a'", ports: [8080, 9090] }],
  ["namespaceSelector + port", { namespaceSelector: "app == 'a'", ports: [8080] }],
  ["port name that reads like JSON", { ports: ['["http"]'] }],
  ["selector + port", { selector: "app == 'a'", ports: [8080] }],
  ["nets", { nets: ["10.0.0.0/8"] }],
  ["notSelector", { notSelector: "app == 'a'" }],
  ["selector + notSelector", { selector: "app == 'a'", notSelector: "app == 'b'" }],
  ["empty ports", { ports: [] }],
  ["selector that is not a text", { selector: 7 as unknown as string }],
];

const marker = (name: string): EntityMatch => ({ nets: [name] });

describe("EntityMemo", () => {
  it("keeps every shape apart: each rule finds exactly its own entry", () => {
    const t = new EntityMemo().table(0, "ns");
    for (const [name, er] of DISTINCT) {
      expect(t.get(er), name).toBeUndefined();
      t.set(er, marker(name));
    }
    for (const [name, er] of DISTINCT) expect(t.get(er), name).toEqual(marker(name));
  });

  it("finds an equal rule that is another object, whatever its key order", () => {
    const t = new EntityMemo().table(4, "");
    t.set({ selector: "a == 'b'", namespaceSelector: "global()" }, marker("x"));
    expect(t.get({ namespaceSelector: "global()", selector: "a == 'b'" })).toEqual(marker("x"));
    t.set({ nets: ["10.0.0.0/8"], notNets: ["10.1.0.0/16"] }, marker("y"));
    expect(t.get({ nets: ["10.0.0.0/8"], notNets: ["10.1.0.0/16"] })).toEqual(marker("y"));
  });

  it("keeps tables per slot and namespace, and forgets them on clear", () => {
    const memo = new EntityMemo();
    memo.table(0, "a").set({ selector: "x == '1'" }, marker("a"));
    expect(memo.table(0, "b").get({ selector: "x == '1'" })).toBeUndefined();
    expect(memo.table(1, "a").get({ selector: "x == '1'" })).toBeUndefined();
    expect(memo.table(0, "a").get({ selector: "x == '1'" })).toEqual(marker("a"));
    memo.clear();
    expect(memo.table(0, "a").get({ selector: "x == '1'" })).toBeUndefined();
  });

  it("does not remember a rule that cannot be written as JSON", () => {
    const t = new EntityMemo().table(0, "");
    const cyclic: Record<string, unknown> = { nets: ["10.0.0.0/8"] };
    cyclic.self = cyclic;
    t.set(cyclic as EntityRule, marker("c"));
    expect(t.get(cyclic as EntityRule)).toBeUndefined();
  });
});
