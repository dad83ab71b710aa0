/**
 * Deployments (apps/v1): one replica, a 25%/25% rolling update, ten old
 * ReplicaSets kept, ten minutes to make progress; a non-empty selector that
 * matches the template and never changes; a pod template that restarts
 * always.
 */
import type { KubeObject } from '../../apiserver/object-store.js';
import { registerStrategy } from '../strategy.js';
import { FieldPath, type FieldError, forbidden, invalid, notSupported, required } from '../validation/index.js';
import { ensureObj, ensureSpec, type Json, objAt, setDefault, setDefaultStr, strAt } from './fields.js';
import { defaultPodTemplate } from './pod.js';
import {
  checkSelector,
  intOrPercentValue,
  nonNegativeAt,
  templateAt,
  validateNotMoreThan100Percent,
  validatePositiveIntOrPercent,
  validateSelectorImmutable,
} from './workload.js';
import { validateReplicaSetTemplate } from './replicaset.js';

export const DEFAULT_MAX_SURGE = '25%';
export const DEFAULT_MAX_UNAVAILABLE = '25%';
export const DEFAULT_REVISION_HISTORY_LIMIT = 10;
export const DEFAULT_PROGRESS_DEADLINE_SECONDS = 600;

function defaultDeployment(d: KubeObject): void {
  const spec = ensureSpec(d);
  if (!spec) return;
  setDefault(spec, 'replicas', 1);
  const strategy = ensureObj(spec, 'strategy');
  if (strategy) {
    setDefaultStr(strategy, 'type', 'RollingUpdate');
    const rolling = strategy.type === 'RollingUpdate' ? ensureObj(strategy, 'rollingUpdate') : undefined;
    if (rolling) {
      setDefault(rolling, 'maxUnavailable', DEFAULT_MAX_UNAVAILABLE);
      setDefault(rolling, 'maxSurge', DEFAULT_MAX_SURGE);
    }
  }
  setDefault(spec, 'revisionHistoryLimit', DEFAULT_REVISION_HISTORY_LIMIT);
  setDefault(spec, 'progressDeadlineSeconds', DEFAULT_PROGRESS_DEADLINE_SECONDS);
  defaultPodTemplate(ensureObj(spec, 'template'));
}

function validateRollingUpdate(rolling: Json, path: FieldPath): FieldError[] {
  const errs = [
    ...validatePositiveIntOrPercent(rolling.maxUnavailable, path.child('maxUnavailable')),
    ...validatePositiveIntOrPercent(rolling.maxSurge, path.child('maxSurge')),
  ];
  // Neither extra pods nor missing ones: a rollout could never make a step.
  if (intOrPercentValue(rolling.maxUnavailable) === 0 && intOrPercentValue(rolling.maxSurge) === 0) {
    errs.push(invalid(path.child('maxUnavailable'), rolling.maxUnavailable ?? null, 'may not be 0 when `maxSurge` is 0'));
  }
  errs.push(...validateNotMoreThan100Percent(rolling.maxUnavailable, path.child('maxUnavailable')));
  return errs;
}

function validateStrategy(spec: Json, path: FieldPath, errs: FieldError[]): void {
  const strategy = objAt(spec, 'strategy', path, errs) ?? {};
  const type = strAt(strategy, 'type', path.child('type'), errs);
  const rolling = objAt(strategy, 'rollingUpdate', path.child('rollingUpdate'), errs);
  if (type === 'Recreate') {
    if (rolling) errs.push(forbidden(path.child('rollingUpdate'), "may not be specified when strategy `type` is 'Recreate'"));
  } else if (type === 'RollingUpdate') {
    if (!rolling) errs.push(required(path.child('rollingUpdate'), 'this should be defaulted and never be nil'));
    else errs.push(...validateRollingUpdate(rolling, path.child('rollingUpdate')));
  } else if (type !== null) {
    // Upstream reports the whole strategy here, not its type.
    errs.push(notSupported(path, strategy, ['Recreate', 'RollingUpdate']));
  }
}

function validateDeadlines(spec: Json, path: FieldPath, errs: FieldError[]): void {
  nonNegativeAt(spec, 'minReadySeconds', path.child('minReadySeconds'), errs);
  nonNegativeAt(spec, 'revisionHistoryLimit', path.child('revisionHistoryLimit'), errs);
  const deadlinePath = path.child('progressDeadlineSeconds');
  nonNegativeAt(spec, 'progressDeadlineSeconds', deadlinePath, errs);
  const deadline = spec.progressDeadlineSeconds;
  const minReady = typeof spec.minReadySeconds === 'number' ? spec.minReadySeconds : 0;
  if (typeof deadline === 'number' && deadline <= minReady) errs.push(invalid(deadlinePath, deadline, 'must be greater than minReadySeconds'));
}

/** Upstream's ValidateDeploymentSpec. */
function validateDeployment(d: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const path = FieldPath.root('spec');
  const spec = objAt(d, 'spec', path, errs) ?? {};
  nonNegativeAt(spec, 'replicas', path.child('replicas'), errs);
  const sel = checkSelector(spec, path.child('selector'), errs);
  if (!sel.present) errs.push(required(path.child('selector'), ''));
  else if (sel.empty) errs.push(invalid(path.child('selector'), spec.selector, 'empty selector is invalid for deployment'));
  const template = templateAt(spec, path.child('template'), errs);
  if (sel.selector === null) errs.push(invalid(path.child('selector'), spec.selector, 'invalid label selector'));
  else errs.push(...validateReplicaSetTemplate(template, sel.selector, path.child('template'), 'ReplicaSet'));
  validateStrategy(spec, path.child('strategy'), errs);
  validateDeadlines(spec, path, errs);
  return errs;
}

registerStrategy('apps/v1/Deployment', {
  default: defaultDeployment,
  validate: validateDeployment,
  validateUpdate: validateSelectorImmutable,
});
