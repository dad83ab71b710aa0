/**
 * Leases (coordination.k8s.io/v1): leader election and node heartbeats.
 * A lease that lasts no time, or a negative count of holder changes, is a
 * client bug; a preferred holder only means something under a strategy.
 */
import type { KubeObject } from '../../apiserver/object-store.js';
import { registerStrategy } from '../strategy.js';
import { FieldPath, type FieldError, forbidden, invalid } from '../validation/index.js';
import { intAt, objAt, strAt } from './fields.js';

function validateLease(lease: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const path = FieldPath.root('spec');
  const spec = objAt(lease, 'spec', path, errs) ?? {};
  const duration = intAt(spec, 'leaseDurationSeconds', path.child('leaseDurationSeconds'), errs);
  if (typeof duration === 'number' && duration <= 0) errs.push(invalid(path.child('leaseDurationSeconds'), duration, 'must be greater than 0'));
  const transitions = intAt(spec, 'leaseTransitions', path.child('leaseTransitions'), errs);
  if (typeof transitions === 'number' && transitions < 0) errs.push(invalid(path.child('leaseTransitions'), transitions, 'must be greater than or equal to 0'));
  strAt(spec, 'holderIdentity', path.child('holderIdentity'), errs);
  const strategy = strAt(spec, 'strategy', path.child('strategy'), errs);
  const preferred = strAt(spec, 'preferredHolder', path.child('preferredHolder'), errs);
  if (preferred && !strategy) errs.push(forbidden(path.child('preferredHolder'), 'may only be specified if `strategy` is defined'));
  return errs;
}

registerStrategy('coordination.k8s.io/v1/Lease', {
  validate: validateLease,
});
