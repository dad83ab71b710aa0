/**
 * RBAC (rbac.authorization.k8s.io/v1, light): rules that say which verbs on
 * what, and bindings that name exactly one role and whom it applies to.
 * A binding's roleRef never changes: granting different permissions under
 * the same binding name would slip past anyone auditing bindings, so
 * upstream demands delete-and-recreate. roleRef.apiGroup and subjects'
 * apiGroup default as upstream's defaulting does.
 */
import type { KubeObject } from '../../apiserver/object-store.js';
import { registerStrategy } from '../strategy.js';
import { FieldPath, type FieldError, invalid, isDNS1123Subdomain, notSupported, required } from '../validation/index.js';
import { arrAt, deepEqual, type Json, objAt, objectsIn, objectsOf, objOf, setDefaultStr, strAt } from './fields.js';
import { checkLabelSelector } from './workload.js';

export const RBAC_GROUP = 'rbac.authorization.k8s.io';
const SUBJECT_KINDS = ['ServiceAccount', 'User', 'Group'];

/** Upstream's ValidatePathSegmentName: role names are path segments, so ':' is fine but '/' is not. */
export function pathSegmentNameErrors(name: string): string[] {
  if (name === '.' || name === '..') return [`may not be '${name}'`];
  const errs: string[] = [];
  for (const bad of ['/', '%']) if (name.includes(bad)) errs.push(`may not contain '${bad}'`);
  return errs;
}

// ---- roles ----

function validateRule(rule: Json, path: FieldPath, namespaced: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const list = (key: string) => arrAt(rule, key, path.child(key), errs) ?? [];
  const [verbs, groups, resources, names, urls] = ['verbs', 'apiGroups', 'resources', 'resourceNames', 'nonResourceURLs'].map(list) as unknown[][];
  if (verbs!.length === 0) errs.push(required(path.child('verbs'), 'verbs must contain at least one value'));
  if (urls!.length > 0) {
    if (namespaced) errs.push(invalid(path.child('nonResourceURLs'), urls, 'namespaced rules cannot apply to non-resource URLs'));
    if (groups!.length > 0 || resources!.length > 0 || names!.length > 0) {
      errs.push(invalid(path.child('nonResourceURLs'), urls, 'rules cannot apply to both regular resources and non-resource URLs'));
    }
    return errs;
  }
  if (groups!.length === 0) errs.push(required(path.child('apiGroups'), 'resource rules must supply at least one api group'));
  if (resources!.length === 0) errs.push(required(path.child('resources'), 'resource rules must supply at least one resource'));
  return errs;
}

function validateRules(obj: KubeObject, namespaced: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const path = FieldPath.root('rules');
  for (const [rule, i] of objectsIn(arrAt(obj, 'rules', path, errs) ?? [], path, errs)) errs.push(...validateRule(rule, path.index(i), namespaced));
  return errs;
}

/** An aggregated ClusterRole gathers the rules of the roles its selectors match. */
function validateAggregationRule(role: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const rule = objAt(role, 'aggregationRule', FieldPath.root('aggregationRule'), errs);
  if (!rule) return errs;
  const path = FieldPath.root('aggregationRule', 'clusterRoleSelectors');
  const selectors = arrAt(rule, 'clusterRoleSelectors', path, errs) ?? [];
  if (selectors.length === 0) errs.push(required(path, 'at least one clusterRoleSelector required if aggregationRule is non-nil'));
  for (const [sel, i] of objectsIn(selectors, path, errs)) {
    if (checkLabelSelector(sel, path.index(i), errs).selector === null) errs.push(invalid(path.index(i), sel, 'invalid label selector.'));
  }
  return errs;
}

// ---- bindings ----

function defaultBinding(binding: KubeObject): void {
  const ref = objOf(binding, 'roleRef');
  if (ref) setDefaultStr(ref, 'apiGroup', RBAC_GROUP);
  for (const subject of objectsOf(binding, 'subjects')) {
    if (subject.kind === 'User' || subject.kind === 'Group') setDefaultStr(subject, 'apiGroup', RBAC_GROUP);
  }
}

function validateRoleRef(binding: KubeObject, kinds: readonly string[], errs: FieldError[]): void {
  const path = FieldPath.root('roleRef');
  const ref = objAt(binding, 'roleRef', path, errs) ?? {};
  const group = strAt(ref, 'apiGroup', path.child('apiGroup'), errs);
  if (group !== null && group !== RBAC_GROUP) errs.push(notSupported(path.child('apiGroup'), group, [RBAC_GROUP]));
  const kind = strAt(ref, 'kind', path.child('kind'), errs);
  if (kind !== null && !kinds.includes(kind)) errs.push(notSupported(path.child('kind'), kind, kinds));
  const name = strAt(ref, 'name', path.child('name'), errs);
  if (name === '') errs.push(required(path.child('name'), ''));
  else if (name !== null) errs.push(...pathSegmentNameErrors(name).map((m) => invalid(path.child('name'), name, m)));
}

function validateSubject(subject: Json, path: FieldPath, namespaced: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const name = strAt(subject, 'name', path.child('name'), errs) ?? '';
  if (name === '') errs.push(required(path.child('name'), ''));
  const group = strAt(subject, 'apiGroup', path.child('apiGroup'), errs) ?? '';
  const kind = strAt(subject, 'kind', path.child('kind'), errs) ?? '';
  if (kind === 'ServiceAccount') {
    if (name !== '') errs.push(...isDNS1123Subdomain(name).map((m) => invalid(path.child('name'), name, m)));
    if (group !== '') errs.push(notSupported(path.child('apiGroup'), group, ['']));
    // A cluster-wide binding cannot guess which namespace the account is in.
    if (!namespaced && !subject.namespace) errs.push(required(path.child('namespace'), ''));
  } else if (kind === 'User' || kind === 'Group') {
    if (group !== RBAC_GROUP) errs.push(notSupported(path.child('apiGroup'), group, [RBAC_GROUP]));
  } else {
    errs.push(notSupported(path.child('kind'), kind, SUBJECT_KINDS));
  }
  return errs;
}

function validateBinding(binding: KubeObject, namespaced: boolean): FieldError[] {
  const errs: FieldError[] = [];
  validateRoleRef(binding, namespaced ? ['Role', 'ClusterRole'] : ['ClusterRole'], errs);
  const path = FieldPath.root('subjects');
  for (const [s, i] of objectsIn(arrAt(binding, 'subjects', path, errs) ?? [], path, errs)) errs.push(...validateSubject(s, path.index(i), namespaced));
  return errs;
}

function validateRoleRefUnchanged(binding: KubeObject, old: KubeObject): FieldError[] {
  return deepEqual(binding.roleRef ?? null, old.roleRef ?? null) ? [] : [invalid(FieldPath.root('roleRef'), binding.roleRef ?? null, 'cannot change roleRef')];
}

registerStrategy('rbac.authorization.k8s.io/v1/Role', { validate: (r) => validateRules(r, true) });
registerStrategy('rbac.authorization.k8s.io/v1/ClusterRole', { validate: (r) => [...validateRules(r, false), ...validateAggregationRule(r)] });
registerStrategy('rbac.authorization.k8s.io/v1/RoleBinding', {
  default: defaultBinding,
  validate: (b) => validateBinding(b, true),
  validateUpdate: validateRoleRefUnchanged,
});
registerStrategy('rbac.authorization.k8s.io/v1/ClusterRoleBinding', {
  default: defaultBinding,
  validate: (b) => validateBinding(b, false),
  validateUpdate: validateRoleRefUnchanged,
});
