/**
 * StatefulSets (apps/v1): one replica, ordered pod management, a rolling
 * update from partition 0, claims retained when the set is deleted or
 * scaled, ten old revisions kept. Only replicas, ordinals, the template, the
 * update strategy, the history limit, the claim retention policy and
 * minReadySeconds may change: identity and storage (serviceName,
 * volumeClaimTemplates, selector) are fixed at creation.
 *
 * Upstream does not validate the pod spec of a StatefulSet's template (its
 * mounts may name claim templates, not volumes), and neither does this.
 */
import type { KubeObject } from '../../apiserver/object-store.js';
import { registerStrategy } from '../strategy.js';
import {
  FieldPath,
  type FieldError,
  forbidden,
  invalid,
  isDNS1123Label,
  isDNS1123Subdomain,
  notSupported,
  required,
  validateAnnotations,
  validateLabels,
} from '../validation/index.js';
import { clone } from '../../apiserver/objects.js';
import { arrAt, deepEqual, ensureObj, ensureSpec, type Json, objAt, objectsIn, objectsOf, objOf, setDefault, setDefaultStr, strAt, strMapAt } from './fields.js';
import { defaultClaimSpec, defaultPodTemplate } from './pod.js';
import { checkSelector, nonNegativeAt, templateAt, validatePositiveIntOrPercent, validateSelectorMatchesTemplate, intOrPercentValue, validateNotMoreThan100Percent } from './workload.js';

const DEFAULT_REVISION_HISTORY_LIMIT = 10;
const RETENTION_POLICIES = ['Retain', 'Delete'];
/** The spec fields an update may touch; everything else is the set's identity. */
const MUTABLE_FIELDS = ['replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy', 'minReadySeconds'] as const;
export const STATEFULSET_UPDATE_FORBIDDEN =
  "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";

function defaultUpdateStrategy(spec: Json): void {
  const strategy = ensureObj(spec, 'updateStrategy');
  if (!strategy) return;
  if (strategy.type === undefined || strategy.type === null || strategy.type === '') {
    strategy.type = 'RollingUpdate';
    setDefault(strategy, 'rollingUpdate', {});
  }
  const rolling = strategy.type === 'RollingUpdate' ? objOf(strategy, 'rollingUpdate') : undefined;
  if (rolling) setDefault(rolling, 'partition', 0);
}

/** Claim templates are PVCs: Filesystem mode, and the Pending phase their status starts in. */
function defaultClaimTemplates(spec: Json): void {
  for (const claim of objectsOf(spec, 'volumeClaimTemplates')) {
    const claimSpec = ensureObj(claim, 'spec');
    if (claimSpec) defaultClaimSpec(claimSpec);
    const status = ensureObj(claim, 'status');
    if (status) setDefaultStr(status, 'phase', 'Pending');
  }
}

function defaultStatefulSet(sts: KubeObject): void {
  const spec = ensureSpec(sts);
  if (!spec) return;
  setDefaultStr(spec, 'podManagementPolicy', 'OrderedReady');
  defaultUpdateStrategy(spec);
  const retention = ensureObj(spec, 'persistentVolumeClaimRetentionPolicy');
  if (retention) {
    setDefaultStr(retention, 'whenDeleted', 'Retain');
    setDefaultStr(retention, 'whenScaled', 'Retain');
  }
  setDefault(spec, 'replicas', 1);
  setDefault(spec, 'revisionHistoryLimit', DEFAULT_REVISION_HISTORY_LIMIT);
  defaultPodTemplate(ensureObj(spec, 'template'));
  defaultClaimTemplates(spec);
}

function validateRollingUpdate(rolling: Json, path: FieldPath, errs: FieldError[]): void {
  nonNegativeAt(rolling, 'partition', path.child('partition'), errs);
  if (rolling.maxUnavailable === undefined || rolling.maxUnavailable === null) return;
  errs.push(...validatePositiveIntOrPercent(rolling.maxUnavailable, path.child('maxUnavailable')));
  if (intOrPercentValue(rolling.maxUnavailable) === 0) errs.push(invalid(path.child('maxUnavailable'), rolling.maxUnavailable, 'cannot be 0'));
  errs.push(...validateNotMoreThan100Percent(rolling.maxUnavailable, path.child('maxUnavailable')));
}

function validateUpdateStrategy(spec: Json, path: FieldPath, errs: FieldError[]): void {
  const strategy = objAt(spec, 'updateStrategy', path, errs) ?? {};
  const type = strAt(strategy, 'type', path.child('type'), errs);
  const rolling = objAt(strategy, 'rollingUpdate', path.child('rollingUpdate'), errs);
  if (type === null) return;
  if (type === '') errs.push(required(path, ''));
  else if (type === 'OnDelete') {
    if (rolling) errs.push(invalid(path.child('rollingUpdate'), rolling, "only allowed for updateStrategy 'RollingUpdate'"));
  } else if (type === 'RollingUpdate') {
    if (rolling) validateRollingUpdate(rolling, path.child('rollingUpdate'), errs);
  } else {
    errs.push(invalid(path, strategy, "must be 'RollingUpdate' or 'OnDelete'"));
  }
}

function validatePolicies(spec: Json, path: FieldPath, errs: FieldError[]): void {
  const policy = strAt(spec, 'podManagementPolicy', path.child('podManagementPolicy'), errs);
  if (policy === '') errs.push(required(path.child('podManagementPolicy'), ''));
  else if (policy !== null && policy !== 'OrderedReady' && policy !== 'Parallel') {
    errs.push(invalid(path.child('podManagementPolicy'), policy, "must be 'OrderedReady' or 'Parallel'"));
  }
  validateUpdateStrategy(spec, path.child('updateStrategy'), errs);
  const retention = objAt(spec, 'persistentVolumeClaimRetentionPolicy', path.child('persistentVolumeClaimRetentionPolicy'), errs);
  for (const key of ['whenDeleted', 'whenScaled'] as const) {
    const p = path.child('persistentVolumeClaimRetentionPolicy', key);
    const value = retention ? strAt(retention, key, p, errs) : null;
    if (value !== null && !RETENTION_POLICIES.includes(value)) errs.push(notSupported(p, value, RETENTION_POLICIES));
  }
}

/** Only the template's metadata is checked, as upstream does for StatefulSets. */
function validateTemplateMetadata(template: Json, path: FieldPath, errs: FieldError[]): void {
  const metadata = objAt(template, 'metadata', path.child('metadata'), errs) ?? {};
  const labels = strMapAt(metadata, 'labels', path.child('labels'), errs);
  if (labels) errs.push(...validateLabels(labels, path.child('labels')));
  const annotations = strMapAt(metadata, 'annotations', path.child('annotations'), errs);
  if (annotations) errs.push(...validateAnnotations(annotations, path.child('annotations')));
}

function validateSelectorAndTemplate(spec: Json, path: FieldPath, errs: FieldError[]): void {
  const sel = checkSelector(spec, path.child('selector'), errs);
  if (!sel.present) errs.push(required(path.child('selector'), ''));
  else if (sel.empty) errs.push(invalid(path.child('selector'), spec.selector, 'empty selector is invalid for statefulset'));
  const template = templateAt(spec, path.child('template'), errs);
  if (sel.selector === null) errs.push(invalid(path.child('selector'), spec.selector, ''));
  else {
    if (!sel.selector.empty) errs.push(...validateSelectorMatchesTemplate(sel.selector, template, path.child('template')));
    validateTemplateMetadata(template, path.child('template'), errs);
  }
  const podSpec = objOf(template, 'spec') ?? {};
  const restart = typeof podSpec.restartPolicy === 'string' ? podSpec.restartPolicy : '';
  if (restart !== 'Always') errs.push(notSupported(path.child('template', 'spec', 'restartPolicy'), restart, ['Always']));
  if (podSpec.activeDeadlineSeconds !== undefined && podSpec.activeDeadlineSeconds !== null) {
    errs.push(forbidden(path.child('template', 'spec', 'activeDeadlineSeconds'), 'activeDeadlineSeconds in StatefulSet is not Supported'));
  }
}

/** Upstream's ValidateStatefulSetSpec. */
function validateStatefulSet(sts: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const name = sts.metadata.name ?? '';
  // Pod names are `<set>-<ordinal>` host names: the set's name must be a label, not just a subdomain.
  if (isDNS1123Subdomain(name).length === 0) errs.push(...isDNS1123Label(name).map((m) => invalid(FieldPath.root('metadata', 'name'), name, m)));
  const path = FieldPath.root('spec');
  const spec = objAt(sts, 'spec', path, errs) ?? {};
  validatePolicies(spec, path, errs);
  nonNegativeAt(spec, 'replicas', path.child('replicas'), errs);
  nonNegativeAt(spec, 'minReadySeconds', path.child('minReadySeconds'), errs);
  const ordinals = objAt(spec, 'ordinals', path.child('ordinals'), errs);
  if (ordinals) nonNegativeAt(ordinals, 'start', path.child('ordinals.start'), errs);
  const serviceName = strAt(spec, 'serviceName', path.child('serviceName'), errs);
  if (serviceName) errs.push(...isDNS1123Label(serviceName).map((m) => invalid(path.child('serviceName'), serviceName, m)));
  validateSelectorAndTemplate(spec, path, errs);
  const claims = arrAt(spec, 'volumeClaimTemplates', path.child('volumeClaimTemplates'), errs);
  if (claims) objectsIn(claims, path.child('volumeClaimTemplates'), errs);
  return errs;
}

/** Everything but the mutable fields must stay as it was. */
function validateStatefulSetUpdate(sts: KubeObject, old: KubeObject): FieldError[] {
  const spec = clone(objOf(sts, 'spec') ?? {});
  const oldSpec = objOf(old, 'spec') ?? {};
  for (const key of MUTABLE_FIELDS) spec[key] = oldSpec[key];
  return deepEqual(spec, oldSpec) ? [] : [forbidden(FieldPath.root('spec'), STATEFULSET_UPDATE_FORBIDDEN)];
}

registerStrategy('apps/v1/StatefulSet', {
  default: defaultStatefulSet,
  validate: validateStatefulSet,
  validateUpdate: validateStatefulSetUpdate,
});
