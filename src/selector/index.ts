/**
 * Calico's selector language (SEMANTICS §1): parse, canonical print, unique id, compiled matching,
 * and the rewrites Calico applies to policy/rule selectors. See docs/selectors.md.
 */
export { SelectorParseError } from "./errors.js";
export type { SelectorNode, ValueOp, SetOp, LabelNode } from "./ast.js";
export { compareUtf8 } from "./ast.js";
export type { LabelMap, LabelGetter } from "./compile.js";
export { type Token, type TokenKind, tokenize, isValidSelectorLabel, MAX_LABEL_LENGTH } from "./tokenizer.js";
export { MAX_NESTING } from "./parser.js";
export { makeUniqueId } from "./printer.js";
export {
  Selector,
  type LabelRestriction,
  parseSelector,
  tryParseSelector,
  withSelectorParseScope,
  validateSelector,
  normaliseSelector,
  ALL_SELECTOR,
} from "./selector.js";
export {
  prefixLabels,
  and,
  orSelectors,
  notSelector,
  replaceAll,
  replaceGlobal,
  replaceInText,
  containsGlobal,
  isOnlyGlobal,
  type ReplaceOptions,
  LABEL_NAMESPACE,
  LABEL_SERVICE_ACCOUNT,
  LABEL_ORCHESTRATOR,
  NAMESPACE_LABEL_PREFIX,
  SERVICE_ACCOUNT_LABEL_PREFIX,
} from "./rewrite.js";
