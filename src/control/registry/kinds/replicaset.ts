/**
 * ReplicaSets (apps/v1): one replica by default; a non-empty selector that
 * matches the template and never changes; a template whose pods restart
 * always and have no deadline (a replica that ends would only be replaced).
 * The template rule is shared with Deployments and ReplicationControllers.
 */
import type { KubeObject } from '../../apiserver/object-store.js';
import type { Selector } from '../../apiserver/selectors/index.js';
import { registerStrategy } from '../strategy.js';
import { FieldPath, type FieldError, forbidden, invalid, notSupported, required } from '../validation/index.js';
import { ensureObj, ensureSpec, type Json, objAt, objOf, setDefault } from './fields.js';
import { defaultPodTemplate, validatePodTemplate } from './pod.js';
import { checkSelector, nonNegativeAt, templateAt, validateSelectorImmutable, validateSelectorMatchesTemplate } from './workload.js';

/** Restart always, no deadline: what every replica-keeping controller needs of its pods. */
export function validateAlwaysRestartingTemplate(template: Json, path: FieldPath, kind: string): FieldError[] {
  const errs: FieldError[] = [];
  const spec = objOf(template, 'spec') ?? {};
  const restart = typeof spec.restartPolicy === 'string' ? spec.restartPolicy : '';
  // An empty policy is reported by the pod spec validation already.
  if (restart !== 'Always' && restart !== '') errs.push(notSupported(path.child('spec', 'restartPolicy'), restart, ['Always']));
  if (spec.activeDeadlineSeconds !== undefined && spec.activeDeadlineSeconds !== null) {
    errs.push(forbidden(path.child('spec', 'activeDeadlineSeconds'), `activeDeadlineSeconds in ${kind} is not Supported`));
  }
  return errs;
}

/** Upstream's ValidatePodTemplateSpecForReplicaSet: selector match, pod template, restart policy. */
export function validateReplicaSetTemplate(template: Json, selector: Selector, path: FieldPath, kind: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!selector.empty) errs.push(...validateSelectorMatchesTemplate(selector, template, path));
  errs.push(...validatePodTemplate(template, path));
  errs.push(...validateAlwaysRestartingTemplate(template, path, kind));
  return errs;
}

function defaultReplicaSet(rs: KubeObject): void {
  const spec = ensureSpec(rs);
  if (!spec) return;
  setDefault(spec, 'replicas', 1);
  defaultPodTemplate(ensureObj(spec, 'template'));
}

/** Upstream's ValidateReplicaSetSpec (its empty-selector message says "deployment", as upstream's does). */
function validateReplicaSet(rs: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const path = FieldPath.root('spec');
  const spec = objAt(rs, 'spec', path, errs) ?? {};
  nonNegativeAt(spec, 'replicas', path.child('replicas'), errs);
  nonNegativeAt(spec, 'minReadySeconds', path.child('minReadySeconds'), errs);
  const sel = checkSelector(spec, path.child('selector'), errs);
  if (!sel.present) errs.push(required(path.child('selector'), ''));
  else if (sel.empty) errs.push(invalid(path.child('selector'), spec.selector, 'empty selector is invalid for deployment'));
  const template = templateAt(spec, path.child('template'), errs);
  if (sel.selector === null) errs.push(invalid(path.child('selector'), spec.selector, 'invalid label selector'));
  else errs.push(...validateReplicaSetTemplate(template, sel.selector, path.child('template'), 'ReplicaSet'));
  return errs;
}

registerStrategy('apps/v1/ReplicaSet', {
  default: defaultReplicaSet,
  validate: validateReplicaSet,
  validateUpdate: validateSelectorImmutable,
});
