/**
 * Field selectors (`?fieldSelector=`): a comma-separated AND of
 * `field=value`, `field==value` and `field!=value` terms (upstream
 * fields.ParseSelector). In values, `\,`, `\=` and `\\` escape the three
 * special characters; field names are taken literally (no escapes, no
 * trimming). A field an object does not have reads as ''.
 */
import { compareGoStrings } from '../../registry/validation/index.js';
import { SelectorError } from './errors.js';

export interface FieldTerm {
  readonly field: string;
  readonly value: string;
  /** `!=`; otherwise `=` or `==`, which mean the same. */
  readonly negated: boolean;
}

/** Field values of one object, by field path; a function, or a plain record. */
export type FieldSource = Readonly<Record<string, string>> | ((field: string) => string);

/** Rewrites one term's field and value, or rejects it by throwing. */
export type FieldTransform = (field: string, value: string) => { field: string; value: string };

function read(source: FieldSource, field: string): string {
  if (typeof source === 'function') return source(field);
  return Object.hasOwn(source, field) ? source[field]! : '';
}

export class FieldSelector {
  constructor(readonly terms: readonly FieldTerm[]) {}

  /** True when there are no terms (matches everything). */
  get empty(): boolean {
    return this.terms.length === 0;
  }

  matches(fields: FieldSource): boolean {
    return this.terms.every((t) => (read(fields, t.field) === t.value) !== t.negated);
  }

  /** `a=b,c!=d` with values escaped; `==` prints as `=`. */
  toString(): string {
    return this.terms.map((t) => `${t.field}${t.negated ? '!=' : '='}${escapeFieldValue(t.value)}`).join(',');
  }

  /** The value `field` must equal, if an `=` term pins it. */
  requiresExactMatch(field: string): string | undefined {
    return this.terms.find((t) => !t.negated && t.field === field)?.value;
  }

  /**
   * Apply `fn` to every term, in order; a term that becomes ('', '') is
   * dropped. The first error thrown by `fn` propagates.
   */
  transform(fn: FieldTransform): FieldSelector {
    const out: FieldTerm[] = [];
    for (const t of this.terms) {
      const next = fn(t.field, t.value);
      if (next.field !== '' || next.value !== '') out.push({ ...next, negated: t.negated });
    }
    return new FieldSelector(out);
  }
}

/** Escape a literal for use as a field selector value. */
export function escapeFieldValue(value: string): string {
  return value.replace(/[\\,=]/g, (c) => `\\${c}`);
}

const syntaxError = (message: string) => new SelectorError('SELECTOR_ERR_FIELD_SYNTAX', message);

/** Undo escapeFieldValue; an unknown escape, a lone trailing '\' or a bare ',' or '=' is an error. */
export function unescapeFieldValue(value: string): string {
  if (!/[\\,=]/.test(value)) return value;
  let out = '';
  let inSlash = false;
  for (const c of value) {
    if (inSlash) {
      if (c !== '\\' && c !== ',' && c !== '=') throw syntaxError(`invalid field selector: invalid escape sequence: \\${c}`);
      out += c;
      inSlash = false;
    } else if (c === '\\') {
      inSlash = true;
    } else if (c === ',' || c === '=') {
      // Upstream prints the rune with %v, i.e. as its number.
      throw syntaxError(`invalid field selector: unescaped character in value: ${c.codePointAt(0)}`);
    } else {
      out += c;
    }
  }
  if (inSlash) throw syntaxError('invalid field selector: invalid escape sequence: \\');
  return out;
}

/** Split on commas not preceded by a backslash; escapes stay in the terms. */
function splitTerms(selector: string): string[] {
  if (selector === '') return [];
  const terms: string[] = [];
  let start = 0;
  let inSlash = false;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (inSlash) inSlash = false;
    else if (c === '\\') inSlash = true;
    else if (c === ',') {
      terms.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(selector.slice(start));
  return terms;
}

/** `!=` is tried before `==` before `=` at each position, so `a==b` is not `a=` `=b`. */
const TERM_OPERATORS = ['!=', '==', '='] as const;

function splitTerm(term: string): { field: string; op: (typeof TERM_OPERATORS)[number]; rhs: string } | null {
  for (let i = 0; i < term.length; i++) {
    const op = TERM_OPERATORS.find((o) => term.startsWith(o, i));
    if (op !== undefined) return { field: term.slice(0, i), op, rhs: term.slice(i + op.length) };
  }
  return null;
}

/**
 * Parse a `fieldSelector` query value. Terms come back sorted (as upstream
 * sorts them, which also decides which bad term is reported first). Throws
 * SelectorError SELECTOR_ERR_FIELD_SYNTAX with upstream's message.
 */
export function parseFieldSelector(selector: string): FieldSelector {
  const parts = splitTerms(selector).sort(compareGoStrings);
  const terms: FieldTerm[] = [];
  for (const part of parts) {
    if (part === '') continue;
    const split = splitTerm(part);
    if (split === null) throw syntaxError(`invalid selector: '${selector}'; can't understand '${part}'`);
    terms.push({ field: split.field, value: unescapeFieldValue(split.rhs), negated: split.op === '!=' });
  }
  return new FieldSelector(terms);
}
