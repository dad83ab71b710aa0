/**
 * Validation of the containers of a PodSpec (regular, init), with
 * upstream's paths and messages: names, images, ports, env, mounts, probes,
 * lifecycle hooks, resources, pull and termination policies, host port
 * conflicts. pod-spec-validation.ts calls these with the pod's volumes.
 */
import {
  duplicate,
  type FieldError,
  type FieldPath,
  forbidden,
  invalid,
  isConfigMapKey,
  isDNS1123Label,
  isQualifiedName,
  isValidPortName,
  isValidPortNum,
  nameIsDNSSubdomain,
  notFound,
  notSupported,
  required,
  validateNonnegativeField,
} from '../validation/index.js';
import { arrAt, intAt, isObject, type Json, objAt, objectsIn, strAt, wrongType } from './fields.js';
import { validateResourceRequirements } from './resource-lists.js';

export interface PodSpecOptions {
  /** The spec is a Pod's own, not a template's: some checks are stricter for pods. */
  readonly isPod: boolean;
}

export type Volumes = ReadonlyMap<string, Json>;

const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'];
const TERMINATION_MESSAGE_POLICIES = ['File', 'FallbackToLogsOnError'];
const HTTP_SCHEMES = ['HTTP', 'HTTPS'];
const RELAXED_ENV_NAME_ERROR = "a valid environment variable name must consist only of printable ASCII characters other than '='";

/** An enumerated string: Required when empty, Unsupported outside the set. */
export function oneOf(value: string, path: FieldPath, values: readonly string[]): FieldError[] {
  if (value === '') return [required(path, '')];
  return values.includes(value) ? [] : [notSupported(path, value, values)];
}

export function nameErrors(value: string, path: FieldPath, check: (v: string) => string[]): FieldError[] {
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
  return /^[\x20-\x7e]*$/.test(name) && !name.includes('=') ? [] : [RELAXED_ENV_NAME_ERROR];
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

export interface ContainerContext {
  readonly volumes: Volumes;
  readonly grace: number | undefined;
  readonly opts: PodSpecOptions;
}

export function validateContainers(list: unknown, path: FieldPath, ctx: ContainerContext, names: Set<string>, errs: FieldError[]): void {
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

export function validateInitContainers(list: unknown[], path: FieldPath, ctx: ContainerContext, names: Set<string>, errs: FieldError[]): void {
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
