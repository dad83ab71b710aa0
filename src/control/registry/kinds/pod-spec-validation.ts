/**
 * Validation of a PodSpec (and a PodTemplateSpec) with upstream's field
 * paths and messages (pkg/apis/core/validation ValidatePodSpec and the
 * functions it calls). Covered: containers (container-validation.ts),
 * volumes (names, one source, the common sources' required fields),
 * restart and DNS policies, node selector, tolerations, scheduling gates,
 * host network ports, names of accounts, nodes and classes. Not covered:
 * security contexts beyond their shape, affinity, topology spread, DNS
 * config details, resource claims, OS-specific rules.
 */
import {
  duplicate,
  type FieldError,
  type FieldPath,
  forbidden,
  inclusiveRangeError,
  invalid,
  isDNS1123Label,
  isDNS1123Subdomain,
  isQualifiedName,
  isValidLabelValue,
  notSupported,
  required,
  validateAnnotations,
  validateLabelName,
  validateLabels,
} from '../validation/index.js';
import { type ContainerContext, nameErrors, oneOf, type PodSpecOptions, validateContainers, validateInitContainers } from './container-validation.js';
import { arrAt, boolAt, intAt, isObject, type Json, MAX_INT32, objAt, objectsIn, strAt, strMapAt } from './fields.js';
import { VOLUME_SOURCES } from './pod-spec-defaults.js';

export { oneOf, type PodSpecOptions, validatePortNumOrName } from './container-validation.js';

export const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];
const DNS_POLICIES = ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'];
const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];
const TOLERATION_OPERATORS = ['Equal', 'Exists'];
const PREEMPTION_POLICIES = ['PreemptLowerPriority', 'Never'];
const FILE_MODE_MAX = 0o777;
const FILE_MODE_ERROR = 'must be a number between 0 and 0777 (octal), both inclusive';

// ---- volumes ----

function validateDefaultMode(source: Json, path: FieldPath, errs: FieldError[]): void {
  const mode = intAt(source, 'defaultMode', path.child('defaultMode'), errs);
  if (typeof mode === 'number' && (mode < 0 || mode > FILE_MODE_MAX)) errs.push(invalid(path.child('defaultMode'), mode, FILE_MODE_ERROR));
}

/** The fields each common source cannot do without. */
function validateVolumeSource(kind: string, source: Json, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  const requireString = (key: string) => {
    if (strAt(source, key, path.child(key), errs) === '') errs.push(required(path.child(key), ''));
  };
  switch (kind) {
    case 'hostPath':
      requireString('path');
      break;
    case 'secret':
      requireString('secretName');
      validateDefaultMode(source, path, errs);
      break;
    case 'configMap':
      requireString('name');
      validateDefaultMode(source, path, errs);
      break;
    case 'persistentVolumeClaim':
      requireString('claimName');
      break;
    case 'nfs':
      requireString('server');
      requireString('path');
      break;
    case 'downwardAPI':
    case 'projected':
      validateDefaultMode(source, path, errs);
      break;
  }
  return errs;
}

function validateVolume(v: Json, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  let count = 0;
  for (const kind of VOLUME_SOURCES) {
    const source = objAt(v, kind, path.child(kind), errs);
    if (!source) continue;
    // Upstream's own spelling of this path, typo included.
    const reported = kind === 'downwardAPI' ? 'downwarAPI' : kind;
    if (count > 0) errs.push(forbidden(path.child(reported), 'may not specify more than 1 volume type'));
    else errs.push(...validateVolumeSource(kind, source, path.child(kind)));
    count++;
  }
  if (count === 0) errs.push(required(path, 'must specify a volume type'));
  return errs;
}

/** Volume names must be unique DNS labels; returns the valid volumes by name for the mounts. */
function validateVolumes(list: unknown[], path: FieldPath, errs: FieldError[]): Map<string, Json> {
  const volumes = new Map<string, Json>();
  for (const [v, i] of objectsIn(list, path, errs)) {
    const p = path.index(i);
    const own = validateVolume(v, p);
    const name = strAt(v, 'name', p.child('name'), own);
    if (name === '') own.push(required(p.child('name'), ''));
    else if (name !== null) own.push(...nameErrors(name, p.child('name'), isDNS1123Label));
    if (name !== null && volumes.has(name)) own.push(duplicate(p.child('name'), name));
    if (own.length === 0 && name !== null) volumes.set(name, v);
    errs.push(...own);
  }
  return volumes;
}

// ---- scheduling ----

function validateTaintEffect(effect: string, allowEmpty: boolean, path: FieldPath): FieldError[] {
  if (!allowEmpty && effect === '') return [required(path, '')];
  return TAINT_EFFECTS.includes(effect) ? [] : [notSupported(path, effect, TAINT_EFFECTS)];
}

/** Taints (on nodes): key, value, effect, unique per key and effect. */
export function validateTaints(list: unknown[], path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  for (const [t, i] of objectsIn(list, path, errs)) {
    const p = path.index(i);
    const key = strAt(t, 'key', p.child('key'), errs);
    if (key !== null) errs.push(...validateLabelName(key, p.child('key')));
    const value = strAt(t, 'value', p.child('value'), errs);
    const valueErrs = value === null ? [] : isValidLabelValue(value);
    if (valueErrs.length > 0) errs.push(invalid(p.child('value'), value, valueErrs.join(';')));
    const effect = strAt(t, 'effect', p.child('effect'), errs);
    if (effect !== null) errs.push(...validateTaintEffect(effect, false, p.child('effect')));
    const id = `${effect ?? ''}\u0000${key ?? ''}`;
    if (seen.has(id)) errs.push({ ...duplicate(p, t), detail: 'taints must be unique by key and effect pair' });
    seen.add(id);
  }
  return errs;
}

function validateToleration(t: Json, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  const key = strAt(t, 'key', path.child('key'), errs) ?? '';
  const operator = strAt(t, 'operator', path.child('operator'), errs) ?? '';
  const value = strAt(t, 'value', path.child('value'), errs) ?? '';
  const effect = strAt(t, 'effect', path.child('effect'), errs) ?? '';
  const seconds = intAt(t, 'tolerationSeconds', path.child('tolerationSeconds'), errs);
  if (key !== '') errs.push(...validateLabelName(key, path.child('key')));
  if (key === '' && operator !== 'Exists') {
    errs.push(invalid(path.child('operator'), operator, 'operator must be Exists when `key` is empty, which means "match all values and all keys"'));
  }
  if (seconds !== undefined && seconds !== null && effect !== 'NoExecute') errs.push(invalid(path.child('effect'), effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"));
  if (operator === 'Equal' || operator === '') {
    const msgs = isValidLabelValue(value);
    if (msgs.length > 0) errs.push(invalid(path.child('operator'), value, msgs.join(';')));
  } else if (operator === 'Exists') {
    if (value !== '') errs.push(invalid(path.child('operator'), t, "value must be empty when `operator` is 'Exists'"));
  } else {
    errs.push(notSupported(path.child('operator'), operator, TOLERATION_OPERATORS));
  }
  if (effect !== '') errs.push(...validateTaintEffect(effect, true, path.child('effect')));
  return errs;
}

export function validateTolerations(list: unknown[], path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  for (const [t, i] of objectsIn(list, path, errs)) errs.push(...validateToleration(t, path.index(i)));
  return errs;
}

function validateSchedulingGates(list: unknown[], path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  for (const [g, i] of objectsIn(list, path, errs)) {
    const name = strAt(g, 'name', path.index(i).child('name'), errs);
    if (name === null) continue;
    errs.push(...nameErrors(name, path.index(i), isQualifiedName));
    if (seen.has(name)) errs.push(duplicate(path.index(i), name));
    seen.add(name);
  }
  return errs;
}

/** With host networking a container port is a host port: they must agree. */
function validateHostNetworkPorts(spec: Json, path: FieldPath, opts: PodSpecOptions): FieldError[] {
  if (spec.hostNetwork !== true || !Array.isArray(spec.containers)) return [];
  const errs: FieldError[] = [];
  for (const [ci, c] of spec.containers.entries()) {
    if (!isObject(c) || !Array.isArray(c.ports)) continue;
    for (const [pi, port] of c.ports.entries()) {
      if (!isObject(port)) continue;
      const hp = typeof port.hostPort === 'number' ? port.hostPort : 0;
      // Templates may leave it 0: it is defaulted when the pod is created.
      if ((opts.isPod || hp !== 0) && hp !== port.containerPort) {
        errs.push(invalid(path.child('containers').index(ci).child('ports').index(pi).child('hostPort'), hp, 'must match `containerPort` when `hostNetwork` is true'));
      }
    }
  }
  return errs;
}

// ---- the spec ----

function validateNameField(spec: Json, key: string, path: FieldPath, errs: FieldError[], check: (v: string) => string[]): void {
  const v = strAt(spec, key, path.child(key), errs);
  if (v) errs.push(...nameErrors(v, path.child(key), check));
}

/** Restart and DNS policies, node selector, gates: the first half of upstream's order. */
function validatePolicies(spec: Json, path: FieldPath, errs: FieldError[]): void {
  const restart = strAt(spec, 'restartPolicy', path.child('restartPolicy'), errs);
  if (restart !== null) errs.push(...oneOf(restart, path.child('restartPolicy'), RESTART_POLICIES));
  const dns = strAt(spec, 'dnsPolicy', path.child('dnsPolicy'), errs);
  if (dns !== null) errs.push(...oneOf(dns, path.child('dnsPolicy'), DNS_POLICIES));
  const nodeSelector = strMapAt(spec, 'nodeSelector', path.child('nodeSelector'), errs);
  if (nodeSelector) errs.push(...validateLabels(nodeSelector, path.child('nodeSelector')));
  objAt(spec, 'securityContext', path.child('securityContext'), errs);
  objAt(spec, 'affinity', path.child('affinity'), errs);
  if (dns === 'None' && !isObject(spec.dnsConfig)) errs.push(required(path.child('dnsConfig'), 'must provide `dnsConfig` when `dnsPolicy` is None'));
  const gates = arrAt(spec, 'schedulingGates', path.child('schedulingGates'), errs);
  if (gates) errs.push(...validateSchedulingGates(gates, path.child('schedulingGates')));
}

/** Names, deadline, tolerations, priority: the second half of upstream's order. */
function validateAssignments(spec: Json, path: FieldPath, errs: FieldError[]): void {
  validateNameField(spec, 'serviceAccountName', path, errs, isDNS1123Subdomain);
  validateNameField(spec, 'nodeName', path, errs, isDNS1123Subdomain);
  const deadline = intAt(spec, 'activeDeadlineSeconds', path.child('activeDeadlineSeconds'), errs);
  if (typeof deadline === 'number' && (deadline < 1 || deadline > MAX_INT32)) {
    errs.push(invalid(path.child('activeDeadlineSeconds'), deadline, inclusiveRangeError(1, MAX_INT32)));
  }
  validateNameField(spec, 'hostname', path, errs, isDNS1123Label);
  validateNameField(spec, 'subdomain', path, errs, isDNS1123Label);
  const tolerations = arrAt(spec, 'tolerations', path.child('tolerations'), errs);
  if (tolerations) errs.push(...validateTolerations(tolerations, path.child('tolerations')));
  validateNameField(spec, 'priorityClassName', path, errs, isDNS1123Subdomain);
  const preemption = strAt(spec, 'preemptionPolicy', path.child('preemptionPolicy'), errs);
  if (spec.preemptionPolicy !== undefined && spec.preemptionPolicy !== null && preemption !== null) {
    errs.push(...oneOf(preemption, path.child('preemptionPolicy'), PREEMPTION_POLICIES));
  }
  for (const key of ['hostNetwork', 'hostPID', 'hostIPC', 'enableServiceLinks', 'automountServiceAccountToken'] as const) {
    boolAt(spec, key, path.child(key), errs);
  }
}

/** A PodSpec, wherever it appears (upstream's ValidatePodSpec). */
export function validatePodSpec(spec: Json, path: FieldPath, opts: PodSpecOptions): FieldError[] {
  const errs: FieldError[] = [];
  const grace = intAt(spec, 'terminationGracePeriodSeconds', path.child('terminationGracePeriodSeconds'), errs);
  if (grace === undefined) errs.push(required(path.child('terminationGracePeriodSeconds'), ''));
  const volumeList = arrAt(spec, 'volumes', path.child('volumes'), errs);
  const volumes = volumeList ? validateVolumes(volumeList, path.child('volumes'), errs) : new Map<string, Json>();
  const ctx: ContainerContext = { volumes, grace: grace ?? undefined, opts };
  const names = new Set<string>();
  validateContainers(spec.containers, path.child('containers'), ctx, names, errs);
  const init = arrAt(spec, 'initContainers', path.child('initContainers'), errs);
  if (init) validateInitContainers(init, path.child('initContainers'), ctx, names, errs);
  errs.push(...validateHostNetworkPorts(spec, path, opts));
  validatePolicies(spec, path, errs);
  validateAssignments(spec, path, errs);
  return errs;
}

/**
 * A PodTemplateSpec inside a workload (upstream's ValidatePodTemplateSpec).
 * The template's metadata is inlined in Go, hence `template.labels` rather
 * than `template.metadata.labels` in the paths.
 */
export function validatePodTemplate(template: Json, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  const metadata = objAt(template, 'metadata', path.child('metadata'), errs) ?? {};
  const labels = strMapAt(metadata, 'labels', path.child('labels'), errs);
  if (labels) errs.push(...validateLabels(labels, path.child('labels')));
  const annotations = strMapAt(metadata, 'annotations', path.child('annotations'), errs);
  if (annotations) errs.push(...validateAnnotations(annotations, path.child('annotations')));
  const spec = objAt(template, 'spec', path.child('spec'), errs) ?? {};
  errs.push(...validatePodSpec(spec, path.child('spec'), { isPod: false }));
  if (Array.isArray(spec.ephemeralContainers) && spec.ephemeralContainers.length > 0) {
    errs.push(forbidden(path.child('spec', 'ephemeralContainers'), 'ephemeral containers not allowed in pod template'));
  }
  return errs;
}
