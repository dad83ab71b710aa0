/**
 * Resource lists (`{cpu: "500m", memory: "1Gi"}`) as containers, quotas,
 * limit ranges and nodes carry them: the names upstream accepts, quantity
 * checks with upstream's messages, and the defaulting that rounds values up
 * to milli units and writes them back in canonical form.
 */
import {
  type FieldError,
  type FieldPath,
  forbidden,
  invalid,
  IS_NEGATIVE_ERROR_MSG,
  isQualifiedName,
  required,
} from '../validation/index.js';
import { isObject, type Json, objAt, sortedKeys } from './fields.js';
import {
  compareQuantities,
  formatQuantity,
  isNegative,
  milliValue,
  MILLI_EXPONENT,
  QUANTITY_FORMAT_ERROR,
  type Quantity,
  quantityOf,
  roundUp,
} from './quantity.js';

const NOT_INTEGER = 'must be an integer';
const HUGE_PAGES_PREFIX = 'hugepages-';
const REQUESTS_HUGE_PAGES_PREFIX = 'requests.hugepages-';
const NATIVE_DOMAIN = 'kubernetes.io/';

/** Names that need no domain prefix anywhere (upstream's standardResources). */
const STANDARD_RESOURCES = new Set([
  'cpu',
  'memory',
  'ephemeral-storage',
  'requests.cpu',
  'requests.memory',
  'requests.ephemeral-storage',
  'limits.cpu',
  'limits.memory',
  'limits.ephemeral-storage',
  'pods',
  'resourcequotas',
  'services',
  'replicationcontrollers',
  'secrets',
  'configmaps',
  'persistentvolumeclaims',
  'storage',
  'requests.storage',
  'services.nodeports',
  'services.loadbalancers',
]);
const STANDARD_CONTAINER_RESOURCES = new Set(['cpu', 'memory', 'ephemeral-storage']);
const STANDARD_QUOTA_RESOURCES = new Set([...STANDARD_RESOURCES].filter((r) => r !== 'storage'));
/** Object counts: a fraction of a pod makes no sense. */
const INTEGER_RESOURCES = new Set([
  'pods',
  'resourcequotas',
  'services',
  'replicationcontrollers',
  'secrets',
  'configmaps',
  'persistentvolumeclaims',
  'services.nodeports',
  'services.loadbalancers',
]);

export function isHugePageResourceName(name: string): boolean {
  return name.startsWith(HUGE_PAGES_PREFIX);
}

/** No domain, or a kubernetes.io domain: the resources Kubernetes itself defines. */
export function isNativeResource(name: string): boolean {
  return !name.includes('/') || name.includes(NATIVE_DOMAIN);
}

/** A device-plugin style resource (`example.com/gpu`): a qualified name outside kubernetes.io. */
export function isExtendedResourceName(name: string): boolean {
  if (isNativeResource(name) || name.startsWith('requests.')) return false;
  return isQualifiedName(`requests.${name}`).length === 0;
}

/** Requests may be below limits only for resources the node can overcommit. */
export function isOvercommitAllowed(name: string): boolean {
  return isNativeResource(name) && !isHugePageResourceName(name);
}

function isIntegerResourceName(name: string): boolean {
  return INTEGER_RESOURCES.has(name) || isExtendedResourceName(name);
}

function isStandardResourceName(name: string): boolean {
  return STANDARD_RESOURCES.has(name) || name.startsWith(HUGE_PAGES_PREFIX) || name.startsWith(REQUESTS_HUGE_PAGES_PREFIX);
}

/** Any resource name: qualified, and standard unless it carries a domain. */
export function validateResourceName(name: string, path: FieldPath): FieldError[] {
  const errs = isQualifiedName(name).map((m) => invalid(path, name, m));
  if (errs.length > 0) return errs;
  if (!name.includes('/') && !isStandardResourceName(name)) return [invalid(path, name, 'must be a standard resource type or fully qualified')];
  return [];
}

export function validateContainerResourceName(name: string, path: FieldPath): FieldError[] {
  const errs = validateResourceName(name, path);
  if (!name.includes('/')) {
    const standard = STANDARD_CONTAINER_RESOURCES.has(name) || isHugePageResourceName(name);
    if (!standard) return [...errs, invalid(path, name, 'must be a standard resource for containers')];
  } else if (!isNativeResource(name) && !isExtendedResourceName(name)) {
    return [...errs, invalid(path, name, "doesn't follow extended resource name standard")];
  }
  return errs;
}

export function validateQuotaResourceName(name: string, path: FieldPath): FieldError[] {
  const errs = validateResourceName(name, path);
  const standard = STANDARD_QUOTA_RESOURCES.has(name) || name.startsWith(HUGE_PAGES_PREFIX) || name.startsWith(REQUESTS_HUGE_PAGES_PREFIX);
  if (!name.includes('/') && !standard) return [...errs, invalid(path, name, 'must be a standard resource for quota')];
  return errs;
}

/** Parses one quantity of a list; a malformed one is reported with the decoder's message. */
export function quantityAt(v: unknown, path: FieldPath, errs: FieldError[]): Quantity | null {
  const q = quantityOf(v);
  if (q === null) errs.push(invalid(path, v, QUANTITY_FORMAT_ERROR));
  return q;
}

/** Non-negative, and whole for object counts (upstream's ValidateResourceQuantityValue). */
export function validateQuantityValue(name: string, q: Quantity, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  if (isNegative(q)) errs.push(invalid(path, formatQuantity(q), IS_NEGATIVE_ERROR_MSG));
  if (isIntegerResourceName(name) && milliValue(q) % 1000n !== 0n) errs.push(invalid(path, formatQuantity(q), NOT_INTEGER));
  return errs;
}

/**
 * A resource list: names checked by `nameFn`, values parsed and checked.
 * Returns the parsed values by name (only the well-formed ones).
 */
export function validateResourceList(
  list: Json,
  path: FieldPath,
  nameFn: (name: string, path: FieldPath) => FieldError[],
  errs: FieldError[],
): Map<string, Quantity> {
  const out = new Map<string, Quantity>();
  for (const name of sortedKeys(list)) {
    const p = path.key(name);
    errs.push(...nameFn(name, p));
    const q = quantityAt(list[name], p, errs);
    if (q === null) continue;
    errs.push(...validateQuantityValue(name, q, p));
    out.set(name, q);
  }
  return out;
}

function validateRequestAgainstLimit(name: string, req: Quantity, limits: Map<string, Quantity>, path: FieldPath): FieldError[] {
  const limit = limits.get(name);
  const reqPath = path.child('requests');
  if (limit === undefined) {
    return isOvercommitAllowed(name) ? [] : [required(path.child('limits'), 'Limit must be set for non overcommitable resources')];
  }
  const cmp = compareQuantities(req, limit);
  // Upstream reports these at `requests`, not at the entry.
  if (cmp !== 0 && !isOvercommitAllowed(name)) {
    return [invalid(reqPath, formatQuantity(req), `must be equal to ${name} limit of ${formatQuantity(limit)}`)];
  }
  if (cmp > 0) return [invalid(reqPath, formatQuantity(req), `must be less than or equal to ${name} limit of ${formatQuantity(limit)}`)];
  return [];
}

/** A container's `resources`: names, quantities, requests ≤ limits, huge pages need cpu or memory. */
export function validateResourceRequirements(res: Json, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  const limitsJson = objAt(res, 'limits', path.child('limits'), errs);
  const requestsJson = objAt(res, 'requests', path.child('requests'), errs);
  const limits = limitsJson ? validateResourceList(limitsJson, path.child('limits'), validateContainerResourceName, errs) : new Map();
  const requests = requestsJson ? validateResourceList(requestsJson, path.child('requests'), validateContainerResourceName, errs) : new Map();
  for (const [name, q] of requests) errs.push(...validateRequestAgainstLimit(name, q, limits, path));
  const names = [...limits.keys(), ...requests.keys()];
  if (names.some(isHugePageResourceName) && !names.some((n) => n === 'cpu' || n === 'memory')) {
    errs.push(forbidden(path, 'HugePages require cpu or memory'));
  }
  return errs;
}

/**
 * Rounds each well-formed quantity up to milli units and writes it in
 * canonical form (upstream's SetDefaults_ResourceList plus serialization).
 * Malformed values stay as they are for validation to report.
 */
export function canonicalizeResourceList(list: unknown): void {
  if (!isObject(list)) return;
  for (const [name, v] of Object.entries(list)) {
    const q = quantityOf(v);
    if (q !== null) list[name] = formatQuantity(roundUp(q, MILLI_EXPONENT));
  }
}

/** The well-formed quantities of a list, for computations (QoS); malformed ones are skipped. */
export function quantitiesOf(list: unknown): Map<string, Quantity> {
  const out = new Map<string, Quantity>();
  if (!isObject(list)) return out;
  for (const [name, v] of Object.entries(list)) {
    const q = quantityOf(v);
    if (q !== null) out.set(name, q);
  }
  return out;
}
