/**
 * What the workload kinds (Deployment, ReplicaSet, DaemonSet, StatefulSet,
 * Job, ReplicationController) share: their label selector, the rule that it
 * must select the pods of their own template, int-or-percent fields of
 * rolling updates, and the small numeric checks. Each kind composes these
 * in upstream's order in its own file.
 */
import {
  type LabelSelector,
  labelSelectorAsSelector,
  type Selector,
  validateLabelSelector,
} from '../../apiserver/selectors/index.js';
import { type FieldError, FieldPath, invalid, regexError, validateNonnegativeField } from '../validation/index.js';
import { arrAt, immutable, intAt, isObject, type Json, objAt, objectsIn, objOf, sortedMap, strAt, strMapAt, strMapOf, wrongType } from './fields.js';

export const SELECTOR_MISMATCH = '`selector` does not match template `labels`';
const PERCENT_FORMAT = '[0-9]+%';
const PERCENT_ERROR = regexError("a valid percent string must be a numeric string followed by an ending '%'", PERCENT_FORMAT, '1%', '93%');

/** A selector as the client sent it, reduced to well-typed parts; type errors are reported. */
function readSelector(raw: Json, path: FieldPath, errs: FieldError[]): LabelSelector {
  const matchLabels = strMapAt(raw, 'matchLabels', path.child('matchLabels'), errs) ?? undefined;
  const list = arrAt(raw, 'matchExpressions', path.child('matchExpressions'), errs) ?? [];
  const matchExpressions = objectsIn(list, path.child('matchExpressions'), errs).map(([e, i]) => {
    const p = path.child('matchExpressions').index(i);
    const values = arrAt(e, 'values', p.child('values'), errs) ?? [];
    for (const [j, v] of values.entries()) if (typeof v !== 'string') errs.push(wrongType(p.child('values').index(j), v, 'string'));
    return { key: strAt(e, 'key', p.child('key'), errs) ?? '', operator: strAt(e, 'operator', p.child('operator'), errs) ?? '', values: values.filter((v): v is string => typeof v === 'string') };
  });
  return { matchLabels, matchExpressions };
}

export interface SelectorCheck {
  /** The selector field was set (to an object). */
  readonly present: boolean;
  /** Set with neither matchLabels nor matchExpressions. */
  readonly empty: boolean;
  /** The compiled selector; null when it would not compile (upstream's LabelSelectorAsSelector error). */
  readonly selector: Selector | null;
}

/**
 * Validates a LabelSelector value (upstream's ValidateLabelSelector) and
 * compiles it as LabelSelectorAsSelector would: absent selects nothing,
 * `{}` selects everything. Wrong types are reported, never thrown.
 */
export function checkLabelSelector(value: unknown, path: FieldPath, errs: FieldError[]): SelectorCheck {
  if (value === undefined || value === null) return { present: false, empty: false, selector: labelSelectorAsSelector(undefined) };
  if (!isObject(value)) {
    errs.push(wrongType(path, value, 'object'));
    return { present: true, empty: false, selector: null };
  }
  const typeErrs: FieldError[] = [];
  const sel = readSelector(value, path, typeErrs);
  errs.push(...typeErrs, ...validateLabelSelector(sel, path));
  const empty = Object.keys(sel.matchLabels ?? {}).length + (sel.matchExpressions?.length ?? 0) === 0;
  if (typeErrs.length > 0) return { present: true, empty, selector: null };
  try {
    return { present: true, empty, selector: labelSelectorAsSelector(sel) };
  } catch {
    return { present: true, empty, selector: null };
  }
}

/** `spec.selector` of a workload. */
export function checkSelector(spec: Json, path: FieldPath, errs: FieldError[]): SelectorCheck {
  return checkLabelSelector(spec.selector, path, errs);
}

/** The labels of a pod template (metadata.labels), strings only. */
export function templateLabels(template: Json): Record<string, string> {
  return strMapOf(objOf(template, 'metadata'), 'labels');
}

/** The template must carry labels its own selector matches, or the workload would not see its pods. */
export function validateSelectorMatchesTemplate(selector: Selector, template: Json, path: FieldPath): FieldError[] {
  const labels = templateLabels(template);
  return selector.matches(labels) ? [] : [invalid(path.child('metadata', 'labels'), sortedMap(labels), SELECTOR_MISMATCH)];
}

/** `spec.template` as an object ({} when absent); a wrong type is reported. */
export function templateAt(spec: Json, path: FieldPath, errs: FieldError[]): Json {
  return objAt(spec, 'template', path, errs) ?? {};
}

/** An optional integer that may not be negative. */
export function nonNegativeAt(o: Json, key: string, path: FieldPath, errs: FieldError[]): void {
  const n = intAt(o, key, path, errs);
  if (typeof n === 'number') errs.push(...validateNonnegativeField(n, path));
}

/** An IntOrString that must be a count or a percentage (upstream's ValidatePositiveIntOrPercent). */
export function validatePositiveIntOrPercent(v: unknown, path: FieldPath): FieldError[] {
  if (typeof v === 'string') return new RegExp(`^${PERCENT_FORMAT}$`).test(v) ? [] : [invalid(path, v, PERCENT_ERROR)];
  if (Number.isInteger(v)) return validateNonnegativeField(v as number, path);
  // Upstream's message, doubled percent sign included.
  return [invalid(path, v ?? null, "must be an integer or percentage (e.g '5%%')")];
}

function percentValue(v: unknown): number | null {
  return typeof v === 'string' && /^[0-9]+%$/.test(v) ? Number.parseInt(v.slice(0, -1), 10) : null;
}

/** The number an IntOrString stands for (a malformed string counts as 0, as upstream's IntValue). */
export function intOrPercentValue(v: unknown): number {
  const percent = percentValue(v);
  if (percent !== null) return percent;
  if (Number.isInteger(v)) return v as number;
  return typeof v === 'string' && /^[-+]?[0-9]+$/.test(v) ? Number.parseInt(v, 10) : 0;
}

export function validateNotMoreThan100Percent(v: unknown, path: FieldPath): FieldError[] {
  const percent = percentValue(v);
  return percent !== null && percent > 100 ? [invalid(path, v, 'must not be greater than 100%')] : [];
}

/** apps/v1 froze selectors: changing one would orphan every pod the workload owns. */
export function validateSelectorImmutable(obj: Json, old: Json): FieldError[] {
  const now = objOf(obj, 'spec')?.selector ?? null;
  const before = objOf(old, 'spec')?.selector ?? null;
  return immutable(now, before, FieldPath.root('spec', 'selector'));
}
