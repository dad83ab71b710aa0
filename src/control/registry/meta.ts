/**
 * The metadata rules every kind shares (upstream's ValidateObjectMeta and
 * ValidateObjectMetaUpdate), with each kind's name format.
 */
import type { ObjectMeta } from '../apiserver/object-store.js';
import type { ResourceInfo } from './resources.js';
import { type FieldError, nameIsDNS1035Label, nameIsDNSSubdomain, validateNamespaceName, validateObjectMeta, validateObjectMetaUpdate, type ValidateNameFunc } from './validation/index.js';

/**
 * Names that only have to be safe as one URL path segment (upstream's
 * ValidatePathSegmentName): RBAC objects are named like `system:node` or
 * `system:aggregate-to-admin`.
 */
const nameIsPathSegment: ValidateNameFunc = (name, prefix) => {
  const errs: string[] = [];
  if (!prefix && (name === '.' || name === '..')) errs.push(`may not be '${name}'`);
  for (const bad of ['/', '%']) if (name.includes(bad)) errs.push(`may not contain '${bad}'`);
  return errs;
};

/** Kinds whose names follow another rule than a DNS subdomain. */
const NAME_FORMATS: Record<string, ValidateNameFunc> = {
  namespaces: validateNamespaceName,
  services: nameIsDNS1035Label,
  roles: nameIsPathSegment,
  rolebindings: nameIsPathSegment,
  clusterroles: nameIsPathSegment,
  clusterrolebindings: nameIsPathSegment,
};

export function validateMeta(r: ResourceInfo, m: ObjectMeta): FieldError[] {
  return validateObjectMeta(m as never, { namespaced: r.namespaced, nameFn: NAME_FORMATS[r.resource] ?? nameIsDNSSubdomain });
}

export function validateMetaUpdate(r: ResourceInfo, m: ObjectMeta, old: ObjectMeta): FieldError[] {
  return [...validateMeta(r, m), ...validateObjectMetaUpdate(m as never, old as never)];
}
