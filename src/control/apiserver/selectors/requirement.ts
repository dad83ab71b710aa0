/**
 * One term of a label selector: a key, an operator and a value set
 * (upstream labels.Requirement). A selector is the AND of its requirements.
 */
import {
  compareGoStrings,
  type FieldError,
  FieldPath,
  invalid,
  isQualifiedName,
  isValidLabelValue,
} from '../../registry/validation/index.js';

/** The operator spellings of upstream's selection.Operator. */
export type Operator = 'in' | 'notin' | '=' | '==' | '!=' | 'gt' | 'lt' | 'exists' | '!';

export interface Requirement {
  readonly key: string;
  readonly operator: Operator;
  /** As given; in/notin from a parsed string are de-duplicated and sorted. */
  readonly values: readonly string[];
}

export type Labels = Readonly<Record<string, string>> | null | undefined;

/** A key that is not a qualified name; the path is null for the string parser (upstream prints `<nil>`). */
export function labelKeyError(key: string, path: FieldPath | null): FieldError | null {
  const msgs = isQualifiedName(key);
  return msgs.length === 0 ? null : invalid(path, key, msgs.join('; '));
}

/** Operator/value-count rules; empty value lists print as `null`, as a nil Go slice would. */
function valueCountError(op: Operator, values: readonly string[], path: FieldPath): FieldError | null {
  const shown = values.length === 0 ? null : values;
  switch (op) {
    case 'in':
    case 'notin':
      return values.length === 0 ? invalid(path, shown, "for 'in', 'notin' operators, values set can't be empty") : null;
    case '=':
    case '==':
    case '!=':
      return values.length !== 1 ? invalid(path, shown, 'exact-match compatibility requires one single value') : null;
    case 'exists':
    case '!':
      return values.length !== 0 ? invalid(path, shown, 'values set must be empty for exists and does not exist') : null;
    case 'gt':
    case 'lt':
      return values.length !== 1 ? invalid(path, shown, "for 'Gt', 'Lt' operators, exactly one value is required") : null;
  }
}

const INT64_RE = /^[+-]?[0-9]+$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Go's strconv.ParseInt(s, 10, 64), or null. */
function parseInt64(s: string): bigint | null {
  if (!INT64_RE.test(s)) return null;
  const n = BigInt(s);
  return n < INT64_MIN || n > INT64_MAX ? null : n;
}

/**
 * Everything wrong with a requirement, in upstream's order (key, value count,
 * integer values for gt/lt, each value's format). `path` prefixes the fields
 * (`key`, `values[0][key]`); null means no prefix.
 */
export function requirementErrors(key: string, op: Operator, values: readonly string[], path: FieldPath | null): FieldError[] {
  const base = path ?? FieldPath.ROOT;
  const errs: FieldError[] = [];
  const keyErr = labelKeyError(key, base.child('key'));
  if (keyErr !== null) errs.push(keyErr);
  const valuesPath = base.child('values');
  const countErr = valueCountError(op, values, valuesPath);
  if (countErr !== null) errs.push(countErr);
  if (op === 'gt' || op === 'lt') {
    for (const [i, v] of values.entries()) {
      if (parseInt64(v) === null) errs.push(invalid(valuesPath.index(i), v, "for 'Gt', 'Lt' operators, the value must be an integer"));
    }
  }
  for (const [i, v] of values.entries()) {
    const msgs = isValidLabelValue(v);
    if (msgs.length > 0) errs.push(invalid(valuesPath.index(i).key(key), v, msgs.join('; ')));
  }
  return errs;
}

function has(labels: Labels, key: string): labels is Readonly<Record<string, string>> {
  return labels !== null && labels !== undefined && Object.hasOwn(labels, key);
}

function compareNumeric(r: Requirement, labels: Labels): boolean {
  if (!has(labels, r.key) || r.values.length !== 1) return false;
  const actual = parseInt64(labels[r.key]!);
  const bound = parseInt64(r.values[0]!);
  if (actual === null || bound === null) return false;
  return r.operator === 'gt' ? actual > bound : actual < bound;
}

/** Whether one requirement holds; a missing key satisfies only notin, != and !. */
export function requirementMatches(r: Requirement, labels: Labels): boolean {
  switch (r.operator) {
    case 'in':
    case '=':
    case '==':
      return has(labels, r.key) && r.values.includes(labels[r.key]!);
    case 'notin':
    case '!=':
      return !has(labels, r.key) || !r.values.includes(labels[r.key]!);
    case 'exists':
      return has(labels, r.key);
    case '!':
      return !has(labels, r.key);
    case 'gt':
    case 'lt':
      return compareNumeric(r, labels);
  }
}

const OPERATOR_TEXT: Readonly<Record<Operator, string>> = {
  '=': '=',
  '==': '==',
  '!=': '!=',
  in: ' in ',
  notin: ' notin ',
  gt: '>',
  lt: '<',
  exists: '',
  '!': '',
};

/** Canonical text: `k=v`, `k in (a,b)` (values sorted), `k`, `!k`, `k>3`. */
export function requirementToString(r: Requirement): string {
  if (r.operator === 'exists') return r.key;
  if (r.operator === '!') return `!${r.key}`;
  const values = r.values.length === 1 ? r.values[0]! : [...r.values].sort(compareGoStrings).join(',');
  const set = r.operator === 'in' || r.operator === 'notin';
  return `${r.key}${OPERATOR_TEXT[r.operator]}${set ? `(${values})` : values}`;
}
