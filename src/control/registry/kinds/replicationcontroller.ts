/**
 * ReplicationControllers (v1): the equality-based ancestor of ReplicaSets.
 * Its selector and its own labels default to the template's labels, so a
 * minimal RC needs only a labelled template; the selector must then be
 * non-empty and match the template, whose pods restart always.
 */
import type { KubeObject } from '../../apiserver/object-store.js';
import { selectorFromSet } from '../../apiserver/selectors/index.js';
import { registerStrategy } from '../strategy.js';
import { FieldPath, type FieldError, required } from '../validation/index.js';
import { ensureSpec, isObject, objAt, objOf, setDefault, strMapAt } from './fields.js';
import { defaultPodTemplate } from './pod.js';
import { validateReplicaSetTemplate } from './replicaset.js';
import { nonNegativeAt } from './workload.js';

const isEmptyMap = (v: unknown) => !isObject(v) || Object.keys(v).length === 0;

function defaultReplicationController(rc: KubeObject): void {
  const spec = ensureSpec(rc);
  if (!spec) return;
  const template = objOf(spec, 'template');
  const labels = objOf(objOf(template ?? {}, 'metadata') ?? {}, 'labels');
  if (labels) {
    if (isEmptyMap(spec.selector)) spec.selector = { ...labels };
    if (isEmptyMap(rc.metadata.labels)) rc.metadata.labels = { ...(labels as Record<string, string>) };
  }
  setDefault(spec, 'replicas', 1);
  defaultPodTemplate(template);
}

/** Upstream's ValidateReplicationControllerSpec. */
function validateReplicationController(rc: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const path = FieldPath.root('spec');
  const spec = objAt(rc, 'spec', path, errs) ?? {};
  nonNegativeAt(spec, 'minReadySeconds', path.child('minReadySeconds'), errs);
  const selector = strMapAt(spec, 'selector', path.child('selector'), errs) ?? {};
  if (Object.keys(selector).length === 0) errs.push(required(path.child('selector'), ''));
  nonNegativeAt(spec, 'replicas', path.child('replicas'), errs);
  const template = objAt(spec, 'template', path.child('template'), errs);
  if (template === undefined) errs.push(required(path.child('template'), ''));
  else if (template !== null) errs.push(...validateReplicaSetTemplate(template, selectorFromSet(selector), path.child('template'), 'ReplicationController'));
  return errs;
}

registerStrategy('v1/ReplicationController', {
  default: defaultReplicationController,
  validate: validateReplicationController,
});
