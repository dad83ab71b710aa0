/**
 * ObjectMeta validation as every registry strategy runs it on create and
 * update (k8s.io/apimachinery pkg/api/validation/objectmeta.go and the label
 * checks of pkg/apis/meta/v1/validation). Errors are returned, never thrown:
 * the caller merges them with its kind-specific errors into one 422.
 */
import { FieldPath } from './field-path.js';
import { type FieldError, forbidden, invalid, required, tooLong } from './field-errors.js';
import { byteLength, compareGoStrings, goQuote } from './go-format.js';
import { isDNS1035Label, isDNS1123Label, isDNS1123Subdomain, isQualifiedName, isValidLabelValue } from './names.js';

/** Annotation keys plus values, in bytes, may not exceed this. */
export const TOTAL_ANNOTATION_SIZE_LIMIT_BYTES = 256 * 1024;
export const FIELD_IMMUTABLE_ERROR_MSG = 'field is immutable';
export const IS_NEGATIVE_ERROR_MSG = 'must be greater than or equal to 0';
/** The two finalizers the garbage collector interprets; they contradict each other. */
export const FINALIZER_ORPHAN_DEPENDENTS = 'orphan';
export const FINALIZER_DELETE_DEPENDENTS = 'foregroundDeletion';

export interface OwnerReference {
  apiVersion?: string;
  kind?: string;
  name?: string;
  uid?: string;
  controller?: boolean | null;
  blockOwnerDeletion?: boolean | null;
}

/** The parts of metav1.ObjectMeta that validation looks at; absent means Go's zero value. */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string | null;
  deletionTimestamp?: string | null;
  deletionGracePeriodSeconds?: number | null;
  labels?: Record<string, string> | null;
  annotations?: Record<string, string> | null;
  ownerReferences?: OwnerReference[] | null;
  finalizers?: string[] | null;
}

/**
 * Checks a name for one kind. `prefix` is true for a generateName, to which
 * random characters will be appended. Returns upstream messages.
 */
export type ValidateNameFunc = (name: string, prefix: boolean) => string[];

/**
 * A generateName may end in '-' since a suffix follows. Upstream replaces the
 * last TWO characters by one 'a' (dropping one), so a prefix passes a length
 * limit one character above it; kept as is, since clients see the outcome.
 */
function maskTrailingDash(name: string): string {
  return name.length > 1 && name.endsWith('-') ? `${name.slice(0, -2)}a` : name;
}

export const nameIsDNSSubdomain: ValidateNameFunc = (name, prefix) => isDNS1123Subdomain(prefix ? maskTrailingDash(name) : name);
export const nameIsDNSLabel: ValidateNameFunc = (name, prefix) => isDNS1123Label(prefix ? maskTrailingDash(name) : name);
export const nameIsDNS1035Label: ValidateNameFunc = (name, prefix) => isDNS1035Label(prefix ? maskTrailingDash(name) : name);
export const validateNamespaceName: ValidateNameFunc = nameIsDNSLabel;

export function validateNonnegativeField(value: number, path: FieldPath): FieldError[] {
  return value < 0 ? [invalid(path, value, IS_NEGATIVE_ERROR_MSG)] : [];
}

/** A label key. The error path is the labels map itself, not the entry (as upstream). */
export function validateLabelName(key: string, path: FieldPath): FieldError[] {
  return isQualifiedName(key).map((msg) => invalid(path, key, msg));
}

export function validateLabels(labels: Record<string, string> | null | undefined, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  for (const [k, v] of Object.entries(labels ?? {})) {
    errs.push(...validateLabelName(k, path));
    errs.push(...isValidLabelValue(v).map((msg) => invalid(path, v, msg)));
  }
  return errs;
}

export function annotationsSizeBytes(annotations: Record<string, string> | null | undefined): number {
  let total = 0;
  for (const [k, v] of Object.entries(annotations ?? {})) total += byteLength(k) + byteLength(v);
  return total;
}

/** Annotation keys are qualified names compared case-insensitively; values are free, but bounded in total. */
export function validateAnnotations(annotations: Record<string, string> | null | undefined, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  for (const k of Object.keys(annotations ?? {})) {
    errs.push(...isQualifiedName(k.toLowerCase()).map((msg) => invalid(path, k, msg)));
  }
  if (annotationsSizeBytes(annotations) > TOTAL_ANNOTATION_SIZE_LIMIT_BYTES) {
    errs.push(tooLong(path, TOTAL_ANNOTATION_SIZE_LIMIT_BYTES));
  }
  return errs;
}

/** schema.ParseGroupVersion: '' and '/' are empty, 'v1' is core, 'apps/v1' grouped, more slashes fail. */
function parseGroupVersion(apiVersion: string): { group: string; version: string } | null {
  if (apiVersion === '' || apiVersion === '/') return { group: '', version: '' };
  const parts = apiVersion.split('/');
  if (parts.length === 1) return { group: '', version: apiVersion };
  if (parts.length === 2) return { group: parts[0]!, version: parts[1]! };
  return null;
}

/** The reference as Go would marshal it: declaration order, omitempty pointers dropped. */
function ownerReferenceJson(ref: OwnerReference): Record<string, unknown> {
  const out: Record<string, unknown> = { apiVersion: ref.apiVersion ?? '', kind: ref.kind ?? '', name: ref.name ?? '', uid: ref.uid ?? '' };
  if (ref.controller !== undefined && ref.controller !== null) out['controller'] = ref.controller;
  if (ref.blockOwnerDeletion !== undefined && ref.blockOwnerDeletion !== null) out['blockOwnerDeletion'] = ref.blockOwnerDeletion;
  return out;
}

function validateOwnerReference(ref: OwnerReference, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  const gv = parseGroupVersion(ref.apiVersion ?? '') ?? { group: '', version: '' };
  const kind = ref.kind ?? '';
  if (gv.version === '') errs.push(invalid(path.child('apiVersion'), ref.apiVersion ?? '', 'version must not be empty'));
  if (kind === '') errs.push(invalid(path.child('kind'), kind, 'must not be empty'));
  if ((ref.name ?? '') === '') errs.push(invalid(path.child('name'), ref.name ?? '', 'must not be empty'));
  if ((ref.uid ?? '') === '') errs.push(invalid(path.child('uid'), ref.uid ?? '', 'must not be empty'));
  // Events are garbage themselves; owning anything through one would be a trap.
  if (gv.group === '' && gv.version === 'v1' && kind === 'Event') {
    errs.push(invalid(path, ownerReferenceJson(ref), `/v1, Kind=Event is disallowed from being an owner`));
  }
  return errs;
}

/** Each reference names its owner fully; at most one reference is the controller. */
export function validateOwnerReferences(refs: readonly OwnerReference[] | null | undefined, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  let firstController = '';
  for (const ref of refs ?? []) {
    errs.push(...validateOwnerReference(ref, path));
    if (ref.controller !== true) continue;
    const current = `${ref.kind ?? ''}/${ref.name ?? ''}`;
    if (firstController === '') {
      firstController = current;
      continue;
    }
    const detail = `Only one reference can have Controller set to true. Found "true" in references for ${firstController} and ${current}`;
    errs.push(invalid(path, (refs ?? []).map(ownerReferenceJson), detail));
  }
  return errs;
}

export function validateFinalizers(finalizers: readonly string[] | null | undefined, path: FieldPath): FieldError[] {
  const list = finalizers ?? [];
  const errs = list.flatMap((f) => isQualifiedName(f).map((msg) => invalid(path, f, msg)));
  if (list.includes(FINALIZER_ORPHAN_DEPENDENTS) && list.includes(FINALIZER_DELETE_DEPENDENTS)) {
    const detail = `finalizer ${FINALIZER_ORPHAN_DEPENDENTS} and ${FINALIZER_DELETE_DEPENDENTS} cannot be both set`;
    errs.push(invalid(path, list, detail));
  }
  return errs;
}

export interface ObjectMetaOptions {
  /** The kind lives in a namespace (then one is required) or is cluster-scoped (then none is allowed). */
  readonly namespaced: boolean;
  /** The name format of the kind, e.g. nameIsDNSSubdomain. */
  readonly nameFn: ValidateNameFunc;
}

function validateNames(meta: ObjectMeta, nameFn: ValidateNameFunc, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  const generateName = meta.generateName ?? '';
  if (generateName !== '') {
    errs.push(...nameFn(generateName, true).map((msg) => invalid(path.child('generateName'), generateName, msg)));
  }
  const name = meta.name ?? '';
  if (name === '') errs.push(required(path.child('name'), 'name or generateName is required'));
  else errs.push(...nameFn(name, false).map((msg) => invalid(path.child('name'), name, msg)));
  return errs;
}

function validateNamespace(meta: ObjectMeta, namespaced: boolean, path: FieldPath): FieldError[] {
  const ns = meta.namespace ?? '';
  if (!namespaced) return ns === '' ? [] : [forbidden(path.child('namespace'), 'not allowed on this type')];
  if (ns === '') return [required(path.child('namespace'))];
  return validateNamespaceName(ns, false).map((msg) => invalid(path.child('namespace'), ns, msg));
}

/**
 * Metadata of an object being created. Name generation must already have
 * happened: a generateName alone is checked for its own format, and `name`
 * is still required.
 */
export function validateObjectMeta(meta: ObjectMeta, opts: ObjectMetaOptions, path: FieldPath = FieldPath.root('metadata')): FieldError[] {
  return [
    ...validateNames(meta, opts.nameFn, path),
    ...validateNamespace(meta, opts.namespaced, path),
    ...validateNonnegativeField(meta.generation ?? 0, path.child('generation')),
    ...validateLabels(meta.labels, path.child('labels')),
    ...validateAnnotations(meta.annotations, path.child('annotations')),
    ...validateOwnerReferences(meta.ownerReferences, path.child('ownerReferences')),
    ...validateFinalizers(meta.finalizers, path.child('finalizers')),
  ];
}

/** Structural equality of JSON-like values (Go's DeepEqual on decoded API data). */
function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

export function validateImmutableField(newValue: unknown, oldValue: unknown, path: FieldPath): FieldError[] {
  return deepEqual(newValue, oldValue) ? [] : [invalid(path, newValue, FIELD_IMMUTABLE_ERROR_MSG)];
}

/** Go's `%#v` of a []string, which upstream prints in one message. */
function goStringSlice(list: readonly string[]): string {
  return `[]string{${list.map(goQuote).join(', ')}}`;
}

/** Once deletion has started, finalizers may only be removed. */
export function validateNoNewFinalizers(newFinalizers: readonly string[], oldFinalizers: readonly string[], path: FieldPath): FieldError[] {
  const old = new Set(oldFinalizers);
  const extra = [...new Set(newFinalizers.filter((f) => !old.has(f)))].sort(compareGoStrings);
  if (extra.length === 0) return [];
  return [forbidden(path, `no new finalizers can be added if the object is being deleted, found new finalizers ${goStringSlice(extra)}`)];
}

function immutables(n: ObjectMeta, o: ObjectMeta, path: FieldPath): FieldError[] {
  return [
    ...validateImmutableField(n.name ?? '', o.name ?? '', path.child('name')),
    ...validateImmutableField(n.namespace ?? '', o.namespace ?? '', path.child('namespace')),
    ...validateImmutableField(n.uid ?? '', o.uid ?? '', path.child('uid')),
    ...validateImmutableField(n.creationTimestamp ?? null, o.creationTimestamp ?? null, path.child('creationTimestamp')),
    ...validateImmutableField(n.deletionTimestamp ?? null, o.deletionTimestamp ?? null, path.child('deletionTimestamp')),
    ...validateImmutableField(n.deletionGracePeriodSeconds ?? null, o.deletionGracePeriodSeconds ?? null, path.child('deletionGracePeriodSeconds')),
  ];
}

/** Metadata of an update: identity fields frozen, a resourceVersion given, generation not going back. */
export function validateObjectMetaUpdate(newMeta: ObjectMeta, oldMeta: ObjectMeta, path: FieldPath = FieldPath.root('metadata')): FieldError[] {
  const errs: FieldError[] = [];
  if ((oldMeta.deletionTimestamp ?? null) !== null) {
    errs.push(...validateNoNewFinalizers(newMeta.finalizers ?? [], oldMeta.finalizers ?? [], path.child('finalizers')));
  }
  const rv = newMeta.resourceVersion ?? '';
  if (rv === '') errs.push(invalid(path.child('resourceVersion'), rv, 'must be specified for an update'));
  const generation = newMeta.generation ?? 0;
  if (generation < (oldMeta.generation ?? 0)) errs.push(invalid(path.child('generation'), generation, 'must not be decremented'));
  return [
    ...errs,
    ...immutables(newMeta, oldMeta, path),
    ...validateLabels(newMeta.labels, path.child('labels')),
    ...validateAnnotations(newMeta.annotations, path.child('annotations')),
    ...validateOwnerReferences(newMeta.ownerReferences, path.child('ownerReferences')),
  ];
}
