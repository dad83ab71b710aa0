/**
 * LimitRanges (v1, light): per-type bounds on resources. For containers,
 * missing defaults are filled in as upstream does (default limit from max,
 * default request from the default limit, then from min), so that the
 * admission step that applies them sees a complete item. Validation checks
 * types, resource names, quantities and their order (min ≤ default request
 * ≤ default ≤ max).
 */
import type { KubeObject } from '../../apiserver/object-store.js';
import { registerStrategy } from '../strategy.js';
import { duplicate, FieldPath, type FieldError, forbidden, invalid, isQualifiedName } from '../validation/index.js';
import { arrAt, type Json, objAt, objectsIn, objectsOf, objOf, strAt } from './fields.js';
import { formatQuantity, type Quantity, compareQuantities } from './quantity.js';
import { canonicalizeResourceList, validateContainerResourceName, validateResourceList, validateResourceName } from './resource-lists.js';

const LIMIT_TYPES = ['Pod', 'Container', 'PersistentVolumeClaim'];
const BOUNDS = ['max', 'min', 'default', 'defaultRequest', 'maxLimitRequestRatio'] as const;

/** Copies into `to` the entries of `from` it lacks. */
function fillFrom(item: Json, to: string, from: string): void {
  const source = objOf(item, from);
  if (!source) return;
  const target = objOf(item, to) ?? {};
  for (const [k, v] of Object.entries(source)) if (!(k in target)) target[k] = v;
  if (Object.keys(target).length > 0) item[to] = target;
}

function defaultLimitRange(lr: KubeObject): void {
  for (const item of objectsOf(objOf(lr, 'spec') ?? {}, 'limits')) {
    for (const bound of BOUNDS) canonicalizeResourceList(item[bound]);
    if (item.type !== 'Container') continue;
    fillFrom(item, 'default', 'max');
    fillFrom(item, 'defaultRequest', 'default');
    fillFrom(item, 'defaultRequest', 'min');
  }
}

function validateTypeName(type: string, path: FieldPath): FieldError[] {
  const errs = isQualifiedName(type).map((m) => invalid(path, type, m));
  if (errs.length > 0) return errs;
  return !type.includes('/') && !LIMIT_TYPES.includes(type) ? [invalid(path, type, 'must be a standard limit type or fully qualified')] : [];
}

type Bounds = Partial<Record<(typeof BOUNDS)[number], Map<string, Quantity>>>;

/** The pairwise order of the bounds of one resource, with upstream's messages and paths. */
function validateOrder(name: string, b: Bounds, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  const [min, max, def, req] = [b.min?.get(name), b.max?.get(name), b.default?.get(name), b.defaultRequest?.get(name)];
  const s = (q: Quantity) => formatQuantity(q);
  const gt = (x: Quantity | undefined, y: Quantity | undefined): x is Quantity => x !== undefined && y !== undefined && compareQuantities(x, y) > 0;
  if (gt(min, max)) errs.push(invalid(path.child('min').key(name), s(min), `min value ${s(min)} is greater than max value ${s(max!)}`));
  if (gt(min, req)) errs.push(invalid(path.child('defaultRequest').key(name), s(req!), `min value ${s(min)} is greater than default request value ${s(req!)}`));
  if (gt(req, max)) errs.push(invalid(path.child('defaultRequest').key(name), s(req), `default request value ${s(req)} is greater than max value ${s(max!)}`));
  if (gt(req, def)) errs.push(invalid(path.child('defaultRequest').key(name), s(req), `default request value ${s(req)} is greater than default limit value ${s(def!)}`));
  if (gt(min, def)) errs.push(invalid(path.child('default').key(name), s(min), `min value ${s(min)} is greater than default value ${s(def!)}`));
  if (gt(def, max)) errs.push(invalid(path.child('default').key(name), s(max!), `default value ${s(def)} is greater than max value ${s(max!)}`));
  return errs;
}

function validateItem(item: Json, path: FieldPath, seen: Set<string>): FieldError[] {
  const errs: FieldError[] = [];
  const type = strAt(item, 'type', path.child('type'), errs) ?? '';
  errs.push(...validateTypeName(type, path.child('type')));
  if (seen.has(type)) errs.push(duplicate(path.child('type'), type));
  seen.add(type);
  const nameFn = type === 'Pod' || type === 'Container' ? validateContainerResourceName : validateResourceName;
  const bounds: Bounds = {};
  for (const bound of BOUNDS) {
    const list = objAt(item, bound, path.child(bound), errs);
    if (!list) continue;
    if (type === 'Pod' && (bound === 'default' || bound === 'defaultRequest') && Object.keys(list).length > 0) {
      errs.push(forbidden(path.child(bound), "may not be specified when `type` is 'Pod'"));
      continue;
    }
    bounds[bound] = validateResourceList(list, path.child(bound), nameFn, errs);
  }
  const names = new Set(BOUNDS.flatMap((b) => [...(bounds[b]?.keys() ?? [])]));
  for (const name of [...names].sort()) errs.push(...validateOrder(name, bounds, path));
  return errs;
}

function validateLimitRange(lr: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const path = FieldPath.root('spec', 'limits');
  const spec = objAt(lr, 'spec', FieldPath.root('spec'), errs) ?? {};
  const seen = new Set<string>();
  for (const [item, i] of objectsIn(arrAt(spec, 'limits', path, errs) ?? [], path, errs)) errs.push(...validateItem(item, path.index(i), seen));
  return errs;
}

registerStrategy('v1/LimitRange', {
  default: defaultLimitRange,
  validate: validateLimitRange,
});
