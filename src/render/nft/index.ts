export { renderFull, renderOps, renderDeleteTable, chainRules, hashExprs, DEFAULT_TARGET, type NftBatch, type NftCommand, type NftTarget } from "./render.js";
export { expectedDigest, parseListing, diffDigest, normalizeElement, type NftDigest } from "./state.js";
export { batchText, batchTextWithin, renderText } from "./text.js";
export type { Json, NftExpr } from "./expr.js";
