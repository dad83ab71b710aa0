/**
 * The `labelSelector` string grammar (upstream labels.Parse):
 *
 *   selector    ::= requirement ("," requirement)*
 *   requirement ::= ["!"] KEY [ ("in" | "notin") "(" values ")" | ("=" | "==" | "!=" | ">" | "<") VALUE ]
 *
 * Whitespace (space, tab, CR, LF) separates tokens and is otherwise ignored.
 * Upstream's lexer cannot tell a NUL byte from the end of input: where a
 * token starts it ends the input, inside a word it ends the word; the same
 * happens here. Error messages
 * are upstream's, word for word; a failure inside a requirement is prefixed
 * `unable to parse requirement: `.
 */
import { aggregateMessage, compareGoStrings } from '../../registry/validation/index.js';
import { AssertionError } from '../../../util/assert.js';
import { labelKeyError, type Operator, type Requirement, requirementErrors } from './requirement.js';

const enum Tok {
  EndOfString,
  ClosedPar,
  Comma,
  DoesNotExist,
  DoubleEquals,
  Equals,
  GreaterThan,
  Identifier,
  In,
  LessThan,
  NotEquals,
  NotIn,
  OpenPar,
}

interface Token {
  readonly tok: Tok;
  readonly lit: string;
}

const SYMBOLS: ReadonlyMap<string, Tok> = new Map([
  [')', Tok.ClosedPar],
  [',', Tok.Comma],
  ['!', Tok.DoesNotExist],
  ['==', Tok.DoubleEquals],
  ['=', Tok.Equals],
  ['>', Tok.GreaterThan],
  ['<', Tok.LessThan],
  ['!=', Tok.NotEquals],
  ['(', Tok.OpenPar],
]);

const KEYWORDS: ReadonlyMap<string, Tok> = new Map([
  ['in', Tok.In],
  ['notin', Tok.NotIn],
]);

const isWhitespace = (ch: string) => ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n';
const isSpecial = (ch: string) => '=!(),><'.includes(ch) && ch !== '';
/** End of input; upstream's lexer cannot tell a NUL byte from the end. */
const isEnd = (ch: string) => ch === '' || ch === '\0';

/** A failure with upstream's wording; `inRequirement` adds the "unable to parse requirement" prefix. */
export class LabelParseFailure {
  constructor(
    readonly message: string,
    readonly inRequirement: boolean,
  ) {}
}

class Lexer {
  private pos = 0;
  constructor(private readonly s: string) {}

  private read(): string {
    const ch = this.s.charAt(this.pos);
    this.pos += 1;
    return ch;
  }

  /** Special symbols scan greedily while the text so far is still a known symbol ("!=" but "=" then "("). */
  private symbol(): Token {
    let text = this.read();
    while (isSpecial(this.s.charAt(this.pos)) && SYMBOLS.has(text + this.s.charAt(this.pos))) text += this.read();
    return { tok: SYMBOLS.get(text)!, lit: text };
  }

  private word(): Token {
    let text = '';
    for (let ch = this.read(); !isEnd(ch); ch = this.read()) {
      if (isSpecial(ch) || isWhitespace(ch)) {
        this.pos -= 1;
        break;
      }
      text += ch;
    }
    return { tok: KEYWORDS.get(text) ?? Tok.Identifier, lit: text };
  }

  next(): Token {
    let ch = this.read();
    while (isWhitespace(ch)) ch = this.read();
    if (isEnd(ch)) return { tok: Tok.EndOfString, lit: '' };
    this.pos -= 1;
    return isSpecial(ch) ? this.symbol() : this.word();
  }
}

/** Every token up to and including the end marker (the parser looks ahead freely). */
function scan(s: string): Token[] {
  const lexer = new Lexer(s);
  const tokens: Token[] = [];
  // Each token consumes at least one character, so the input length bounds the loop.
  for (let i = 0; i <= s.length + 1; i++) {
    const t = lexer.next();
    tokens.push(t);
    if (t.tok === Tok.EndOfString) return tokens;
  }
  throw new AssertionError('label selector lexer made no progress');
}

/** Where keywords may stand for values ("in" is a fine label value), they read as identifiers. */
const enum Ctx {
  KeyAndOperator,
  Values,
}

const BINARY_OPERATORS = 'in, notin, =, ==, !=, gt, lt';

class Parser {
  private position = 0;
  constructor(private readonly items: readonly Token[]) {}

  lookahead(ctx: Ctx): Token {
    return this.view(this.items[Math.min(this.position, this.items.length - 1)]!, ctx);
  }

  consume(ctx: Ctx): Token {
    const t = this.lookahead(ctx);
    this.position += 1;
    return t;
  }

  private view(t: Token, ctx: Ctx): Token {
    if (ctx === Ctx.Values && (t.tok === Tok.In || t.tok === Tok.NotIn)) return { tok: Tok.Identifier, lit: t.lit };
    return t;
  }
}

const fail = (message: string): never => {
  throw new LabelParseFailure(message, true);
};

/** `[!]KEY`; with nothing after the key, the operator is exists (or does-not-exist). */
function parseKey(p: Parser): { key: string; op: Operator | null } {
  let t = p.consume(Ctx.Values);
  const negated = t.tok === Tok.DoesNotExist;
  if (negated) t = p.consume(Ctx.Values);
  if (t.tok !== Tok.Identifier) fail(`found '${t.lit}', expected: identifier`);
  const keyErr = labelKeyError(t.lit, null);
  if (keyErr !== null) fail(aggregateMessage([keyErr])!);
  if (negated) return { key: t.lit, op: '!' };
  const next = p.lookahead(Ctx.Values).tok;
  return { key: t.lit, op: next === Tok.EndOfString || next === Tok.Comma ? 'exists' : null };
}

const OPERATOR_OF: ReadonlyMap<Tok, Operator> = new Map([
  [Tok.In, 'in'],
  [Tok.NotIn, 'notin'],
  [Tok.Equals, '='],
  [Tok.DoubleEquals, '=='],
  [Tok.NotEquals, '!='],
  [Tok.GreaterThan, 'gt'],
  [Tok.LessThan, 'lt'],
]);

function parseOperator(p: Parser): Operator {
  const t = p.consume(Ctx.KeyAndOperator);
  const op = OPERATOR_OF.get(t.tok);
  return op ?? fail(`found '${t.lit}', expected: ${BINARY_OPERATORS}`);
}

/** `(a,b,,c)`: empty entries stand for the empty value; `()` is the empty value alone. */
function parseValueSet(p: Parser): Set<string> {
  const open = p.consume(Ctx.Values);
  if (open.tok !== Tok.OpenPar) fail(`found '${open.lit}' expected: '('`);
  const first = p.lookahead(Ctx.Values);
  if (first.tok === Tok.ClosedPar) {
    p.consume(Ctx.Values);
    return new Set(['']);
  }
  if (first.tok !== Tok.Identifier && first.tok !== Tok.Comma) fail(`found '${first.lit}', expected: ',', ')' or identifier`);
  const values = parseIdentifierList(p);
  const close = p.consume(Ctx.Values);
  if (close.tok !== Tok.ClosedPar) fail(`found '${first.lit}', expected: ')'`);
  return values;
}

/** Comma-separated, possibly empty identifiers up to (not including) the ')'. */
function parseIdentifierList(p: Parser): Set<string> {
  const values = new Set<string>();
  for (;;) {
    const t = p.consume(Ctx.Values);
    if (t.tok === Tok.Identifier) {
      values.add(t.lit);
      const after = p.lookahead(Ctx.Values);
      if (after.tok === Tok.ClosedPar) return values;
      if (after.tok !== Tok.Comma) fail(`found '${after.lit}', expected: ',' or ')'`);
    } else if (t.tok === Tok.Comma) {
      // A leading, doubled or trailing comma contributes the empty value.
      if (values.size === 0) values.add('');
      const after = p.lookahead(Ctx.Values);
      if (after.tok === Tok.ClosedPar) return values.add('');
      if (after.tok === Tok.Comma) {
        p.consume(Ctx.Values);
        values.add('');
      }
    } else {
      fail(`found '${t.lit}', expected: ',', or identifier`);
    }
  }
}

/** The one value of `=`, `==`, `!=`, `>`, `<`; nothing before ',' or the end means ''. */
function parseExactValue(p: Parser): string {
  const ahead = p.lookahead(Ctx.Values);
  if (ahead.tok === Tok.EndOfString || ahead.tok === Tok.Comma) return '';
  const t = p.consume(Ctx.Values);
  return t.tok === Tok.Identifier ? t.lit : fail(`found '${t.lit}', expected: identifier`);
}

function parseRequirement(p: Parser): Requirement {
  const { key, op: inferred } = parseKey(p);
  const op = inferred ?? parseOperator(p);
  let values: string[] = [];
  if (op === 'in' || op === 'notin') values = [...parseValueSet(p)].sort(compareGoStrings);
  else if (op !== 'exists' && op !== '!') values = [parseExactValue(p)];
  const errs = requirementErrors(key, op, values, null);
  if (errs.length > 0) fail(aggregateMessage(errs)!);
  return { key, operator: op, values };
}

/** After a requirement: the end, or a comma followed by another requirement. */
function parseSeparator(p: Parser): boolean {
  const t = p.consume(Ctx.Values);
  if (t.tok === Tok.EndOfString) return false;
  if (t.tok !== Tok.Comma) throw new LabelParseFailure(`found '${t.lit}', expected: ',' or 'end of string'`, false);
  const next = p.lookahead(Ctx.Values);
  if (next.tok !== Tok.Identifier && next.tok !== Tok.DoesNotExist) {
    throw new LabelParseFailure(`found '${next.lit}', expected: identifier after ','`, false);
  }
  return true;
}

/**
 * Parse a selector string into its requirements, sorted by key (stable, so
 * repeated keys keep their order). Throws LabelParseFailure.
 */
export function parseRequirements(selector: string): Requirement[] {
  const tokens = scan(selector);
  const p = new Parser(tokens);
  const requirements: Requirement[] = [];
  const sorted = () => requirements.sort((a, b) => compareGoStrings(a.key, b.key));
  // Each requirement consumes at least one token, so the token count bounds the loop.
  for (let i = 0; i < tokens.length; i++) {
    const t = p.lookahead(Ctx.Values);
    if (t.tok === Tok.EndOfString) return sorted();
    if (t.tok !== Tok.Identifier && t.tok !== Tok.DoesNotExist) {
      throw new LabelParseFailure(`found '${t.lit}', expected: !, identifier, or 'end of string'`, false);
    }
    requirements.push(parseRequirement(p));
    if (!parseSeparator(p)) return sorted();
  }
  throw new AssertionError('label selector parser made no progress');
}
