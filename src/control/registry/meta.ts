/**
 * The metadata rules every kind shares (upstream's ValidateObjectMeta and
 * ValidateObjectMetaUpdate), with each kind's name format.
 */
import type { ObjectMeta } from '../apiserver/object-store.js';
import type { ResourceInfo } from './resources.js';
import { type FieldError, nameIsDNS1035Label, nameIsDNSSubdomain, validateNamespaceName, validateObjectMeta, validateObjectMetaUpdate, type ValidateNameFunc } from './validation/index.js';

/** Kinds whose names are stricter than a DNS subdomain. */
const NAME_FORMATS: Record<string, ValidateNameFunc> = {
  namespaces: validateNamespaceName,
  services: nameIsDNS1035Label,
};

export function validateMeta(r: ResourceInfo, m: ObjectMeta): FieldError[] {
  return validateObjectMeta(m as never, { namespaced: r.namespaced, nameFn: NAME_FORMATS[r.resource] ?? nameIsDNSSubdomain });
}

export function validateMetaUpdate(r: ResourceInfo, m: ObjectMeta, old: ObjectMeta): FieldError[] {
  return [...validateMeta(r, m), ...validateObjectMetaUpdate(m as never, old as never)];
}
