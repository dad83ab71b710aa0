/**
 * Defaults of a PodSpec as upstream's v1 defaulting fills them, wherever a
 * PodSpec appears (pods and the templates of workloads). Pod-only defaults
 * (requests from limits, enableServiceLinks, host ports) live in pod.ts,
 * because upstream deliberately keeps them out of templates.
 *
 * Every function mutates in place and skips values of the wrong type.
 */
import { canonicalizeResourceList } from './resource-lists.js';
import { ensureObj, isObject, type Json, objectsOf, objOf, setDefault, setDefaultStr, strOf } from './fields.js';

export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';
export const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS = 30;
export const TERMINATION_MESSAGE_PATH_DEFAULT = '/dev/termination-log';
/** 0644: the file mode of projected keys unless a volume says otherwise. */
export const VOLUME_DEFAULT_MODE = 0o644;
const TOKEN_EXPIRATION_SECONDS_DEFAULT = 3600;

/** Every source a volume may name; none means an emptyDir (upstream's AllPtrFieldsNil). */
export const VOLUME_SOURCES = [
  'emptyDir',
  'hostPath',
  'gitRepo',
  'gcePersistentDisk',
  'awsElasticBlockStore',
  'secret',
  'nfs',
  'iscsi',
  'glusterfs',
  'flocker',
  'persistentVolumeClaim',
  'rbd',
  'cinder',
  'cephfs',
  'quobyte',
  'downwardAPI',
  'fc',
  'flexVolume',
  'configMap',
  'azureFile',
  'vsphereVolume',
  'photonPersistentDisk',
  'portworxVolume',
  'azureDisk',
  'storageos',
  'projected',
  'scaleIO',
  'csi',
  'ephemeral',
  'image',
] as const;

const PROBES = ['livenessProbe', 'readinessProbe', 'startupProbe'] as const;
const CONTAINER_LISTS = ['initContainers', 'containers', 'ephemeralContainers'] as const;

/**
 * The tag of an image reference, as Docker's parser sees it: '' when the
 * reference is pinned by digest only, 'latest' when it names neither, and
 * '' when the reference does not parse (upstream then ignores the error).
 */
export function imageTag(image: string): string {
  const at = image.indexOf('@');
  const name = at >= 0 ? image.slice(0, at) : image;
  const digest = at >= 0 ? image.slice(at + 1) : '';
  if (!/^[a-zA-Z0-9._:/-]+$/.test(name) || name.length === 0) return '';
  const lastSlash = name.lastIndexOf('/');
  const colon = name.indexOf(':', lastSlash + 1);
  const repo = colon >= 0 ? name.slice(0, colon) : name;
  const tag = colon >= 0 ? name.slice(colon + 1) : '';
  // Path components are lower case; a domain (a first component with '.', ':' or capitals) need not be.
  const first = repo.slice(0, repo.indexOf('/'));
  const path = repo.includes('/') && /[.:A-Z]|^localhost$/.test(first) ? repo.slice(first.length + 1) : repo;
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(path)) return '';
  if (colon >= 0 && !/^[\w][\w.-]{0,127}$/.test(tag)) return '';
  if (digest !== '' && !/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/.test(digest)) return '';
  return tag !== '' || digest !== '' ? tag : 'latest';
}

/** `Always` for a moving tag (`latest`, or none), `IfNotPresent` otherwise. */
export function defaultPullPolicy(image: unknown): string {
  return typeof image === 'string' && imageTag(image) === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultHTTPGet(handler: Json | undefined): void {
  const get = handler && objOf(handler, 'httpGet');
  if (!get) return;
  setDefaultStr(get, 'path', '/');
  setDefaultStr(get, 'scheme', 'HTTP');
}

function defaultProbe(probe: Json): void {
  // Zero means "unset" for these ints, as in upstream's non-pointer fields.
  if (!probe.timeoutSeconds) probe.timeoutSeconds = 1;
  if (!probe.periodSeconds) probe.periodSeconds = 10;
  if (!probe.successThreshold) probe.successThreshold = 1;
  if (!probe.failureThreshold) probe.failureThreshold = 3;
  defaultHTTPGet(probe);
}

/** fieldRef apiVersion, and the divisor a resourceFieldRef always serializes. */
function defaultDownwardRefs(holder: Json): void {
  const fieldRef = objOf(holder, 'fieldRef');
  if (fieldRef) setDefaultStr(fieldRef, 'apiVersion', 'v1');
  const resourceRef = objOf(holder, 'resourceFieldRef');
  if (resourceRef) setDefault(resourceRef, 'divisor', '0');
}

function defaultEnv(container: Json): void {
  for (const env of objectsOf(container, 'env')) {
    const from = objOf(env, 'valueFrom');
    if (from) defaultDownwardRefs(from);
  }
}

function defaultContainer(c: Json): void {
  setDefaultStr(c, 'imagePullPolicy', defaultPullPolicy(c.image));
  setDefaultStr(c, 'terminationMessagePath', TERMINATION_MESSAGE_PATH_DEFAULT);
  setDefaultStr(c, 'terminationMessagePolicy', 'File');
  for (const port of objectsOf(c, 'ports')) setDefaultStr(port, 'protocol', 'TCP');
  defaultEnv(c);
  for (const name of PROBES) {
    const probe = objOf(c, name);
    if (probe) defaultProbe(probe);
  }
  const lifecycle = objOf(c, 'lifecycle');
  if (lifecycle) {
    defaultHTTPGet(objOf(lifecycle, 'postStart'));
    defaultHTTPGet(objOf(lifecycle, 'preStop'));
  }
  // ResourceRequirements is a struct upstream, so it always serializes, at least as {}.
  const resources = ensureObj(c, 'resources');
  if (resources) {
    canonicalizeResourceList(resources.limits);
    canonicalizeResourceList(resources.requests);
  }
}

function defaultProjected(projected: Json): void {
  setDefault(projected, 'defaultMode', VOLUME_DEFAULT_MODE);
  for (const source of objectsOf(projected, 'sources')) {
    const token = objOf(source, 'serviceAccountToken');
    if (token) setDefault(token, 'expirationSeconds', TOKEN_EXPIRATION_SECONDS_DEFAULT);
    const downward = objOf(source, 'downwardAPI');
    if (downward) for (const item of objectsOf(downward, 'items')) defaultDownwardRefs(item);
  }
}

function defaultVolume(v: Json): void {
  if (!VOLUME_SOURCES.some((s) => v[s] !== undefined && v[s] !== null)) v.emptyDir = {};
  for (const key of ['secret', 'configMap'] as const) {
    const source = objOf(v, key);
    if (source) setDefault(source, 'defaultMode', VOLUME_DEFAULT_MODE);
  }
  const downward = objOf(v, 'downwardAPI');
  if (downward) {
    setDefault(downward, 'defaultMode', VOLUME_DEFAULT_MODE);
    for (const item of objectsOf(downward, 'items')) defaultDownwardRefs(item);
  }
  const projected = objOf(v, 'projected');
  if (projected) defaultProjected(projected);
  // HostPathUnset: the empty type means "no checks", and upstream writes it out.
  const hostPath = objOf(v, 'hostPath');
  if (hostPath) setDefault(hostPath, 'type', '');
  const claimSpec = objOf(objOf(objOf(v, 'ephemeral') ?? {}, 'volumeClaimTemplate') ?? {}, 'spec');
  if (claimSpec) defaultClaimSpec(claimSpec);
}

/** A PersistentVolumeClaimSpec: volumeMode Filesystem, canonical storage requests. */
export function defaultClaimSpec(spec: Json): void {
  setDefaultStr(spec, 'volumeMode', 'Filesystem');
  const resources = objOf(spec, 'resources');
  if (resources) {
    canonicalizeResourceList(resources.requests);
    canonicalizeResourceList(resources.limits);
  }
}

/** The defaults of any PodSpec (upstream's SetDefaults_PodSpec and the nested defaulters). */
export function defaultPodSpec(spec: Json): void {
  setDefaultStr(spec, 'dnsPolicy', 'ClusterFirst');
  setDefaultStr(spec, 'restartPolicy', 'Always');
  setDefault(spec, 'securityContext', {});
  setDefault(spec, 'terminationGracePeriodSeconds', DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS);
  setDefaultStr(spec, 'schedulerName', DEFAULT_SCHEDULER_NAME);
  // The v1 API keeps the old name of the field in step with the new one.
  if (strOf(spec, 'serviceAccountName') === '' && strOf(spec, 'serviceAccount') !== '') spec.serviceAccountName = spec.serviceAccount;
  if (strOf(spec, 'serviceAccountName') !== '') spec.serviceAccount = spec.serviceAccountName;
  for (const list of CONTAINER_LISTS) for (const c of objectsOf(spec, list)) defaultContainer(c);
  for (const v of objectsOf(spec, 'volumes')) defaultVolume(v);
  const overhead = spec.overhead;
  if (isObject(overhead)) canonicalizeResourceList(overhead);
}

/** A PodTemplateSpec inside a workload: only the spec has defaults. */
export function defaultPodTemplate(template: unknown): void {
  if (!isObject(template)) return;
  const spec = ensureObj(template, 'spec');
  if (spec) defaultPodSpec(spec);
}
