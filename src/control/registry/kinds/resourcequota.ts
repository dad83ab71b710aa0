/**
 * ResourceQuotas (v1): hard limits per resource name (standard names or
 * domain-qualified ones, counts whole), in canonical quantities; scopes
 * from the known set, not contradicting each other, and fixed once set (a
 * quota that changed what it counts would have a meaningless `used`).
 */
import type { KubeObject } from '../../apiserver/object-store.js';
import { registerStrategy } from '../strategy.js';
import { FieldPath, FIELD_IMMUTABLE_ERROR_MSG, type FieldError, invalid } from '../validation/index.js';
import { arrAt, type Json, objAt, objOf } from './fields.js';
import { canonicalizeResourceList, validateQuotaResourceName, validateResourceList } from './resource-lists.js';

const SCOPES = ['Terminating', 'NotTerminating', 'BestEffort', 'NotBestEffort', 'PriorityClass', 'CrossNamespacePodAffinity', 'VolumeAttributesClass'];
const CONFLICTING_SCOPES: readonly [string, string][] = [
  ['BestEffort', 'NotBestEffort'],
  ['Terminating', 'NotTerminating'],
];

function defaultResourceQuota(quota: KubeObject): void {
  const spec = objOf(quota, 'spec');
  if (spec) canonicalizeResourceList(spec.hard);
}

function validateScopes(spec: Json, path: FieldPath, errs: FieldError[]): void {
  const scopes = (arrAt(spec, 'scopes', path, errs) ?? []).map(String);
  if (scopes.length === 0) return;
  if (scopes.some((s) => !SCOPES.includes(s))) errs.push(invalid(path, scopes, 'unsupported scope'));
  for (const [a, b] of CONFLICTING_SCOPES) if (scopes.includes(a) && scopes.includes(b)) errs.push(invalid(path, scopes, 'conflicting scopes'));
}

function validateResourceQuota(quota: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const path = FieldPath.root('spec');
  const spec = objAt(quota, 'spec', path, errs) ?? {};
  const hard = objAt(spec, 'hard', path.child('hard'), errs);
  if (hard) validateResourceList(hard, path.child('hard'), validateQuotaResourceName, errs);
  validateScopes(spec, path.child('scopes'), errs);
  return errs;
}

function validateResourceQuotaUpdate(quota: KubeObject, old: KubeObject): FieldError[] {
  const scopes = (s: unknown) => new Set(Array.isArray(s) ? s.map(String) : []);
  const now = scopes(objOf(quota, 'spec')?.scopes);
  const before = scopes(objOf(old, 'spec')?.scopes);
  const same = now.size === before.size && [...now].every((s) => before.has(s));
  return same ? [] : [invalid(FieldPath.root('spec', 'scopes'), objOf(quota, 'spec')?.scopes ?? null, FIELD_IMMUTABLE_ERROR_MSG)];
}

registerStrategy('v1/ResourceQuota', {
  default: defaultResourceQuota,
  validate: validateResourceQuota,
  validateUpdate: validateResourceQuotaUpdate,
});
