/**
 * Jobs (batch/v1): one pod to one completion unless told otherwise, six
 * retries, NonIndexed, not suspended, replacement once pods are terminating
 * or failed. Unless `manualSelector` is true the selector is generated from
 * the Job's uid (and the uid and name stamped on the template), so a Job can
 * never adopt another's pods; validation then insists the generated labels
 * are intact. The template must not restart Always (a Job's pods finish),
 * and is frozen once created, except scheduling directives while the Job is
 * suspended and has never started.
 */
import type { KubeObject } from '../../apiserver/object-store.js';
import { registerStrategy } from '../strategy.js';
import { clone } from '../../apiserver/objects.js';
import {
  FieldPath,
  type FieldError,
  invalid,
  isDNS1123Label,
  notSupported,
  required,
} from '../validation/index.js';
import { deepEqual, ensureObj, ensureSpec, immutable, type Json, MAX_INT32, objAt, objectsOf, objOf, setDefault, sortedMap, strAt } from './fields.js';
import { defaultPodTemplate, validatePodTemplate } from './pod.js';
import { checkSelector, nonNegativeAt, templateAt, templateLabels, validateSelectorMatchesTemplate } from './workload.js';

export const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name';
export const CONTROLLER_UID_LABEL = 'batch.kubernetes.io/controller-uid';
export const LEGACY_JOB_NAME_LABEL = 'job-name';
export const LEGACY_CONTROLLER_UID_LABEL = 'controller-uid';
export const DEFAULT_BACKOFF_LIMIT = 6;
/** Indexed Jobs above this parallelism would make status.completedIndexes unbounded. */
const INDEXED_PARALLELISM_MAX = 100000;

// ---- create and defaults ----

/**
 * Stamps the template with the Job's name and uid (legacy and prefixed
 * labels) and selects on the uid. Labels the user already set are kept:
 * if they conflict, validation says so.
 */
export function generateSelector(job: KubeObject): void {
  const spec = ensureSpec(job);
  const template = spec && ensureObj(spec, 'template');
  const metadata = template && ensureObj(template, 'metadata');
  const labels = metadata && ensureObj(metadata, 'labels');
  if (!spec || !labels) return;
  const name = job.metadata.name ?? '';
  const uid = job.metadata.uid ?? '';
  for (const [key, value] of [
    [LEGACY_JOB_NAME_LABEL, name],
    [JOB_NAME_LABEL, name],
    [LEGACY_CONTROLLER_UID_LABEL, uid],
    [CONTROLLER_UID_LABEL, uid],
  ] as const) {
    if (!(key in labels)) labels[key] = value;
  }
  const selector = ensureObj(spec, 'selector');
  const matchLabels = selector && ensureObj(selector, 'matchLabels');
  if (matchLabels && !(CONTROLLER_UID_LABEL in matchLabels)) matchLabels[CONTROLLER_UID_LABEL] = uid;
}

function defaultCounts(spec: Json): void {
  // A non-parallel Job may leave both unset; with only parallelism set, completions stay unset (a work queue).
  if ((spec.completions === undefined || spec.completions === null) && (spec.parallelism === undefined || spec.parallelism === null)) {
    spec.completions = 1;
  }
  setDefault(spec, 'parallelism', 1);
  const perIndex = spec.backoffLimitPerIndex !== undefined && spec.backoffLimitPerIndex !== null;
  setDefault(spec, 'backoffLimit', perIndex ? MAX_INT32 : DEFAULT_BACKOFF_LIMIT);
}

function defaultJob(job: KubeObject): void {
  const spec = ensureSpec(job);
  if (!spec) return;
  defaultCounts(spec);
  const labels = objOf(objOf(objOf(spec, 'template') ?? {}, 'metadata') ?? {}, 'labels');
  const own = job.metadata.labels;
  if (labels && (!own || Object.keys(own).length === 0)) job.metadata.labels = { ...(labels as Record<string, string>) };
  setDefault(spec, 'completionMode', 'NonIndexed');
  setDefault(spec, 'suspend', false);
  const failurePolicy = objOf(spec, 'podFailurePolicy');
  for (const rule of failurePolicy ? objectsOf(failurePolicy, 'rules') : []) {
    for (const pattern of objectsOf(rule, 'onPodConditions')) setDefault(pattern, 'status', 'True');
  }
  setDefault(spec, 'podReplacementPolicy', failurePolicy ? 'Failed' : 'TerminatingOrFailed');
  setDefault(spec, 'manualSelector', false);
  defaultPodTemplate(ensureObj(spec, 'template'));
}

// ---- validation ----

/** Upstream's ValidateHasLabel: the generated label is there, with its value. */
function validateHasLabel(labels: Record<string, string>, path: FieldPath, key: string, expected: string): FieldError[] {
  if (!(key in labels)) return [required(path.child('labels').key(key), `must be '${expected}'`)];
  return labels[key] === expected ? [] : [invalid(path.child('labels').key(key), sortedMap(labels), `must be '${expected}'`)];
}

/** A generated selector must still be the one generated, over labels still carrying the uid and name. */
function validateGeneratedSelector(job: KubeObject, spec: Json): FieldError[] {
  if (spec.manualSelector === true || !spec.selector) return [];
  const errs: FieldError[] = [];
  const uid = job.metadata.uid ?? '';
  const name = job.metadata.name ?? '';
  if (uid === '') errs.push(required(FieldPath.root('metadata', 'uid'), ''));
  const path = FieldPath.root('spec', 'template', 'metadata');
  const labels = templateLabels(objOf(spec, 'template') ?? {});
  errs.push(...validateHasLabel(labels, path, LEGACY_CONTROLLER_UID_LABEL, uid));
  errs.push(...validateHasLabel(labels, path, LEGACY_JOB_NAME_LABEL, name));
  errs.push(...validateHasLabel(labels, path, CONTROLLER_UID_LABEL, uid));
  errs.push(...validateHasLabel(labels, path, JOB_NAME_LABEL, name));
  const expected = { [CONTROLLER_UID_LABEL]: uid, [JOB_NAME_LABEL]: name, [LEGACY_CONTROLLER_UID_LABEL]: uid, [LEGACY_JOB_NAME_LABEL]: name };
  const sel = checkSelector(spec, FieldPath.root('spec', 'selector'), []);
  if (sel.selector && !sel.selector.matches(expected)) errs.push(invalid(FieldPath.root('spec', 'selector'), spec.selector, '`selector` not auto-generated'));
  return errs;
}

function validateCounts(spec: Json, path: FieldPath, errs: FieldError[]): void {
  for (const key of ['parallelism', 'completions', 'activeDeadlineSeconds', 'backoffLimit', 'ttlSecondsAfterFinished', 'backoffLimitPerIndex', 'maxFailedIndexes'] as const) {
    nonNegativeAt(spec, key, path.child(key), errs);
  }
  if (spec.maxFailedIndexes !== undefined && spec.maxFailedIndexes !== null && (spec.backoffLimitPerIndex === undefined || spec.backoffLimitPerIndex === null)) {
    errs.push(required(path.child('backoffLimitPerIndex'), 'when maxFailedIndexes is specified'));
  }
}

function validateCompletionMode(spec: Json, path: FieldPath, errs: FieldError[]): void {
  const mode = strAt(spec, 'completionMode', path.child('completionMode'), errs);
  if (mode === null) return;
  if (spec.completionMode !== undefined && mode !== 'NonIndexed' && mode !== 'Indexed') {
    errs.push(notSupported(path.child('completionMode'), mode, ['NonIndexed', 'Indexed']));
  }
  if (mode === 'Indexed') {
    if (spec.completions === undefined || spec.completions === null) errs.push(required(path.child('completions'), 'when completion mode is Indexed'));
    if (typeof spec.parallelism === 'number' && spec.parallelism > INDEXED_PARALLELISM_MAX) {
      errs.push(invalid(path.child('parallelism'), spec.parallelism, `must be less than or equal to ${INDEXED_PARALLELISM_MAX} when completion mode is Indexed`));
    }
    return;
  }
  for (const key of ['backoffLimitPerIndex', 'maxFailedIndexes'] as const) {
    if (spec[key] !== undefined && spec[key] !== null) errs.push(invalid(path.child(key), spec[key], 'requires indexed completion mode'));
  }
}

function validateReplacementPolicy(spec: Json, path: FieldPath, errs: FieldError[]): void {
  const policy = strAt(spec, 'podReplacementPolicy', path.child('podReplacementPolicy'), errs);
  if (policy === null || spec.podReplacementPolicy === undefined) return;
  // With a pod failure policy, a pod only counts once it has failed for good.
  if (spec.podFailurePolicy) {
    if (policy !== 'Failed') errs.push(notSupported(path.child('podReplacementPolicy'), policy, ['Failed']));
  } else if (policy !== 'Failed' && policy !== 'TerminatingOrFailed') {
    errs.push(notSupported(path.child('podReplacementPolicy'), policy, ['Failed', 'TerminatingOrFailed']));
  }
}

/** A Job's pods run to completion: Never or OnFailure, and only Never with a pod failure policy. */
function validateRestartPolicy(template: Json, spec: Json, path: FieldPath, errs: FieldError[]): void {
  const podSpec = objOf(template, 'spec') ?? {};
  const restart = typeof podSpec.restartPolicy === 'string' ? podSpec.restartPolicy : '';
  if (restart === 'Always' || restart === '') errs.push(required(path, 'valid values: "OnFailure", "Never"'));
  else if (restart !== 'OnFailure' && restart !== 'Never') errs.push(notSupported(path, restart, ['OnFailure', 'Never']));
  else if (spec.podFailurePolicy && restart !== 'Never') errs.push(invalid(path, restart, 'only "Never" is supported when podFailurePolicy is specified'));
}

/** Upstream's ValidateJob (generated selector, spec, the pod host names of an Indexed Job). */
function validateJob(job: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const path = FieldPath.root('spec');
  const spec = objAt(job, 'spec', path, errs) ?? {};
  errs.push(...validateGeneratedSelector(job, spec));
  validateCounts(spec, path, errs);
  validateCompletionMode(spec, path, errs);
  validateReplacementPolicy(spec, path, errs);
  const template = templateAt(spec, path.child('template'), errs);
  errs.push(...validatePodTemplate(template, path.child('template')));
  validateRestartPolicy(template, spec, path.child('template', 'spec', 'restartPolicy'), errs);
  const sel = checkSelector(spec, path.child('selector'), errs);
  if (!sel.present) errs.push(required(path.child('selector'), ''));
  if (sel.selector) errs.push(...validateSelectorMatchesTemplate(sel.selector, template, path.child('template')));
  const name = job.metadata.name ?? '';
  if (spec.completionMode === 'Indexed' && typeof spec.completions === 'number' && spec.completions > 0) {
    // Pods are named `<job>-<index>`: the longest must still be a DNS label.
    const host = `${name}-${spec.completions - 1}`;
    if (isDNS1123Label(host).length > 0) errs.push(invalid(FieldPath.root('metadata', 'name'), name, `will not able to create pod with invalid DNS label: ${host}`));
  }
  return errs;
}

/** What a suspended Job that never started may still change: where its pods will go. */
function schedulingDirectivesFrom(template: Json, into: Json): Json {
  const out = clone(into);
  const spec = ensureObj(out, 'spec') ?? {};
  const from = objOf(template, 'spec') ?? {};
  for (const key of ['nodeSelector', 'tolerations', 'schedulingGates'] as const) spec[key] = from[key];
  const affinity = objOf(from, 'affinity');
  const oldAffinity = objOf(spec, 'affinity');
  if (affinity || oldAffinity) spec.affinity = { ...(oldAffinity ?? {}), nodeAffinity: affinity?.nodeAffinity };
  if (oldAffinity && !affinity && Object.keys(oldAffinity).every((k) => k === 'nodeAffinity')) delete spec.affinity;
  const metadata = ensureObj(out, 'metadata') ?? {};
  const fromMeta = objOf(template, 'metadata') ?? {};
  metadata.labels = fromMeta.labels;
  metadata.annotations = fromMeta.annotations;
  return out;
}

function validateCompletionsUpdate(spec: Json, old: Json, path: FieldPath): FieldError[] {
  if (spec.completionMode !== 'Indexed') return immutable(spec.completions ?? null, old.completions ?? null, path);
  if (deepEqual(spec.completions, old.completions) || spec.completions === undefined || spec.completions === null) return [];
  // Elastic Indexed Jobs scale by moving both together.
  return spec.completions === spec.parallelism ? [] : [invalid(path, spec.completions, 'can only be modified in tandem with spec.parallelism')];
}

/** Upstream's ValidateJobSpecUpdate (the spec itself was validated already). */
function validateJobUpdate(job: KubeObject, old: KubeObject): FieldError[] {
  const spec = objOf(job, 'spec') ?? {};
  const oldSpec = objOf(old, 'spec') ?? {};
  const path = FieldPath.root('spec');
  const errs = validateCompletionsUpdate(spec, oldSpec, path.child('completions'));
  errs.push(...immutable(spec.selector ?? null, oldSpec.selector ?? null, path.child('selector')));
  const template = objOf(spec, 'template') ?? {};
  let oldTemplate = objOf(oldSpec, 'template') ?? {};
  const neverStarted = !objOf(old, 'status')?.startTime;
  if (oldSpec.suspend === true && neverStarted) oldTemplate = schedulingDirectivesFrom(template, oldTemplate);
  errs.push(...immutable(template, oldTemplate, path.child('template')));
  for (const key of ['completionMode', 'podFailurePolicy', 'backoffLimitPerIndex', 'managedBy', 'successPolicy'] as const) {
    errs.push(...immutable(spec[key] ?? null, oldSpec[key] ?? null, path.child(key)));
  }
  return errs;
}

registerStrategy('batch/v1/Job', {
  prepareForCreate(job: KubeObject) {
    const spec = ensureSpec(job);
    if (spec && spec.manualSelector !== true) generateSelector(job);
  },
  default: defaultJob,
  validate: validateJob,
  validateUpdate: validateJobUpdate,
});
