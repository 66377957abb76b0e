/**
 * Label index: which labelled items (endpoints, network sets) a selector matches. Items with
 * identical effective labels form one class and each selector is evaluated once per class (the
 * way Cilium evaluates selectors per identity, not per pod); results are cached per canonical
 * selector, so a selector shared by many rules is evaluated once.
 */
import type { Selector } from "../selector/index.js";

export interface LabelClass {
  labels: Readonly<Record<string, string>>;
  ids: string[];
}

export function labelSignature(labels: Readonly<Record<string, string>>): string {
  const keys = Object.keys(labels).sort();
  let s = "";
  for (const k of keys) s += `${JSON.stringify(k)}:${JSON.stringify(labels[k])},`;
  return s;
}

export class LabelIndex {
  private readonly classes = new Map<string, LabelClass>();
  private readonly labelsById = new Map<string, Readonly<Record<string, string>>>();
  private readonly cache = new Map<string, string[]>();

  add(id: string, labels: Readonly<Record<string, string>>): void {
    if (this.labelsById.has(id)) throw new Error(`duplicate labelled item ${id}`);
    this.labelsById.set(id, labels);
    const sig = labelSignature(labels);
    let c = this.classes.get(sig);
    if (!c) this.classes.set(sig, (c = { labels, ids: [] }));
    c.ids.push(id);
    this.cache.clear();
  }

  labels(id: string): Readonly<Record<string, string>> | undefined {
    return this.labelsById.get(id);
  }

  /** Ids of every item the selector matches, in insertion order of their classes. */
  select(sel: Selector): string[] {
    const key = sel.toString();
    let hit = this.cache.get(key);
    if (hit) return hit;
    hit = [];
    for (const c of this.classes.values()) if (sel.matches(c.labels)) hit.push(...c.ids);
    this.cache.set(key, hit);
    return hit;
  }

  matches(sel: Selector, id: string): boolean {
    const l = this.labelsById.get(id);
    return l !== undefined && sel.matches(l);
  }

  get classCount(): number {
    return this.classes.size;
  }
}
