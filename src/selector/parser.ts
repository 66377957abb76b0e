/**
 * Recursive-descent parser reproducing Calico's libcalico-go/lib/selector/parser/parser.go
 * (SEMANTICS §1.2): `||` < `&&` < prefix `!`; runs of `!` collapse (even count cancels);
 * parentheses do not create nodes; a label must be followed by an operator and a literal/set.
 * Error texts and the order in which errors are detected follow Calico.
 */
import { type SelectorNode, type SetOp, type ValueOp, deepFreeze, toStringSet } from "./ast.js";
import { SelectorParseError } from "./errors.js";
import { type Token, formatToken, tokenize } from "./tokenizer.js";

/**
 * Deviation from Calico (documented in docs/selectors.md): Go's growable stacks accept any
 * nesting depth; we stop at this many open parentheses so that no input can overflow the JS
 * stack. Valid Calico selectors are ≤ 1024 characters (CRD limit), i.e. < 512 levels.
 */
export const MAX_NESTING = 1000;

export function parseAst(input: string): SelectorNode {
  const tokens = tokenize(input);
  if (tokens[0].kind === "eof") return deepFreeze({ type: "all" });
  const p = new Parser(tokens, input);
  const node = p.parseOr(0);
  if (p.i !== tokens.length - 1) {
    const rest = tokens.slice(p.i).map(formatToken).join(" ");
    throw new SelectorParseError(`unexpected content at end of selector [${rest}]`, tokens[p.i].pos, input);
  }
  return deepFreeze(node);
}

const VALUE_OPS: Partial<Record<Token["kind"], ValueOp>> = {
  eq: "eq",
  ne: "ne",
  contains: "contains",
  startsWith: "startsWith",
  endsWith: "endsWith",
};

class Parser {
  i = 0;
  private depth = 0;
  constructor(
    private readonly t: Token[],
    private readonly input: string,
  ) {}

  private fail(reason: string, tok: Token): never {
    throw new SelectorParseError(reason, tok.pos, this.input);
  }

  parseOr(i: number): SelectorNode {
    const first = this.parseAnd(i);
    if (this.t[this.i].kind !== "or") return first;
    const operands = [first];
    while (this.t[this.i].kind === "or") operands.push(this.parseAnd(this.i + 1));
    return { type: "or", operands: operands.slice() };
  }

  private parseAnd(i: number): SelectorNode {
    const first = this.parseOperation(i);
    if (this.t[this.i].kind !== "and") return first;
    const operands = [first];
    while (this.t[this.i].kind === "and") operands.push(this.parseOperation(this.i + 1));
    // A copy of exact size: a parsed selector is kept for the whole build (parse cache, set
    // requests), and the grown list would keep 17 slots for its two or three operands.
    return { type: "and", operands: operands.slice() };
  }

  private parseOperation(i: number): SelectorNode {
    const t = this.t;
    let negated = false;
    while (t[i].kind === "not") {
      negated = !negated;
      i++;
    }
    let node: SelectorNode;
    const tok = t[i];
    switch (tok.kind) {
      case "has":
        node = { type: "has", label: tok.value };
        this.i = i + 1;
        break;
      case "all":
        node = { type: "all" };
        this.i = i + 1;
        break;
      case "global":
        node = { type: "global" };
        this.i = i + 1;
        break;
      case "label": {
        // Calico checks for three tokens (label, op, operand) before looking at their kinds.
        if (t.length - i < 3) this.fail("unexpected end of string looking for op", t[t.length - 1]);
        const op = t[i + 1];
        const operand = t[i + 2];
        const valueOp = VALUE_OPS[op.kind];
        if (valueOp !== undefined) {
          if (operand.kind !== "string") this.fail("expected string", operand);
          node = { type: valueOp, label: tok.value, value: operand.value };
          this.i = i + 3;
        } else if (op.kind === "in" || op.kind === "notIn") {
          if (operand.kind !== "lbrace") this.fail("expected set literal", operand);
          let j = i + 3;
          const values: string[] = [];
          while (t[j].kind === "string") {
            values.push(t[j].value);
            j++;
            if (t[j].kind === "comma") j++;
            else break;
          }
          if (t[j].kind !== "rbrace") this.fail("expected }", t[j]);
          const type: SetOp = op.kind;
          node = { type, label: tok.value, values: toStringSet(values) };
          this.i = j + 1;
        } else {
          this.fail(`expected == or != not: ${formatToken(op)}`, op);
        }
        break;
      }
      case "lparen": {
        if (++this.depth > MAX_NESTING) this.fail(`selector nested more than ${MAX_NESTING} parentheses deep`, tok);
        node = this.parseOr(i + 1);
        this.depth--;
        const close = t[this.i];
        if (close.kind !== "rparen") this.fail("expected )", close);
        this.i++;
        break;
      }
      default:
        this.fail(`unexpected token: ${formatToken(tok)}`, tok);
    }
    return negated ? { type: "not", operand: node } : node;
  }
}
