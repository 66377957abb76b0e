/**
 * Selector parsing scoped to one full computation. The selector package keeps a bounded
 * process-wide cache (20k texts) that a 100k-pod cluster overflows — it would then clear and
 * re-parse over and over. Cluster.fromResources runs inside withSelectorCache, which lifts the cap
 * for the build (src/selector withSelectorParseScope), so every text is parsed once per build — also
 * the texts src/convert checks while converting Kubernetes policies. Outside a build (the agent's
 * incremental calls) parsing is plain parseSelector with its bounded cache.
 */
import { parseSelector, withSelectorParseScope, type Selector } from "../selector/index.js";

export function withSelectorCache<T>(f: () => T): T {
  return withSelectorParseScope(f);
}

/** parseSelector (kept as the engine's one entry point for parsing). Throws SelectorParseError. */
export function parseSel(text: string): Selector {
  return parseSelector(text);
}
