/**
 * Label selectors: the parsed form of `?labelSelector=` strings and of
 * metav1.LabelSelector objects (`spec.selector` of Deployments, ReplicaSets,
 * Jobs …). Both compile once into a Selector whose `matches` is cheap.
 *
 * Which function gives which empty selector matters, as upstream:
 *  - parseLabelSelector('') and a LabelSelector `{}` (no matchLabels, no
 *    matchExpressions) match EVERYTHING;
 *  - labelSelectorAsSelector(null | undefined) matches NOTHING (a workload
 *    without a selector must not adopt every pod).
 */
import {
  aggregateMessage,
  compareGoStrings,
  type FieldError,
  FieldPath,
  forbidden,
  goQuote,
  invalid,
  isValidLabelValue,
  required,
  validateLabelName,
  validateLabels,
} from '../../registry/validation/index.js';
import { SelectorError } from './errors.js';
import { LabelParseFailure, parseRequirements } from './label-parser.js';
import { type Labels, type Requirement, requirementErrors, requirementMatches, requirementToString } from './requirement.js';

export type LabelSelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface LabelSelectorRequirement {
  key: string;
  operator: LabelSelectorOperator | string;
  values?: string[] | null;
}

/** metav1.LabelSelector: matchLabels and matchExpressions are ANDed. */
export interface LabelSelector {
  matchLabels?: Record<string, string> | null;
  matchExpressions?: LabelSelectorRequirement[] | null;
}

export interface Selector {
  /** Whether the labels (absent = none) satisfy every requirement. */
  matches(labels: Labels): boolean;
  /** True when the selector does not restrict anything (matches everything). */
  readonly empty: boolean;
  /** The requirements, sorted by key. */
  readonly requirements: readonly Requirement[];
  /** The canonical string (`a in (x,y),b=c`); '' for everything and for nothing. */
  toString(): string;
  /** The single value `key` must have (from =, == or a one-value in), if the selector pins one. */
  requiresExactMatch(key: string): string | undefined;
}

class RequirementsSelector implements Selector {
  readonly requirements: readonly Requirement[];

  constructor(requirements: readonly Requirement[]) {
    this.requirements = [...requirements].sort((a, b) => compareGoStrings(a.key, b.key));
  }

  get empty(): boolean {
    return this.requirements.length === 0;
  }

  matches(labels: Labels): boolean {
    return this.requirements.every((r) => requirementMatches(r, labels));
  }

  toString(): string {
    return this.requirements.map(requirementToString).join(',');
  }

  requiresExactMatch(key: string): string | undefined {
    const r = this.requirements.find((x) => x.key === key);
    if (r === undefined || r.values.length !== 1) return undefined;
    return r.operator === '=' || r.operator === '==' || r.operator === 'in' ? r.values[0] : undefined;
  }
}

class NothingSelector implements Selector {
  readonly requirements: readonly Requirement[] = [];
  readonly empty = false;
  matches(): boolean {
    return false;
  }
  toString(): string {
    return '';
  }
  requiresExactMatch(): string | undefined {
    return undefined;
  }
}

const EVERYTHING: Selector = new RequirementsSelector([]);
const NOTHING: Selector = new NothingSelector();

export function everything(): Selector {
  return EVERYTHING;
}

export function nothing(): Selector {
  return NOTHING;
}

/**
 * Parse a `labelSelector` query value (also `kubectl -l`). '' selects
 * everything. Throws SelectorError SELECTOR_ERR_LABEL_SYNTAX with upstream's
 * message, which the API server returns as a 400.
 */
export function parseLabelSelector(selector: string): Selector {
  try {
    return new RequirementsSelector(parseRequirements(selector));
  } catch (e) {
    if (!(e instanceof LabelParseFailure)) throw e;
    const message = e.inRequirement ? `unable to parse requirement: ${e.message}` : e.message;
    throw new SelectorError('SELECTOR_ERR_LABEL_SYNTAX', message);
  }
}

/** Exactly these labels (no validation, as upstream SelectorFromSet); {} selects everything. */
export function selectorFromSet(labels: Readonly<Record<string, string>> | null | undefined): Selector {
  const entries = Object.entries(labels ?? {});
  return new RequirementsSelector(entries.map(([key, value]) => ({ key, operator: '=', values: [value] })));
}

const OPERATORS: Readonly<Record<LabelSelectorOperator, Requirement['operator']>> = {
  In: 'in',
  NotIn: 'notin',
  Exists: 'exists',
  DoesNotExist: '!',
};

function isOperator(op: string): op is LabelSelectorOperator {
  return Object.hasOwn(OPERATORS, op);
}

function checked(key: string, op: Requirement['operator'], values: string[]): Requirement {
  const errs = requirementErrors(key, op, values, null);
  if (errs.length > 0) throw new SelectorError('SELECTOR_ERR_LABEL_SELECTOR_INVALID', aggregateMessage(errs)!, errs);
  return { key, operator: op, values };
}

/**
 * Compile a metav1.LabelSelector (upstream LabelSelectorAsSelector): null or
 * undefined selects NOTHING, `{}` selects EVERYTHING. Throws SelectorError
 * SELECTOR_ERR_LABEL_SELECTOR_INVALID on an unknown operator or a requirement
 * that breaks the rules (e.g. values given with Exists).
 */
export function labelSelectorAsSelector(ps: LabelSelector | null | undefined): Selector {
  if (ps === null || ps === undefined) return NOTHING;
  const matchLabels = Object.entries(ps.matchLabels ?? {}).sort(([a], [b]) => compareGoStrings(a, b));
  const expressions = ps.matchExpressions ?? [];
  if (matchLabels.length + expressions.length === 0) return EVERYTHING;
  const requirements = matchLabels.map(([k, v]) => checked(k, '=', [v]));
  for (const expr of expressions) {
    if (!isOperator(expr.operator)) {
      throw new SelectorError('SELECTOR_ERR_LABEL_SELECTOR_INVALID', `${goQuote(expr.operator)} is not a valid label selector operator`);
    }
    requirements.push(checked(expr.key, OPERATORS[expr.operator], [...(expr.values ?? [])]));
  }
  return new RequirementsSelector(requirements);
}

/**
 * The canonical string of a LabelSelector object, as a scale subresource
 * shows it in `status.selector` (e.g. `app=web,tier in (back,front)`).
 * Throws like labelSelectorAsSelector.
 */
export function labelSelectorToString(ps: LabelSelector | null | undefined): string {
  return labelSelectorAsSelector(ps).toString();
}

export interface LabelSelectorValidationOptions {
  /** Tolerate invalid values already stored (upstream's backward-compatibility escape hatch). */
  readonly allowInvalidLabelValueInSelector?: boolean;
  /** Let unknown operators through (for review objects that only echo a selector). */
  readonly allowUnknownOperatorInRequirement?: boolean;
}

function validateRequirement(r: LabelSelectorRequirement, opts: LabelSelectorValidationOptions, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  const values = r.values ?? [];
  if (r.operator === 'In' || r.operator === 'NotIn') {
    if (values.length === 0) errs.push(required(path.child('values'), "must be specified when `operator` is 'In' or 'NotIn'"));
  } else if (r.operator === 'Exists' || r.operator === 'DoesNotExist') {
    if (values.length > 0) errs.push(forbidden(path.child('values'), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
  } else if (opts.allowUnknownOperatorInRequirement !== true) {
    errs.push(invalid(path.child('operator'), r.operator, 'not a valid selector operator'));
  }
  errs.push(...validateLabelName(r.key, path.child('key')));
  if (opts.allowInvalidLabelValueInSelector === true) return errs;
  for (const [i, v] of values.entries()) errs.push(...isValidLabelValue(v).map((msg) => invalid(path.child('values').index(i), v, msg)));
  return errs;
}

/**
 * Field errors for a LabelSelector inside an object being validated
 * (upstream ValidateLabelSelector), e.g. under `spec.selector`. null is valid.
 */
export function validateLabelSelector(
  ps: LabelSelector | null | undefined,
  path: FieldPath,
  opts: LabelSelectorValidationOptions = {},
): FieldError[] {
  if (ps === null || ps === undefined) return [];
  const errs = validateLabels(ps.matchLabels, path.child('matchLabels'));
  for (const [i, expr] of (ps.matchExpressions ?? []).entries()) {
    errs.push(...validateRequirement(expr, opts, path.child('matchExpressions').index(i)));
  }
  return errs;
}
