/**
 * `sameJson(a, b)` is `JSON.stringify(a) === JSON.stringify(b)` without making either text: the
 * calc graph compares every incoming resource with the one it holds to drop no-op updates (watch
 * resyncs re-deliver identical objects). Keeping a JSON text of each resource for that cost ~85 MB
 * of heap at 100k pods / 75k policies and a stringify per update, ~1.7 s of a 100k initial load.
 *
 * Same answer as comparing the texts for plain data and for what JSON.stringify does to other
 * values: key order counts; keys whose value is undefined, a function or a symbol are skipped in
 * objects and are null in arrays; NaN and ±Infinity are null; -0 is 0. A value with a toJSON
 * method (a Date) is compared by its texts.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b && typeof a !== "bigint") return true; // one value prints one text
  const ka = jsonKind(a);
  const kb = jsonKind(b);
  if (ka === "text" || kb === "text") return JSON.stringify(a) === JSON.stringify(b);
  if (ka !== kb) return false;
  switch (ka) {
    case "null":
      return true;
    case "string":
    case "boolean":
      return a === b;
    case "number":
      return a === b; // finite numbers only here: 0 === -0 as in the texts
    case "array": {
      const x = a as unknown[];
      const y = b as unknown[];
      if (x.length !== y.length) return false;
      for (let i = 0; i < x.length; i++) if (!sameJson(inArray(x[i]), inArray(y[i]))) return false;
      return true;
    }
    case "object": {
      const x = a as Record<string, unknown>;
      const y = b as Record<string, unknown>;
      // Same present keys in the same order, skipping the ones JSON leaves out.
      const xs = Object.keys(x);
      const ys = Object.keys(y);
      let i = 0;
      let j = 0;
      for (;;) {
        while (i < xs.length && omitted(x[xs[i]!])) i++;
        while (j < ys.length && omitted(y[ys[j]!])) j++;
        if (i === xs.length || j === ys.length) return i === xs.length && j === ys.length;
        if (xs[i] !== ys[j] || !sameJson(x[xs[i]!], y[ys[j]!])) return false;
        i++;
        j++;
      }
    }
    default:
      return true; // both omitted at top level: JSON.stringify gives undefined for both
  }
}

type Kind = "null" | "string" | "boolean" | "number" | "array" | "object" | "omitted" | "text";

function jsonKind(v: unknown): Kind {
  switch (typeof v) {
    case "string":
      return "string";
    case "boolean":
      return "boolean";
    case "number":
      return Number.isFinite(v) ? "number" : "null";
    case "bigint":
      return "text"; // JSON.stringify throws; let it, as the texts would
    case "undefined":
    case "function":
    case "symbol":
      return "omitted";
    default:
      if (v === null) return "null";
      if (typeof (v as { toJSON?: unknown }).toJSON === "function") return "text";
      return Array.isArray(v) ? "array" : "object";
  }
}

function omitted(v: unknown): boolean {
  return v === undefined || typeof v === "function" || typeof v === "symbol";
}

/** What an array element becomes in JSON: undefined, functions and symbols are null. */
function inArray(v: unknown): unknown {
  return omitted(v) ? null : v;
}
