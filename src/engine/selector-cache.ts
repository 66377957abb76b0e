/**
 * A selector parse cache scoped to one full computation. The selector package keeps a bounded
 * process-wide cache (20k texts) that a 100k-pod cluster overflows — it then clears and re-parses
 * over and over. Cluster.fromResources runs inside withSelectorCache, so every text is parsed once
 * per build; outside a build (the agent's incremental calls) parseSel is plain parseSelector.
 */
import { parseSelector, type Selector } from "../selector/index.js";

let active: Map<string, Selector> | undefined;

export function withSelectorCache<T>(f: () => T): T {
  if (active) return f();
  active = new Map();
  try {
    return f();
  } finally {
    active = undefined;
  }
}

/** parseSelector, memoised for the current build. Throws SelectorParseError like parseSelector. */
export function parseSel(text: string): Selector {
  if (!active) return parseSelector(text);
  let s = active.get(text);
  if (!s) {
    s = parseSelector(text);
    active.set(text, s);
  }
  return s;
}
