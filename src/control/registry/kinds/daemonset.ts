/**
 * DaemonSets (apps/v1): a rolling update one node at a time (maxUnavailable
 * 1, maxSurge 0), ten old revisions kept; a selector that matches the
 * template and never changes; pods that restart always. A rolling update
 * either surges or leaves nodes short, never both and never neither.
 */
import type { KubeObject } from '../../apiserver/object-store.js';
import { registerStrategy } from '../strategy.js';
import { FieldPath, type FieldError, invalid, notSupported, required } from '../validation/index.js';
import { ensureObj, ensureSpec, type Json, objAt, setDefault, setDefaultStr, strAt } from './fields.js';
import { defaultPodTemplate, validatePodTemplate } from './pod.js';
import { validateAlwaysRestartingTemplate } from './replicaset.js';
import {
  checkSelector,
  intOrPercentValue,
  nonNegativeAt,
  templateAt,
  validateNotMoreThan100Percent,
  validatePositiveIntOrPercent,
  validateSelectorImmutable,
  validateSelectorMatchesTemplate,
} from './workload.js';

export const DEFAULT_DAEMONSET_MAX_UNAVAILABLE = 1;
export const DEFAULT_DAEMONSET_MAX_SURGE = 0;
const DEFAULT_REVISION_HISTORY_LIMIT = 10;

function defaultDaemonSet(ds: KubeObject): void {
  const spec = ensureSpec(ds);
  if (!spec) return;
  const strategy = ensureObj(spec, 'updateStrategy');
  if (strategy) {
    setDefaultStr(strategy, 'type', 'RollingUpdate');
    const rolling = strategy.type === 'RollingUpdate' ? ensureObj(strategy, 'rollingUpdate') : undefined;
    if (rolling) {
      setDefault(rolling, 'maxUnavailable', DEFAULT_DAEMONSET_MAX_UNAVAILABLE);
      setDefault(rolling, 'maxSurge', DEFAULT_DAEMONSET_MAX_SURGE);
    }
  }
  setDefault(spec, 'revisionHistoryLimit', DEFAULT_REVISION_HISTORY_LIMIT);
  defaultPodTemplate(ensureObj(spec, 'template'));
}

function validateRollingUpdate(rolling: Json, path: FieldPath): FieldError[] {
  const { maxUnavailable, maxSurge } = rolling;
  const errs = [
    ...validatePositiveIntOrPercent(maxUnavailable, path.child('maxUnavailable')),
    ...validatePositiveIntOrPercent(maxSurge, path.child('maxSurge')),
    ...validateNotMoreThan100Percent(maxUnavailable, path.child('maxUnavailable')),
    ...validateNotMoreThan100Percent(maxSurge, path.child('maxSurge')),
  ];
  const unavailable = intOrPercentValue(maxUnavailable) !== 0;
  const surge = intOrPercentValue(maxSurge) !== 0;
  if (unavailable && surge) errs.push(invalid(path.child('maxSurge'), maxSurge, 'may not be set when maxUnavailable is non-zero'));
  if (!unavailable && !surge) errs.push(required(path.child('maxUnavailable'), 'cannot be 0 when maxSurge is 0'));
  return errs;
}

function validateUpdateStrategy(spec: Json, path: FieldPath, errs: FieldError[]): void {
  const strategy = objAt(spec, 'updateStrategy', path, errs) ?? {};
  const type = strAt(strategy, 'type', path.child('type'), errs);
  if (type === 'OnDelete' || type === null) return;
  if (type !== 'RollingUpdate') return void errs.push(notSupported(path, strategy, ['RollingUpdate', 'OnDelete']));
  const rolling = objAt(strategy, 'rollingUpdate', path.child('rollingUpdate'), errs);
  if (!rolling) errs.push(required(path.child('rollingUpdate'), ''));
  else errs.push(...validateRollingUpdate(rolling, path.child('rollingUpdate')));
}

/** Upstream's ValidateDaemonSetSpec. */
function validateDaemonSet(ds: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const path = FieldPath.root('spec');
  const spec = objAt(ds, 'spec', path, errs) ?? {};
  const sel = checkSelector(spec, path.child('selector'), errs);
  const template = templateAt(spec, path.child('template'), errs);
  if (sel.selector !== null) errs.push(...validateSelectorMatchesTemplate(sel.selector, template, path.child('template')));
  if (sel.present && sel.empty) errs.push(invalid(path.child('selector'), spec.selector, 'empty selector is invalid for daemonset'));
  errs.push(...validatePodTemplate(template, path.child('template')));
  errs.push(...validateAlwaysRestartingTemplate(template, path.child('template'), 'DaemonSet'));
  nonNegativeAt(spec, 'minReadySeconds', path.child('minReadySeconds'), errs);
  validateUpdateStrategy(spec, path.child('updateStrategy'), errs);
  nonNegativeAt(spec, 'revisionHistoryLimit', path.child('revisionHistoryLimit'), errs);
  return errs;
}

registerStrategy('apps/v1/DaemonSet', {
  default: defaultDaemonSet,
  validate: validateDaemonSet,
  validateUpdate: validateSelectorImmutable,
});
