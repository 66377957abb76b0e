export { renderFull, renderOps, renderDeleteTable, chainRules, hashExprs, ruleTarget, DEFAULT_TARGET, type KernelRule, type NftBatch, type NftCommand, type NftTarget, type RenderOpsExtras } from "./render.js";
export { expectedDigest, parseListing, diffDigest, normalizeElement, type NftDigest } from "./state.js";
export { batchText, batchTextWithin, renderText } from "./text.js";
export type { Json, NftExpr } from "./expr.js";
export { RuleHandles, planRuleEdits, chainEdit, ruleKey, type ChainEdit, type DeltaStep, type KnownChain, type RuleEditOptions } from "./rule-edits.js";
