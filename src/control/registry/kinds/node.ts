/**
 * Nodes (v1, cluster-scoped): registered by their kubelet with a status.
 * Defaults are few: an empty spec, allocatable equal to capacity until the
 * kubelet says otherwise, and podCIDR/podCIDRs kept in step (the v1 API has
 * both). Validation covers pod CIDRs (valid, one per family, unique), taints
 * and resource quantities. Pod CIDRs and the provider ID may be set once,
 * never changed.
 */
import type { KubeObject } from '../../apiserver/object-store.js';
import { registerStrategy } from '../strategy.js';
import { duplicate, FieldPath, type FieldError, forbidden, invalid, isValidCIDR } from '../validation/index.js';
import { arrAt, ensureSpec, type Json, objAt, objOf, sortedKeys, strOf } from './fields.js';
import { validateTaints } from './pod.js';
import { canonicalizeResourceList, quantityAt, validateQuantityValue } from './resource-lists.js';

const CIDR_CHANGE_FORBIDDEN = 'node updates may not change podCIDR except from "" to valid';
const PROVIDER_ID_CHANGE_FORBIDDEN = 'node updates may not change providerID except from "" to valid';

function defaultNode(node: KubeObject): void {
  const spec = ensureSpec(node);
  if (spec) {
    const single = strOf(spec, 'podCIDR');
    const list = spec.podCIDRs;
    if (single !== '' && (list === undefined || list === null || (Array.isArray(list) && list.length === 0))) spec.podCIDRs = [single];
    else if (single === '' && Array.isArray(list) && typeof list[0] === 'string') spec.podCIDR = list[0];
  }
  const status = objOf(node, 'status');
  if (!status) return;
  canonicalizeResourceList(status.capacity);
  canonicalizeResourceList(status.allocatable);
  if ((status.allocatable === undefined || status.allocatable === null) && objOf(status, 'capacity')) status.allocatable = { ...objOf(status, 'capacity') };
}

function validatePodCIDRs(spec: Json, errs: FieldError[]): void {
  const path = FieldPath.root('spec', 'podCIDRs');
  const cidrs = (arrAt(spec, 'podCIDRs', path, errs) ?? []).map(String);
  cidrs.forEach((c, i) => errs.push(...isValidCIDR(path.index(i), c)));
  if (cidrs.length < 2) return;
  const families = new Set(cidrs.map((c) => c.includes(':')));
  if (families.size !== 2 || cidrs.length > 2) errs.push(invalid(path, cidrs, 'may specify no more than one CIDR for each IP family'));
  cidrs.forEach((c, i) => {
    if (cidrs.indexOf(c) < i) errs.push(duplicate(path.index(i), c));
  });
}

/** Capacity and allocatable: well-formed, non-negative. Upstream names them `status.capacity.<name>`. */
function validateNodeResources(node: KubeObject, errs: FieldError[]): void {
  const status = objOf(node, 'status') ?? {};
  for (const field of ['capacity', 'allocatable'] as const) {
    const list = objAt(status, field, FieldPath.root('status', field), errs);
    if (!list) continue;
    for (const name of sortedKeys(list)) {
      const path = FieldPath.root('status', field, name);
      const q = quantityAt(list[name], path, errs);
      if (q) errs.push(...validateQuantityValue(name, q, path));
    }
  }
}

function validateNode(node: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const spec = objAt(node, 'spec', FieldPath.root('spec'), errs) ?? {};
  // Upstream reports taints under `metadata.taints`; clients match on that path.
  const taints = arrAt(spec, 'taints', FieldPath.root('spec', 'taints'), errs);
  if (taints && taints.length > 0) errs.push(...validateTaints(taints, FieldPath.root('metadata', 'taints')));
  validateNodeResources(node, errs);
  validatePodCIDRs(spec, errs);
  return errs;
}

function validateNodeUpdate(node: KubeObject, old: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const spec = objOf(node, 'spec') ?? {};
  const oldSpec = objOf(old, 'spec') ?? {};
  const before = Array.isArray(oldSpec.podCIDRs) ? oldSpec.podCIDRs : [];
  const now = Array.isArray(spec.podCIDRs) ? spec.podCIDRs : [];
  // The node IPAM controller may assign CIDRs once; changing them would strand running pods.
  if (before.length > 0) {
    if (before.length !== now.length) errs.push(forbidden(FieldPath.root('spec', 'podCIDRs'), CIDR_CHANGE_FORBIDDEN));
    else before.forEach((c, i) => c !== now[i] && errs.push(forbidden(FieldPath.root('spec', 'podCIDRs'), CIDR_CHANGE_FORBIDDEN)));
  }
  const providerID = strOf(oldSpec, 'providerID');
  if (providerID !== '' && providerID !== strOf(spec, 'providerID')) errs.push(forbidden(FieldPath.root('spec', 'providerID'), PROVIDER_ID_CHANGE_FORBIDDEN));
  return errs;
}

registerStrategy('v1/Node', {
  default: defaultNode,
  validate: validateNode,
  validateUpdate: validateNodeUpdate,
});
