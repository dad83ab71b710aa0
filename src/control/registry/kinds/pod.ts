/**
 * Pods: the PodSpec defaults and validation every workload shares, plus
 * what only a Pod gets: requests defaulted from limits, service links, host
 * ports under host networking, the defaults kube-apiserver's admission
 * plugins add (the `default` service account on create; priority and the
 * not-ready/unreachable tolerations on every write), the initial status
 * (Pending, QoS class), and the update rule that freezes almost all of a
 * running pod's spec.
 *
 * The PodSpec helpers are re-exported from here for the workload kinds.
 */
import { FieldPath, type FieldError, forbidden, invalid, inclusiveRangeError, required } from '../validation/index.js';
import { registerStrategy } from '../strategy.js';
import type { KubeObject } from '../../apiserver/object-store.js';
import { clone } from '../../apiserver/objects.js';
import { deepEqual, ensureObj, ensureSpec, isObject, type Json, MAX_INT32, objAt, objectsOf, objOf, setDefault, setDefaultStr, strOf } from './fields.js';
import { addQuantities, compareQuantities, type Quantity, quantityOf } from './quantity.js';
import { quantitiesOf } from './resource-lists.js';
import { defaultPodSpec } from './pod-spec-defaults.js';
import { validatePodSpec } from './pod-spec-validation.js';

export { defaultClaimSpec, defaultPodSpec, defaultPodTemplate } from './pod-spec-defaults.js';
export { oneOf, RESTART_POLICIES, validatePodSpec, validatePodTemplate, validatePortNumOrName, validateTaints, validateTolerations } from './pod-spec-validation.js';

export type QOSClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

export const DEFAULT_SERVICE_ACCOUNT_NAME = 'default';
const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';
/** How long a pod stays bound to a node that stopped answering (DefaultTolerationSeconds admission). */
export const DEFAULT_NOT_READY_TOLERATION_SECONDS = 300;
const NOT_READY_TAINT = 'node.kubernetes.io/not-ready';
const UNREACHABLE_TAINT = 'node.kubernetes.io/unreachable';
const UPDATABLE_POD_SPEC_FIELDS = [
  '`spec.containers[*].image`',
  '`spec.initContainers[*].image`',
  '`spec.activeDeadlineSeconds`',
  '`spec.tolerations` (only additions to existing tolerations)',
  '`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
];
export const POD_UPDATE_FORBIDDEN = `pod updates may not change fields other than ${UPDATABLE_POD_SPEC_FIELDS.join(',')}`;

// ---- defaults ----

/** Requests default to limits, per resource, in pods only (templates keep what the user wrote). */
function defaultRequestsFromLimits(c: Json): void {
  const resources = objOf(c, 'resources');
  const limits = resources && objOf(resources, 'limits');
  if (!resources || !limits || Object.keys(limits).length === 0) return;
  const requests = ensureObj(resources, 'requests');
  if (!requests) return;
  // Only well-formed limits are copied: a malformed one is reported once, where it was written.
  for (const [name, q] of Object.entries(limits)) if (!(name in requests) && quantityOf(q) !== null) requests[name] = q;
}

/** With host networking a container port is a host port; say so in the spec. */
function defaultHostNetworkPorts(spec: Json): void {
  if (spec.hostNetwork !== true) return;
  for (const list of ['containers', 'initContainers'] as const) {
    for (const c of objectsOf(spec, list)) {
      for (const port of objectsOf(c, 'ports')) if (!port.hostPort) port.hostPort = port.containerPort;
    }
  }
}

/** Upstream's SetDefaults_Pod plus the PodSpec defaults. */
export function defaultPod(pod: Json): void {
  const spec = ensureSpec(pod);
  if (!spec) return;
  for (const list of ['containers', 'initContainers'] as const) for (const c of objectsOf(spec, list)) defaultRequestsFromLimits(c);
  setDefault(spec, 'enableServiceLinks', true);
  defaultHostNetworkPorts(spec);
  defaultPodSpec(spec);
}

function toleration(key: string): Json {
  return { key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: DEFAULT_NOT_READY_TOLERATION_SECONDS };
}

/** Whether a toleration covers a NoExecute taint with this key. */
function tolerates(t: Json, key: string): boolean {
  const k = strOf(t, 'key');
  const effect = strOf(t, 'effect');
  return (k === key || k === '') && (effect === 'NoExecute' || effect === '');
}

/** The ServiceAccount admission plugin's default, on create only (static pods excepted). */
function defaultServiceAccount(pod: Json, spec: Json): void {
  const mirror = isObject(pod.metadata) && isObject(pod.metadata.annotations) && MIRROR_POD_ANNOTATION in pod.metadata.annotations;
  if (mirror || strOf(spec, 'serviceAccountName') !== '') return;
  spec.serviceAccountName = DEFAULT_SERVICE_ACCOUNT_NAME;
  spec.serviceAccount = DEFAULT_SERVICE_ACCOUNT_NAME;
}

/**
 * What kube-apiserver's Priority and DefaultTolerationSeconds admission
 * plugins add on every write: priority 0 and PreemptLowerPriority when no
 * class is named (classes are not resolved here), and five minutes on a
 * not-ready or unreachable node before eviction. Both run on updates too
 * upstream, so a client that drops them gets them back instead of an error.
 * Kept apart so they can move to an admission chain.
 */
export function admitPod(pod: Json): void {
  const spec = objOf(pod, 'spec');
  if (!spec) return;
  if (strOf(spec, 'priorityClassName') === '') {
    setDefault(spec, 'priority', 0);
    setDefault(spec, 'preemptionPolicy', 'PreemptLowerPriority');
  }
  if (spec.tolerations !== undefined && spec.tolerations !== null && !Array.isArray(spec.tolerations)) return;
  const tolerations = Array.isArray(spec.tolerations) ? spec.tolerations.filter(isObject) : [];
  const added = [NOT_READY_TAINT, UNREACHABLE_TAINT].filter((key) => !tolerations.some((t) => tolerates(t, key))).map(toleration);
  if (added.length > 0) spec.tolerations = [...(spec.tolerations ?? []), ...added];
}

// ---- status ----

/** Only these resources decide the QoS class. */
const QOS_RESOURCES = new Set(['cpu', 'memory']);

function addTo(sums: Map<string, Quantity>, name: string, q: Quantity): void {
  const prev = sums.get(name);
  sums.set(name, prev ? addQuantities(prev, q) : q);
}

/**
 * The QoS class as the kubelet will treat the pod (upstream's ComputePodQOS):
 * BestEffort without any cpu/memory request or limit, Guaranteed when every
 * container limits both and requests equal limits, Burstable otherwise.
 */
export function podQOSClass(spec: Json): QOSClass {
  const requests = new Map<string, Quantity>();
  const limits = new Map<string, Quantity>();
  let guaranteed = true;
  const zero: Quantity = { unscaled: 0n, exponent: 0, format: 'DecimalSI' };
  for (const c of [...objectsOf(spec, 'initContainers'), ...objectsOf(spec, 'containers')]) {
    const resources = objOf(c, 'resources');
    for (const [name, q] of quantitiesOf(resources?.requests)) {
      if (QOS_RESOURCES.has(name) && compareQuantities(q, zero) > 0) addTo(requests, name, q);
    }
    const limited = new Set<string>();
    for (const [name, q] of quantitiesOf(resources?.limits)) {
      if (!QOS_RESOURCES.has(name) || compareQuantities(q, zero) <= 0) continue;
      limited.add(name);
      addTo(limits, name, q);
    }
    if (!limited.has('cpu') || !limited.has('memory')) guaranteed = false;
  }
  if (requests.size === 0 && limits.size === 0) return 'BestEffort';
  for (const [name, req] of requests) {
    const limit = limits.get(name);
    if (!limit || compareQuantities(limit, req) !== 0) guaranteed = false;
  }
  return guaranteed && requests.size === limits.size ? 'Guaranteed' : 'Burstable';
}

/** Pending, with the QoS class, and the SchedulingGated condition for a gated pod. */
function initialStatus(pod: Json, spec: Json): void {
  const status = ensureObj(pod, 'status');
  if (!status) return;
  setDefaultStr(status, 'phase', 'Pending');
  status.qosClass = podQOSClass(spec);
  const gated = Array.isArray(spec.schedulingGates) && spec.schedulingGates.length > 0;
  if (!gated) return;
  const conditions = Array.isArray(status.conditions) ? status.conditions.filter((c) => !(isObject(c) && c.type === 'PodScheduled')) : [];
  conditions.push({
    type: 'PodScheduled',
    status: 'False',
    lastProbeTime: null,
    lastTransitionTime: null,
    reason: 'SchedulingGated',
    message: 'Scheduling is blocked due to non-empty scheduling gates',
  });
  status.conditions = conditions;
}

// ---- validation ----

function validatePod(pod: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const specPath = FieldPath.root('spec');
  const spec = objAt(pod, 'spec', specPath, errs) ?? {};
  errs.push(...validatePodSpec(spec, specPath, { isPod: true }));
  const gated = Array.isArray(spec.schedulingGates) && spec.schedulingGates.length > 0;
  if (strOf(spec, 'nodeName') !== '' && gated) errs.push(forbidden(specPath.child('nodeName'), 'cannot be set until all schedulingGates have been cleared'));
  const annotations = isObject(pod.metadata.annotations) ? pod.metadata.annotations : {};
  if (MIRROR_POD_ANNOTATION in annotations && strOf(spec, 'nodeName') === '') {
    const path = FieldPath.root('metadata', 'annotations').key(MIRROR_POD_ANNOTATION);
    errs.push(invalid(path, annotations[MIRROR_POD_ANNOTATION], 'must set spec.nodeName if mirror pod annotation is set'));
  }
  return errs;
}

/** Containers may not come or go, and keep an image. Second value: stop checking. */
function validateContainerUpdates(list: unknown, old: unknown, path: FieldPath): [FieldError[], boolean] {
  const now = Array.isArray(list) ? list : [];
  const before = Array.isArray(old) ? old : [];
  if (now.length !== before.length) return [[forbidden(path, 'pod updates may not add or remove containers')], true];
  const errs: FieldError[] = [];
  for (const [i, c] of now.entries()) {
    const image = isObject(c) && typeof c.image === 'string' ? c.image : '';
    if (image === '') errs.push(required(path.index(i).child('image'), ''));
    if (image.trim() !== image) errs.push(invalid(path.index(i).child('image'), image, 'must not have leading or trailing whitespace'));
  }
  return [errs, false];
}

/** Set once, then only lowered (never removed): the deadline can only come sooner. */
function validateDeadlineUpdate(spec: Json, old: Json, path: FieldPath): FieldError[] {
  const now = spec.activeDeadlineSeconds;
  const before = old.activeDeadlineSeconds;
  if (typeof now === 'number') {
    if (now < 0 || now > MAX_INT32) return [invalid(path, now, inclusiveRangeError(0, MAX_INT32))];
    if (typeof before === 'number' && before < now) return [invalid(path, now, 'must be less than or equal to previous value')];
    return [];
  }
  return typeof before === 'number' ? [invalid(path, now ?? null, 'must not update from a positive integer to nil value')] : [];
}

/** Existing tolerations may only change their tolerationSeconds. */
function validateOnlyAddedTolerations(spec: Json, old: Json, path: FieldPath): FieldError[] {
  const now = objectsOf(spec, 'tolerations');
  for (const t of objectsOf(old, 'tolerations')) {
    const found = now.some((n) => deepEqual({ ...t, tolerationSeconds: n.tolerationSeconds }, n));
    if (!found) return [forbidden(path, 'existing toleration can not be modified except its tolerationSeconds')];
  }
  return [];
}

/** Scheduling gates can only be removed, never added. */
function validateOnlyDeletedGates(spec: Json, old: Json, path: FieldPath): FieldError[] {
  const before = new Set(objectsOf(old, 'schedulingGates').map((g) => strOf(g, 'name')));
  const errs: FieldError[] = [];
  for (const [i, g] of (Array.isArray(spec.schedulingGates) ? spec.schedulingGates : []).entries()) {
    const name = isObject(g) ? strOf(g, 'name') : '';
    if (!before.has(name)) errs.push(forbidden(path.index(i).child('name'), `only deletion is allowed, but found new scheduling gate '${name}'`));
  }
  return errs;
}

/** The new spec with every field that may change put back to its old value. */
function mungedSpec(pod: KubeObject, old: KubeObject, spec: Json, oldSpec: Json): Json {
  const munged = clone(spec);
  for (const list of ['containers', 'initContainers'] as const) {
    const before = objectsOf(oldSpec, list);
    objectsOf(munged, list).forEach((c, i) => (c.image = before[i]?.image));
  }
  munged.activeDeadlineSeconds = oldSpec.activeDeadlineSeconds;
  munged.schedulingGates = oldSpec.schedulingGates;
  munged.tolerations = oldSpec.tolerations;
  const oldGrace = oldSpec.terminationGracePeriodSeconds;
  if (typeof oldGrace === 'number' && oldGrace < 0 && munged.terminationGracePeriodSeconds === 1) munged.terminationGracePeriodSeconds = oldGrace;
  // pods/binding assigns the node through a write that also carries status
  // (a user's update never can): that one assignment is the scheduler's.
  const binding = strOf(oldSpec, 'nodeName') === '' && !deepEqual(pod.status, old.status);
  if (binding) munged.nodeName = oldSpec.nodeName;
  return munged;
}

/** Upstream's ValidatePodUpdate, without the diff it appends to the message. */
export function validatePodUpdate(pod: KubeObject, old: KubeObject): FieldError[] {
  const spec = objOf(pod, 'spec') ?? {};
  const oldSpec = objOf(old, 'spec') ?? {};
  const specPath = FieldPath.root('spec');
  const errs: FieldError[] = [];
  for (const list of ['containers', 'initContainers'] as const) {
    const [e, stop] = validateContainerUpdates(spec[list], oldSpec[list], specPath.child(list));
    errs.push(...e);
    if (stop) return errs;
  }
  const deadline = validateDeadlineUpdate(spec, oldSpec, specPath.child('activeDeadlineSeconds'));
  if (deadline.length > 0) return [...errs, ...deadline];
  errs.push(...validateOnlyAddedTolerations(spec, oldSpec, specPath.child('tolerations')));
  errs.push(...validateOnlyDeletedGates(spec, oldSpec, specPath.child('schedulingGates')));
  if (deepEqual(spec, oldSpec)) return errs;
  if (!deepEqual(mungedSpec(pod, old, spec, oldSpec), oldSpec)) errs.push(forbidden(specPath, POD_UPDATE_FORBIDDEN));
  return errs;
}

registerStrategy('v1/Pod', {
  prepareForUpdate(pod: KubeObject, old: KubeObject) {
    // The QoS class is fixed at creation: a status writer that leaves it out keeps it.
    const st = objOf(pod, 'status');
    const oldQos = objOf(old, 'status')?.qosClass;
    if (st && st.qosClass === undefined && oldQos !== undefined) st.qosClass = oldQos;
  },
  prepareForCreate(pod: KubeObject) {
    // The status reads the defaulted spec (requests from limits decide the QoS class).
    defaultPod(pod);
    const spec = objOf(pod, 'spec');
    if (!spec) return;
    defaultServiceAccount(pod, spec);
    initialStatus(pod, spec);
  },
  default(pod: KubeObject) {
    defaultPod(pod);
    admitPod(pod);
  },
  validate: validatePod,
  validateUpdate: validatePodUpdate,
});
