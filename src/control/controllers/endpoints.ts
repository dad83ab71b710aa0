/**
 * The Endpoints controller: for every Service with a selector, one Endpoints
 * object of the same name listing the Pods the selector matches in its
 * namespace — ready ones under `addresses`, the others under
 * `notReadyAddresses` (all under `addresses` with publishNotReadyAddresses)
 * — grouped into subsets by the ports they resolve to. A Pod counts when it
 * has an IP (status.podIP), is not terminating and has not finished.
 *
 * Services without a selector are left alone (their Endpoints are the
 * user's). When a Service goes, its Endpoints are deleted explicitly (they
 * carry no ownerReference, as upstream), and Endpoints left behind by a
 * Service deleted while no leader ran are found at start.
 *
 * Writes happen only when the subsets or labels differ from what is stored.
 * After a write the worker waits for its informer to see it, so the next
 * reconcile of the same Service decides from its own last write.
 *
 * The pod helpers here (matching, readiness, port resolution) are shared
 * with the EndpointSlice controller.
 */
import type { KubeObject } from '../apiserver/index.js';
import { isApiError, objectKey } from '../apiserver/index.js';
import type { ResourceCache } from '../apiserver/index.js';
import { RESOURCES, type ResourceInfo } from '../registry/index.js';
import { type Controller, type ControllerContext, aborted, onStop } from './manager.js';
import { WorkQueue, runWorkers } from './workqueue.js';

/** Upstream's cap on the addresses of one Endpoints object; beyond it the object is marked truncated. */
export const ENDPOINTS_MAX_ADDRESSES = 1000;
export const OVER_CAPACITY_ANNOTATION = 'endpoints.kubernetes.io/over-capacity';
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';
/** Endpoints used as a leader-election lock by old components: never collected. */
const LEADER_ELECTION_ANNOTATION = 'control-plane.alpha.kubernetes.io/leader';
/** How long a worker waits for its informer to see its own write. */
export const OWN_WRITE_WAIT_MS = 3_000;
const WORKERS = 4;

export const SERVICES = RESOURCES.find((r) => r.resource === 'services')!;
export const PODS = RESOURCES.find((r) => r.resource === 'pods')!;
const ENDPOINTS = RESOURCES.find((r) => r.resource === 'endpoints')!;

type Json = Record<string, unknown>;

// ---------------------------------------------------------------- shared pod helpers

/** Key-order-insensitive equality of JSON values. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => jsonEqual(x, bb[i]));
  }
  const ak = Object.keys(a).filter((k) => (a as Json)[k] !== undefined);
  const bk = Object.keys(b).filter((k) => (b as Json)[k] !== undefined);
  return ak.length === bk.length && ak.every((k) => jsonEqual((a as Json)[k], (b as Json)[k]));
}

/** The service's selector when it has a non-empty one (an empty one selects nothing here, as upstream). */
export function selectorOf(svc: KubeObject): Record<string, string> | null {
  const s = svc.spec?.selector;
  if (!s || typeof s !== 'object' || Object.keys(s).length === 0) return null;
  return s as Record<string, string>;
}

export function selects(selector: Record<string, string>, pod: KubeObject): boolean {
  const labels = pod.metadata.labels ?? {};
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

/** A pod that can serve: it has an IP, is not being deleted and has not finished. */
export function podServes(pod: KubeObject): boolean {
  const phase = pod.status?.phase;
  return typeof pod.status?.podIP === 'string' && pod.status.podIP !== '' && !pod.metadata.deletionTimestamp && phase !== 'Succeeded' && phase !== 'Failed';
}

export function podReady(pod: KubeObject): boolean {
  const conds: unknown = pod.status?.conditions;
  return Array.isArray(conds) && conds.some((c: Json) => c?.type === 'Ready' && c.status === 'True');
}

/**
 * The pod port a service port's targetPort names: a number is itself; a
 * name is looked up among the containers' ports (same protocol). Null when
 * the pod has no such named port.
 */
export function resolveTargetPort(pod: KubeObject, port: Json): number | null {
  const target = port.targetPort ?? port.port;
  if (typeof target === 'number') return target;
  if (typeof target !== 'string') return null;
  if (/^\d+$/.test(target)) return Number(target);
  const protocol = port.protocol ?? 'TCP';
  const containers: unknown = pod.spec?.containers;
  for (const c of Array.isArray(containers) ? containers : []) {
    for (const cp of Array.isArray(c?.ports) ? c.ports : []) {
      if (cp?.name === target && (cp.protocol ?? 'TCP') === protocol && typeof cp.containerPort === 'number') return cp.containerPort;
    }
  }
  return null;
}

export interface EndpointPortJson {
  name: string;
  port: number;
  protocol: string;
  appProtocol?: string;
}

/** The ports `pod` serves for `svc` (ports whose target cannot be resolved are left out). */
export function podPorts(svc: KubeObject, pod: KubeObject): EndpointPortJson[] {
  const out: EndpointPortJson[] = [];
  for (const p of Array.isArray(svc.spec?.ports) ? (svc.spec.ports as Json[]) : []) {
    const n = resolveTargetPort(pod, p);
    if (n === null) continue;
    const e: EndpointPortJson = { name: typeof p.name === 'string' ? p.name : '', port: n, protocol: typeof p.protocol === 'string' ? p.protocol : 'TCP' };
    if (typeof p.appProtocol === 'string') e.appProtocol = p.appProtocol;
    out.push(e);
  }
  return out;
}

/** A canonical key of a port set (order-insensitive). */
export function portsKey(ports: readonly EndpointPortJson[]): string {
  return ports.map((p) => `${p.name}/${p.protocol}/${p.port}/${p.appProtocol ?? ''}`).sort().join(',');
}

export function podRef(pod: KubeObject): Json {
  return { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid };
}

/** The hostname a pod publishes through a headless service: its spec.hostname when its subdomain is the service. */
export function podHostname(svc: KubeObject, pod: KubeObject): string | undefined {
  const h = pod.spec?.hostname;
  return typeof h === 'string' && h !== '' && pod.spec?.subdomain === svc.metadata.name ? h : undefined;
}

export function isHeadless(svc: KubeObject): boolean {
  return svc.spec?.clusterIP === 'None';
}

/** The pods of `svc`'s namespace its selector matches, in name order. */
export function selectedPods(pods: ResourceCache, svc: KubeObject, selector: Record<string, string>): KubeObject[] {
  return pods.list(`${PODS.storagePrefix}/${svc.metadata.namespace}/`, (p) => selects(selector, p), 0).items;
}

/** Queues every service of `pod`'s namespace whose selector matches the pod (before or after a change). */
export function queueServicesOf(services: ResourceCache, queue: WorkQueue, pod: KubeObject, old: KubeObject | undefined): void {
  const ns = pod.metadata.namespace ?? '';
  for (const svc of services.list(`${SERVICES.storagePrefix}/${ns}/`, null, 0).items) {
    const sel = selectorOf(svc);
    if (sel && (selects(sel, pod) || (old && selects(sel, old)))) queue.add(`${ns}/${svc.metadata.name}`);
  }
}

/** Waits (bounded) until `informer` reflects `resourceVersion`. */
export async function awaitOwnWrite(informer: ResourceCache, resourceVersion: string | undefined): Promise<void> {
  const rev = Number(resourceVersion ?? 0);
  if (rev > 0) await informer.waitFor(rev, OWN_WRITE_WAIT_MS);
}

/** Runs `reconcile` over `queue` until the leadership ends. */
export async function runQueue(ctx: ControllerContext, queue: WorkQueue, workers: number, what: string, reconcile: (key: string) => Promise<void>): Promise<void> {
  onStop(ctx.stopped, () => queue.shutDown());
  await Promise.all([runWorkers(queue, workers, reconcile, (key, e) => ctx.logger.warn({ err: e, service: key }, `${what} failed; retrying`)), aborted(ctx.stopped)]);
}

/** Whether the service is really gone (a quorum read: the informer may not have seen it yet). */
export async function serviceGone(ctx: ControllerContext, namespace: string, name: string): Promise<boolean> {
  try {
    await ctx.rest.get({ r: SERVICES, namespace, name });
    return false;
  } catch (e) {
    if (isApiError(e) && e.reason === 'NotFound') return true;
    throw e;
  }
}

// ---------------------------------------------------------------- desired Endpoints (pure)

interface Subset {
  addresses: Json[];
  notReadyAddresses: Json[];
  ports: EndpointPortJson[];
}

function addressOf(svc: KubeObject, pod: KubeObject): Json {
  const a: Json = { ip: pod.status!.podIP, targetRef: podRef(pod) };
  const host = podHostname(svc, pod);
  if (host) a.hostname = host;
  if (typeof pod.spec?.nodeName === 'string' && pod.spec.nodeName !== '') a.nodeName = pod.spec.nodeName;
  return a;
}

function byIp(a: Json, b: Json): number {
  return String(a.ip) < String(b.ip) ? -1 : String(a.ip) > String(b.ip) ? 1 : 0;
}

/**
 * The subsets of `svc`'s Endpoints from its selected pods: one per distinct
 * port set, addresses sorted by IP, subsets by port key. Also whether the
 * address cap truncated them.
 */
export function desiredSubsets(svc: KubeObject, pods: readonly KubeObject[]): { subsets: Json[]; truncated: boolean } {
  const groups = new Map<string, Subset>();
  const publishNotReady = svc.spec?.publishNotReadyAddresses === true;
  const hasPorts = Array.isArray(svc.spec?.ports) && svc.spec.ports.length > 0;
  let count = 0;
  let truncated = false;
  for (const pod of pods) {
    if (!podServes(pod)) continue;
    const ports = podPorts(svc, pod);
    // A pod resolving none of the service's ports serves nothing (a port-less headless service takes every pod).
    if (hasPorts && ports.length === 0) continue;
    if (count >= ENDPOINTS_MAX_ADDRESSES) {
      truncated = true;
      break;
    }
    count++;
    const key = portsKey(ports);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { addresses: [], notReadyAddresses: [], ports: [...ports].sort((a, b) => (portsKey([a]) < portsKey([b]) ? -1 : 1)) }));
    (publishNotReady || podReady(pod) ? g.addresses : g.notReadyAddresses).push(addressOf(svc, pod));
  }
  const subsets = [...groups.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, g]) => {
      const s: Json = {};
      if (g.addresses.length > 0) s.addresses = g.addresses.sort(byIp);
      if (g.notReadyAddresses.length > 0) s.notReadyAddresses = g.notReadyAddresses.sort(byIp);
      if (g.ports.length > 0) s.ports = g.ports;
      return s;
    });
  return { subsets, truncated };
}

/** The labels of `svc`'s Endpoints: the service's, plus the headless marker. */
export function endpointsLabels(svc: KubeObject): Record<string, string> {
  const labels: Record<string, string> = { ...(svc.metadata.labels ?? {}) };
  if (isHeadless(svc)) labels[HEADLESS_LABEL] = '';
  else delete labels[HEADLESS_LABEL];
  return labels;
}

/** `meta` with the labels and annotations, each left out when empty. */
function withMaps(meta: KubeObject['metadata'], labels: Record<string, string>, annotations: Record<string, string>): KubeObject['metadata'] {
  delete meta.labels;
  delete meta.annotations;
  if (Object.keys(labels).length > 0) meta.labels = labels;
  if (Object.keys(annotations).length > 0) meta.annotations = annotations;
  return meta;
}

// ---------------------------------------------------------------- the controller

export class EndpointsController implements Controller {
  readonly name = 'endpoints';

  async run(ctx: ControllerContext): Promise<void> {
    const queue = new WorkQueue();
    const services = ctx.informer(SERVICES);
    const pods = ctx.informer(PODS);
    const endpoints = ctx.informer(ENDPOINTS);
    services.onChange((_t, svc) => queue.add(`${svc.metadata.namespace}/${svc.metadata.name}`));
    pods.onChange((_t, pod, old) => queueServicesOf(services, queue, pod, old));
    // A deleted Endpoints object of a selecting service is made again.
    endpoints.onChange((type, ep) => {
      if (type === 'DELETED') queue.add(`${ep.metadata.namespace}/${ep.metadata.name}`);
    });
    // Endpoints left behind by a service deleted while no leader ran (user-made
    // Endpoints waiting for their service are only at risk here, as upstream).
    void endpoints.loaded.then(() => {
      for (const ep of endpoints.all()) if (!ep.metadata.annotations?.[LEADER_ELECTION_ANNOTATION]) queue.add(`${ep.metadata.namespace}/${ep.metadata.name}`);
    }, () => undefined);
    await runQueue(ctx, queue, WORKERS, 'endpoints sync', (key) => this.reconcile(ctx, key, { services, pods, endpoints }));
  }

  private async reconcile(ctx: ControllerContext, key: string, inf: { services: ResourceCache; pods: ResourceCache; endpoints: ResourceCache }): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    const svc = inf.services.get(objectKey(SERVICES, namespace, name));
    const current = inf.endpoints.get(objectKey(ENDPOINTS, namespace, name));
    if (!svc || svc.metadata.deletionTimestamp) {
      if (current && !current.metadata.annotations?.[LEADER_ELECTION_ANNOTATION] && (await serviceGone(ctx, namespace, name))) await this.deleteEndpoints(ctx, current);
      return;
    }
    const selector = selectorOf(svc);
    if (!selector) return;
    const { subsets, truncated } = desiredSubsets(svc, selectedPods(inf.pods, svc, selector));
    const labels = endpointsLabels(svc);
    const annotations: Record<string, string> = { ...(current?.metadata.annotations ?? {}) };
    if (truncated) annotations[OVER_CAPACITY_ANNOTATION] = 'truncated';
    else delete annotations[OVER_CAPACITY_ANNOTATION];
    if (current && jsonEqual(current.subsets ?? [], subsets) && jsonEqual(current.metadata.labels ?? {}, labels) && jsonEqual(current.metadata.annotations ?? {}, annotations)) return;
    const written = current ? await this.update(ctx, current, subsets, labels, annotations) : await this.create(ctx, svc, subsets, labels, annotations);
    if (written) await awaitOwnWrite(inf.endpoints, written.metadata.resourceVersion);
  }

  private async create(ctx: ControllerContext, svc: KubeObject, subsets: Json[], labels: Record<string, string>, annotations: Record<string, string>): Promise<KubeObject | null> {
    const obj: KubeObject = { apiVersion: 'v1', kind: 'Endpoints', metadata: withMaps({ name: svc.metadata.name }, labels, annotations), subsets };
    try {
      return await ctx.rest.create({ r: ENDPOINTS, namespace: svc.metadata.namespace ?? '' }, obj, { dryRun: false });
    } catch (e) {
      if (isApiError(e) && e.reason === 'AlreadyExists') throw new Error('the Endpoints exist already but are not in the informer yet');
      throw e;
    }
  }

  /** Written at the version the decision was made from; a conflict is decided again. */
  private async update(ctx: ControllerContext, current: KubeObject, subsets: Json[], labels: Record<string, string>, annotations: Record<string, string>): Promise<KubeObject | null> {
    const t = { r: ENDPOINTS as ResourceInfo, namespace: current.metadata.namespace ?? '', name: current.metadata.name ?? '', subresource: '' as const };
    const change = (cur: KubeObject): KubeObject => ({ ...cur, metadata: withMaps({ ...cur.metadata }, labels, annotations), subsets });
    try {
      return await ctx.rest.modify(t, { dryRun: false }, change, current.metadata.resourceVersion ?? '');
    } catch (e) {
      if (isApiError(e) && (e.reason === 'Conflict' || e.reason === 'NotFound')) throw new Error(`the Endpoints changed meanwhile (${e.reason}); deciding again`);
      throw e;
    }
  }

  private async deleteEndpoints(ctx: ControllerContext, ep: KubeObject): Promise<void> {
    try {
      await ctx.rest.delete({ r: ENDPOINTS, namespace: ep.metadata.namespace ?? '', name: ep.metadata.name ?? '' }, { preconditions: { uid: ep.metadata.uid } }, { dryRun: false });
    } catch (e) {
      if (isApiError(e) && (e.reason === 'NotFound' || e.reason === 'Conflict')) return;
      throw e;
    }
  }
}
