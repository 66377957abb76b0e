export { render, renderCached, toRule, quoteArg, hashArgs, baseChainName, builtinChains, DEFAULT_IPT_OPTIONS, TABLES, type IptOptions, type IptRendered, type IptRule, type IptJump, type IptTableRender } from "./render.js";
export { renderRule, translateMatch, chunkPorts, protoName, MULTIPORT_SLOTS, type IptTable, type KRule, type RuleContext } from "./rule.js";
export { ipsetDef, ipsetType, elementTexts, normalizeListedElement, isOurSet, tempSetName, IPSET_MAXELEM, type IpsetDef, type IpsetType } from "./ipset.js";
export { planFull, planDelta, planRemove, planText, targetOf, EMPTY_STATE, type IptState, type IptStep } from "./plan.js";
export { parseSave, parseIpsetSave, parseState, expectedDigest, stateDigest, diffDigest, type IptDigest, type IptListing } from "./state.js";
