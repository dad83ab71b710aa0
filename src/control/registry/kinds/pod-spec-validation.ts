/**
 * Validation of a PodSpec (and a PodTemplateSpec) with upstream's field
 * paths and messages (pkg/apis/core/validation ValidatePodSpec and the
 * functions it calls). Covered: containers (names, images, ports, env,
 * mounts, probes, lifecycle, resources, pull and termination policies),
 * init and ephemeral containers, volumes (names, one source, the common
 * sources' required fields), restart and DNS policies, node selector,
 * tolerations, host network ports, names of accounts, nodes and classes.
 * Not covered: security contexts beyond their shape, affinity, topology
 * spread, DNS config details, resource claims, OS-specific rules.
 */
import {
  duplicate,
  type FieldError,
  type FieldPath,
  forbidden,
  inclusiveRangeError,
  invalid,
  isConfigMapKey,
  isDNS1123Label,
  isDNS1123Subdomain,
  isQualifiedName,
  isValidLabelValue,
  isValidPortName,
  isValidPortNum,
  nameIsDNSSubdomain,
  notFound,
  notSupported,
  required,
  validateAnnotations,
  validateLabelName,
  validateLabels,
  validateNonnegativeField,
} from '../validation/index.js';
import { arrAt, boolAt, intAt, isObject, type Json, MAX_INT32, objAt, objectsIn, strAt, strMapAt, wrongType } from './fields.js';
import { VOLUME_SOURCES } from './pod-spec-defaults.js';
import { validateResourceRequirements } from './resource-lists.js';

export interface PodSpecOptions {
  /** The spec is a Pod's own, not a template's: some checks are stricter for pods. */
  readonly isPod: boolean;
}

type Volumes = ReadonlyMap<string, Json>;

const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'];
const TERMINATION_MESSAGE_POLICIES = ['File', 'FallbackToLogsOnError'];
export const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];
const DNS_POLICIES = ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'];
const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];
const TOLERATION_OPERATORS = ['Equal', 'Exists'];
const PREEMPTION_POLICIES = ['PreemptLowerPriority', 'Never'];
const HTTP_SCHEMES = ['HTTP', 'HTTPS'];
const FILE_MODE_MAX = 0o777;
const FILE_MODE_ERROR = 'must be a number between 0 and 0777 (octal), both inclusive';
const RELAXED_ENV_NAME_ERROR = "a valid environment variable name must consist only of printable ASCII characters other than '='";

/** An enumerated string: Required when empty, Unsupported outside the set. */
export function oneOf(value: string, path: FieldPath, values: readonly string[]): FieldError[] {
  if (value === '') return [required(path, '')];
  return values.includes(value) ? [] : [notSupported(path, value, values)];
}

function nameErrors(value: string, path: FieldPath, check: (v: string) => string[]): FieldError[] {
  return check(value).map((m) => invalid(path, value, m));
}

// ---- ports and env ----

export function validatePortNumOrName(port: unknown, path: FieldPath): FieldError[] {
  if (typeof port === 'number') return isValidPortNum(port).map((m) => invalid(path, port, m));
  if (typeof port === 'string') return isValidPortName(port).map((m) => invalid(path, port, m));
  return [wrongType(path, port ?? null, 'integer')];
}

function validateContainerPort(port: Json, path: FieldPath, names: Set<string>): FieldError[] {
  const errs: FieldError[] = [];
  const name = strAt(port, 'name', path.child('name'), errs);
  if (name) {
    const msgs = isValidPortName(name);
    if (msgs.length > 0) errs.push(...msgs.map((m) => invalid(path.child('name'), name, m)));
    else if (names.has(name)) errs.push(duplicate(path.child('name'), name));
    else names.add(name);
  }
  const containerPort = intAt(port, 'containerPort', path.child('containerPort'), errs);
  if (containerPort === undefined || containerPort === 0) errs.push(required(path.child('containerPort'), ''));
  else if (containerPort !== null) errs.push(...isValidPortNum(containerPort).map((m) => invalid(path.child('containerPort'), containerPort, m)));
  const hostPort = intAt(port, 'hostPort', path.child('hostPort'), errs);
  if (hostPort) errs.push(...isValidPortNum(hostPort).map((m) => invalid(path.child('hostPort'), hostPort, m)));
  const protocol = strAt(port, 'protocol', path.child('protocol'), errs);
  if (protocol !== null) errs.push(...oneOf(protocol, path.child('protocol'), PROTOCOLS));
  return errs;
}

function validateContainerPorts(ports: unknown[], path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  const names = new Set<string>();
  for (const [port, i] of objectsIn(ports, path, errs)) errs.push(...validateContainerPort(port, path.index(i), names));
  return errs;
}

/** Any printable ASCII but '=' (the relaxed rule upstream made the default in 1.32). */
function envNameErrors(name: string): string[] {
  const errs = /^[\x20-\x7e]*$/.test(name) && !name.includes('=') ? [] : [RELAXED_ENV_NAME_ERROR];
  if (name === '.') errs.push("must not be '.'");
  else if (name === '..') errs.push("must not be '..'");
  else if (name.startsWith('..')) errs.push("must not start with '..'");
  return errs;
}

function validateKeySelector(sel: Json, path: FieldPath, nameKey: string): FieldError[] {
  const errs: FieldError[] = [];
  const name = strAt(sel, nameKey, path.child(nameKey), errs);
  if (name !== null) errs.push(...nameErrors(name, path.child(nameKey), (v) => nameIsDNSSubdomain(v, false)));
  const key = strAt(sel, 'key', path.child('key'), errs);
  if (key === '') errs.push(required(path.child('key'), ''));
  else if (key !== null) errs.push(...nameErrors(key, path.child('key'), isConfigMapKey));
  return errs;
}

/** The pod fields an environment variable may read (upstream's validEnvDownwardAPIFieldPathExpressions). */
const ENV_FIELD_PATHS = [
  'metadata.name',
  'metadata.namespace',
  'metadata.uid',
  'spec.nodeName',
  'spec.serviceAccountName',
  'status.hostIP',
  'status.hostIPs',
  'status.podIP',
  'status.podIPs',
];
const SUBSCRIPTED_FIELD_PATH = /^metadata\.(labels|annotations)\['(.*)'\]$/;

function validateFieldRef(ref: Json, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  const apiVersion = strAt(ref, 'apiVersion', path.child('apiVersion'), errs);
  if (apiVersion === '') return [...errs, required(path.child('apiVersion'), '')];
  const fieldPath = strAt(ref, 'fieldPath', path.child('fieldPath'), errs);
  if (fieldPath === '') return [...errs, required(path.child('fieldPath'), '')];
  if (fieldPath === null) return errs;
  const sub = SUBSCRIPTED_FIELD_PATH.exec(fieldPath);
  if (sub) {
    const key = sub[1] === 'annotations' ? sub[2]!.toLowerCase() : sub[2]!;
    return [...errs, ...nameErrors(key, path, isQualifiedName)];
  }
  if (!ENV_FIELD_PATHS.includes(fieldPath)) errs.push(notSupported(path.child('fieldPath'), fieldPath, ENV_FIELD_PATHS));
  return errs;
}

const VALUE_FROM_SOURCES = ['fieldRef', 'resourceFieldRef', 'configMapKeyRef', 'secretKeyRef'] as const;

function validateValueFrom(env: Json, from: Json, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  let sources = 0;
  for (const key of VALUE_FROM_SOURCES) {
    const source = objAt(from, key, path.child(key), errs);
    if (!source) continue;
    sources++;
    if (key === 'fieldRef') {
      errs.push(...validateFieldRef(source, path.child(key)));
    } else if (key === 'resourceFieldRef') {
      if (!source.resource) errs.push(required(path.child(key, 'resource'), ''));
    } else {
      errs.push(...validateKeySelector(source, path.child(key), 'name'));
    }
  }
  if (sources === 0) errs.push(invalid(path, '', 'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`'));
  else if (typeof env.value === 'string' && env.value !== '') errs.push(invalid(path, '', 'may not be specified when `value` is not empty'));
  else if (sources > 1) errs.push(invalid(path, '', 'may not have more than one field specified at a time'));
  return errs;
}

function validateEnv(env: unknown[], path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  for (const [ev, i] of objectsIn(env, path, errs)) {
    const p = path.index(i);
    const name = strAt(ev, 'name', p.child('name'), errs);
    if (name === '') errs.push(required(p.child('name'), ''));
    else if (name !== null) errs.push(...nameErrors(name, p.child('name'), envNameErrors));
    strAt(ev, 'value', p.child('value'), errs);
    const from = objAt(ev, 'valueFrom', p.child('valueFrom'), errs);
    if (from) errs.push(...validateValueFrom(ev, from, p.child('valueFrom')));
  }
  return errs;
}

function validateEnvFrom(envFrom: unknown[], path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  for (const [ev, i] of objectsIn(envFrom, path, errs)) {
    const p = path.index(i);
    const prefix = strAt(ev, 'prefix', p.child('prefix'), errs);
    if (prefix) errs.push(...nameErrors(prefix, p.child('prefix'), envNameErrors));
    let sources = 0;
    for (const key of ['configMapRef', 'secretRef'] as const) {
      const ref = objAt(ev, key, p.child(key), errs);
      if (!ref) continue;
      sources++;
      const name = strAt(ref, 'name', p.child(key, 'name'), errs);
      if (name === '') errs.push(required(p.child(key, 'name'), ''));
      else if (name !== null) errs.push(...nameErrors(name, p.child(key, 'name'), (v) => nameIsDNSSubdomain(v, true)));
    }
    // Upstream reports these two at the list, not at the entry.
    if (sources === 0) errs.push(invalid(path, '', 'must specify one of: `configMapRef` or `secretRef`'));
    else if (sources > 1) errs.push(invalid(path, '', 'may not have more than one field specified at a time'));
  }
  return errs;
}

function validateVolumeMounts(mounts: unknown[], volumes: Volumes, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  const mountPaths = new Set<string>();
  for (const [m, i] of objectsIn(mounts, path, errs)) {
    const p = path.index(i);
    const name = strAt(m, 'name', p.child('name'), errs);
    if (name === '') errs.push(required(p.child('name'), ''));
    if (name !== null && !volumes.has(name)) errs.push(notFound(p.child('name'), name));
    const mountPath = strAt(m, 'mountPath', p.child('mountPath'), errs);
    if (mountPath === '') errs.push(required(p.child('mountPath'), ''));
    if (mountPath !== null && mountPaths.has(mountPath)) errs.push(invalid(p.child('mountPath'), mountPath, 'must be unique'));
    if (mountPath !== null) mountPaths.add(mountPath);
    const subPath = strAt(m, 'subPath', p.child('subPath'), errs);
    // Upstream names the list, not the entry, for this one.
    if (subPath) errs.push(...validateLocalDescendingPath(subPath, path.child('subPath')));
  }
  return errs;
}

/** A relative path that stays inside the volume. */
function validateLocalDescendingPath(value: string, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  if (value.startsWith('/')) errs.push(invalid(path, value, 'must be a relative path'));
  if (value.split('/').includes('..')) errs.push(invalid(path, value, "must not contain '..'"));
  return errs;
}

// ---- probes and lifecycle handlers ----

const HANDLERS = ['exec', 'httpGet', 'tcpSocket', 'grpc', 'sleep'] as const;
type Handler = (typeof HANDLERS)[number];

function validateHandlerBody(kind: Handler, h: Json, path: FieldPath, grace: number | undefined): FieldError[] {
  const errs: FieldError[] = [];
  switch (kind) {
    case 'exec': {
      const command = arrAt(h, 'command', path.child('command'), errs);
      if (command !== null && (command === undefined || command.length === 0)) errs.push(required(path.child('command'), ''));
      break;
    }
    case 'httpGet': {
      const p = strAt(h, 'path', path.child('path'), errs);
      if (p === '') errs.push(required(path.child('path'), ''));
      errs.push(...validatePortNumOrName(h.port, path.child('port')));
      const scheme = strAt(h, 'scheme', path.child('scheme'), errs);
      if (scheme !== null && !HTTP_SCHEMES.includes(scheme)) errs.push(notSupported(path.child('scheme'), scheme, HTTP_SCHEMES));
      break;
    }
    case 'tcpSocket':
    case 'grpc':
      errs.push(...validatePortNumOrName(h.port, path.child('port')));
      break;
    case 'sleep': {
      const seconds = intAt(h, 'seconds', path.child('seconds'), errs) ?? 0;
      if (seconds !== null && grace !== undefined && (seconds < 0 || seconds > grace)) {
        errs.push(invalid(path, seconds, `must be non-negative and less than terminationGracePeriodSeconds (${grace})`));
      }
      break;
    }
  }
  return errs;
}

/** Exactly one handler among those the context allows. */
function validateHandler(h: Json, allowed: readonly Handler[], path: FieldPath, grace: number | undefined): FieldError[] {
  const errs: FieldError[] = [];
  let count = 0;
  for (const kind of allowed) {
    const body = objAt(h, kind, path.child(kind), errs);
    if (!body) continue;
    if (count > 0) {
      errs.push(forbidden(path.child(kind), 'may not specify more than 1 handler type'));
      continue;
    }
    count++;
    errs.push(...validateHandlerBody(kind, body, path.child(kind), grace));
  }
  if (count === 0) errs.push(required(path, 'must specify a handler type'));
  return errs;
}

const PROBE_HANDLERS: readonly Handler[] = ['exec', 'httpGet', 'tcpSocket', 'grpc'];
const LIFECYCLE_HANDLERS: readonly Handler[] = ['exec', 'httpGet', 'tcpSocket', 'sleep'];
const PROBE_COUNTS = ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold'] as const;

function validateProbe(kind: string, probe: Json, path: FieldPath, grace: number | undefined): FieldError[] {
  const errs = validateHandler(probe, PROBE_HANDLERS, path, grace);
  for (const key of PROBE_COUNTS) {
    const n = intAt(probe, key, path.child(key), errs);
    if (typeof n === 'number') errs.push(...validateNonnegativeField(n, path.child(key)));
  }
  const probeGrace = intAt(probe, 'terminationGracePeriodSeconds', path.child('terminationGracePeriodSeconds'), errs);
  if (typeof probeGrace === 'number' && probeGrace <= 0) errs.push(invalid(path.child('terminationGracePeriodSeconds'), probeGrace, 'must be greater than 0'));
  // A liveness or startup probe that needed two successes could never recover a container.
  if (kind !== 'readinessProbe' && typeof probe.successThreshold === 'number' && probe.successThreshold !== 1) {
    errs.push(invalid(path.child('successThreshold'), probe.successThreshold, 'must be 1'));
  }
  if (kind === 'readinessProbe' && probe.terminationGracePeriodSeconds !== undefined && probe.terminationGracePeriodSeconds !== null) {
    errs.push(invalid(path.child('terminationGracePeriodSeconds'), probe.terminationGracePeriodSeconds, 'must not be set for readinessProbes'));
  }
  return errs;
}

function validateProbesAndLifecycle(c: Json, path: FieldPath, grace: number | undefined): FieldError[] {
  const errs: FieldError[] = [];
  const lifecycle = objAt(c, 'lifecycle', path.child('lifecycle'), errs);
  if (lifecycle) {
    for (const hook of ['postStart', 'preStop'] as const) {
      const h = objAt(lifecycle, hook, path.child('lifecycle', hook), errs);
      if (h) errs.push(...validateHandler(h, LIFECYCLE_HANDLERS, path.child('lifecycle', hook), grace));
    }
  }
  for (const kind of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
    const probe = objAt(c, kind, path.child(kind), errs);
    if (probe) errs.push(...validateProbe(kind, probe, path.child(kind), grace));
  }
  return errs;
}

// ---- containers ----

/** What every kind of container must satisfy (upstream's validateContainerCommon). */
function validateContainerCommon(c: Json, volumes: Volumes, path: FieldPath, opts: PodSpecOptions): FieldError[] {
  const errs: FieldError[] = [];
  const name = strAt(c, 'name', path.child('name'), errs);
  if (name === '') errs.push(required(path.child('name'), ''));
  else if (name !== null) errs.push(...nameErrors(name, path.child('name'), isDNS1123Label));
  const image = strAt(c, 'image', path.child('image'), errs);
  if (image === '') errs.push(required(path.child('image'), ''));
  if (opts.isPod && image && image.trim() !== image) errs.push(invalid(path.child('image'), image, 'must not have leading or trailing whitespace'));
  const tmp = strAt(c, 'terminationMessagePolicy', path.child('terminationMessagePolicy'), errs);
  if (tmp !== null) errs.push(...oneOf(tmp, path.child('terminationMessagePolicy'), TERMINATION_MESSAGE_POLICIES));
  const ports = arrAt(c, 'ports', path.child('ports'), errs);
  if (ports) errs.push(...validateContainerPorts(ports, path.child('ports')));
  const env = arrAt(c, 'env', path.child('env'), errs);
  if (env) errs.push(...validateEnv(env, path.child('env')));
  const envFrom = arrAt(c, 'envFrom', path.child('envFrom'), errs);
  if (envFrom) errs.push(...validateEnvFrom(envFrom, path.child('envFrom')));
  const mounts = arrAt(c, 'volumeMounts', path.child('volumeMounts'), errs);
  if (mounts) errs.push(...validateVolumeMounts(mounts, volumes, path.child('volumeMounts')));
  const pull = strAt(c, 'imagePullPolicy', path.child('imagePullPolicy'), errs);
  if (pull !== null) errs.push(...oneOf(pull, path.child('imagePullPolicy'), PULL_POLICIES));
  const resources = objAt(c, 'resources', path.child('resources'), errs);
  if (resources) errs.push(...validateResourceRequirements(resources, path.child('resources')));
  objAt(c, 'securityContext', path.child('securityContext'), errs);
  return errs;
}

/** Host ports must not collide across the containers that run together. */
function hostPortConflicts(containers: readonly [Json, number][], path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  for (const [c, ci] of containers) {
    if (!Array.isArray(c.ports)) continue;
    for (const [pi, port] of c.ports.entries()) {
      if (!isObject(port) || typeof port.hostPort !== 'number' || port.hostPort === 0) continue;
      const key = `${String(port.protocol ?? '')}/${String(port.hostIP ?? '')}/${port.hostPort}`;
      if (seen.has(key)) errs.push(duplicate(path.index(ci).child('ports').index(pi).child('hostPort'), key));
      seen.add(key);
    }
  }
  return errs;
}

interface ContainerContext {
  readonly volumes: Volumes;
  readonly grace: number | undefined;
  readonly opts: PodSpecOptions;
}

function validateContainers(list: unknown, path: FieldPath, ctx: ContainerContext, names: Set<string>, errs: FieldError[]): void {
  if (list !== undefined && list !== null && !Array.isArray(list)) return void errs.push(wrongType(path, list, 'array'));
  if (!Array.isArray(list) || list.length === 0) return void errs.push(required(path, ''));
  const containers = objectsIn(list, path, errs);
  for (const [c, i] of containers) {
    const p = path.index(i);
    errs.push(...validateContainerCommon(c, ctx.volumes, p, ctx.opts));
    const name = c.name === undefined || c.name === null ? '' : c.name;
    if (typeof name === 'string' && names.has(name)) errs.push(duplicate(p.child('name'), name));
    else if (typeof name === 'string') names.add(name);
    errs.push(...validateProbesAndLifecycle(c, p, ctx.grace));
    if (c.restartPolicy !== undefined && c.restartPolicy !== null) errs.push(forbidden(p.child('restartPolicy'), 'may not be set for non-init containers'));
  }
  errs.push(...hostPortConflicts(containers, path));
}

const INIT_ONLY_FORBIDDEN = ['lifecycle', 'livenessProbe', 'readinessProbe', 'startupProbe'] as const;

function validateInitContainers(list: unknown[], path: FieldPath, ctx: ContainerContext, names: Set<string>, errs: FieldError[]): void {
  for (const [c, i] of objectsIn(list, path, errs)) {
    const p = path.index(i);
    errs.push(...validateContainerCommon(c, ctx.volumes, p, ctx.opts));
    const restart = strAt(c, 'restartPolicy', p.child('restartPolicy'), errs);
    if (restart && restart !== 'Always') errs.push(notSupported(p.child('restartPolicy'), restart, ['Always']));
    if (typeof c.name === 'string' && names.has(c.name)) errs.push(duplicate(p.child('name'), c.name));
    else if (typeof c.name === 'string' && c.name !== '') names.add(c.name);
    errs.push(...hostPortConflicts([[c, i]], path));
    // Only sidecars (restartPolicy Always) run long enough for probes and hooks.
    if (restart === 'Always') errs.push(...validateProbesAndLifecycle(c, p, ctx.grace));
    else {
      for (const key of INIT_ONLY_FORBIDDEN) {
        if (c[key] !== undefined && c[key] !== null) errs.push(forbidden(p.child(key), 'may not be set for init containers without restartPolicy=Always'));
      }
    }
  }
}

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

function validateSubdomainField(spec: Json, key: string, path: FieldPath, errs: FieldError[], check: (v: string) => string[]): void {
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
  validateSubdomainField(spec, 'serviceAccountName', path, errs, isDNS1123Subdomain);
  validateSubdomainField(spec, 'nodeName', path, errs, isDNS1123Subdomain);
  const deadline = intAt(spec, 'activeDeadlineSeconds', path.child('activeDeadlineSeconds'), errs);
  if (typeof deadline === 'number' && (deadline < 1 || deadline > MAX_INT32)) {
    errs.push(invalid(path.child('activeDeadlineSeconds'), deadline, inclusiveRangeError(1, MAX_INT32)));
  }
  validateSubdomainField(spec, 'hostname', path, errs, isDNS1123Label);
  validateSubdomainField(spec, 'subdomain', path, errs, isDNS1123Label);
  const tolerations = arrAt(spec, 'tolerations', path.child('tolerations'), errs);
  if (tolerations) errs.push(...validateTolerations(tolerations, path.child('tolerations')));
  validateSubdomainField(spec, 'priorityClassName', path, errs, isDNS1123Subdomain);
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
