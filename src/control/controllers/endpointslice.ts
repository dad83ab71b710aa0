/**
 * The EndpointSlice controller: for every Service with a selector, the Pods
 * it selects (with an IP, not terminating, not finished) as
 * discovery.k8s.io/v1 EndpointSlices of addressType IPv4, at most
 * ENDPOINTSLICE_MAX_ENDPOINTS endpoints each, one set of slices per distinct
 * port set (a named targetPort may resolve differently per pod). Each slice
 * carries `kubernetes.io/service-name`, `endpointslice.kubernetes.io/managed-by`
 * and a controller ownerReference to the Service, so the garbage collector
 * removes the slices of a deleted Service. A Service with no endpoints keeps
 * one empty placeholder slice, as upstream.
 *
 * Churn is kept low the way upstream's reconciler does it: an endpoint
 * stays in the slice it is in; new endpoints fill slices with room before
 * new slices are made; emptied slices are deleted. Nothing is written unless
 * a slice's content differs; updates are compare-guarded (resourceVersion);
 * a worker waits for its informer to see its writes before the next
 * reconcile of the same Service, so it never creates a slice twice.
 *
 * Services without a selector are left alone (their slices are the user's).
 */
import type { KubeObject } from '../apiserver/index.js';
import { isApiError, objectKey } from '../apiserver/index.js';
import type { ResourceCache } from '../apiserver/index.js';
import { RESOURCES } from '../registry/index.js';
import {
  HEADLESS_LABEL,
  PODS,
  SERVICES,
  awaitOwnWrite,
  isHeadless,
  jsonEqual,
  podHostname,
  podPorts,
  podReady,
  podRef,
  podServes,
  portsKey,
  queueServicesOf,
  runQueue,
  selectedPods,
  selectorOf,
  type EndpointPortJson,
} from './endpoints.js';
import type { Controller, ControllerContext } from './manager.js';
import { WorkQueue } from './workqueue.js';

export const ENDPOINTSLICE_MAX_ENDPOINTS = 100;
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const MANAGED_BY = 'endpointslice-controller.k8s.io';
const WORKERS = 4;

const SLICES = RESOURCES.find((r) => r.resource === 'endpointslices')!;

type Json = Record<string, unknown>;

interface Group {
  ports: EndpointPortJson[];
  /** endpoint id (pod uid) → endpoint, in pod name order. */
  endpoints: Map<string, Json>;
}

/** What one slice should be: an existing one (name set) or a new one. */
export interface SlicePlan {
  name: string | null;
  ports: EndpointPortJson[];
  endpoints: Json[];
}

function endpointOf(svc: KubeObject, pod: KubeObject): Json {
  const ready = podReady(pod);
  const e: Json = {
    addresses: [pod.status!.podIP],
    conditions: { ready: ready || svc.spec?.publishNotReadyAddresses === true, serving: ready, terminating: false },
    targetRef: podRef(pod),
  };
  const host = podHostname(svc, pod);
  if (host) e.hostname = host;
  if (typeof pod.spec?.nodeName === 'string' && pod.spec.nodeName !== '') e.nodeName = pod.spec.nodeName;
  return e;
}

function idOf(e: Json): string {
  const ref = e.targetRef as Json | undefined;
  return typeof ref?.uid === 'string' ? ref.uid : String((e.addresses as unknown[] | undefined)?.[0]);
}

/** The desired endpoints of `svc`, grouped by port set (pure). */
export function desiredGroups(svc: KubeObject, pods: readonly KubeObject[]): Map<string, Group> {
  const groups = new Map<string, Group>();
  const hasPorts = Array.isArray(svc.spec?.ports) && svc.spec.ports.length > 0;
  for (const pod of pods) {
    if (!podServes(pod)) continue;
    const ports = podPorts(svc, pod);
    if (hasPorts && ports.length === 0) continue;
    const key = portsKey(ports);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { ports: [...ports].sort((a, b) => (portsKey([a]) < portsKey([b]) ? -1 : 1)), endpoints: new Map() }));
    g.endpoints.set(idOf(endpointOf(svc, pod)), endpointOf(svc, pod));
  }
  // No endpoints at all: one empty placeholder slice.
  if (groups.size === 0) groups.set('', { ports: [], endpoints: new Map() });
  return groups;
}

/**
 * The slices to have (pure): existing slices keep the endpoints still
 * wanted (in their current version), new endpoints fill slices with room,
 * then new slices; slices left empty (but a placeholder) are to be deleted.
 */
export function planSlices(existing: readonly KubeObject[], groups: Map<string, Group>, max = ENDPOINTSLICE_MAX_ENDPOINTS): { keep: SlicePlan[]; remove: KubeObject[] } {
  const keep: SlicePlan[] = [];
  const remove: KubeObject[] = [];
  const used = new Set<string>();
  const byKey = new Map<string, KubeObject[]>();
  for (const s of [...existing].sort((a, b) => ((a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : 1))) {
    const k = portsKey(Array.isArray(s.ports) ? (s.ports as EndpointPortJson[]) : []);
    if (!groups.has(k)) remove.push(s);
    else byKey.set(k, [...(byKey.get(k) ?? []), s]);
  }
  for (const [k, g] of groups) {
    const plans: SlicePlan[] = [];
    for (const s of byKey.get(k) ?? []) {
      const eps: Json[] = [];
      for (const e of Array.isArray(s.endpoints) ? (s.endpoints as Json[]) : []) {
        const id = idOf(e);
        const want = g.endpoints.get(id);
        if (!want || used.has(id) || eps.length >= max) continue;
        used.add(id);
        eps.push(want);
      }
      plans.push({ name: s.metadata.name ?? null, ports: g.ports, endpoints: eps });
    }
    const fresh = [...g.endpoints].filter(([id]) => !used.has(id)).map(([, e]) => e);
    for (const p of plans) while (p.endpoints.length < max && fresh.length > 0) p.endpoints.push(fresh.shift()!);
    while (fresh.length > 0) plans.push({ name: null, ports: g.ports, endpoints: fresh.splice(0, max) });
    const placeholder = g.endpoints.size === 0;
    let kept = 0;
    for (const p of plans) {
      if (p.endpoints.length > 0 || (placeholder && kept === 0)) {
        keep.push(p);
        kept++;
      } else remove.push((byKey.get(k) ?? []).find((s) => s.metadata.name === p.name)!);
    }
    if (placeholder && kept === 0) keep.push({ name: null, ports: [], endpoints: [] });
  }
  return { keep, remove };
}

function sliceLabels(svc: KubeObject): Record<string, string> {
  const labels: Record<string, string> = { ...(svc.metadata.labels ?? {}), [SERVICE_NAME_LABEL]: svc.metadata.name ?? '', [MANAGED_BY_LABEL]: MANAGED_BY };
  if (isHeadless(svc)) labels[HEADLESS_LABEL] = '';
  else delete labels[HEADLESS_LABEL];
  return labels;
}

function ownerOf(svc: KubeObject): Json {
  return { apiVersion: 'v1', kind: 'Service', name: svc.metadata.name, uid: svc.metadata.uid, controller: true, blockOwnerDeletion: true };
}

function ownedBy(slice: KubeObject, svc: KubeObject): boolean {
  return (slice.metadata.ownerReferences ?? []).some((o) => o.uid === svc.metadata.uid);
}

export class EndpointSliceController implements Controller {
  readonly name = 'endpointslice';

  async run(ctx: ControllerContext): Promise<void> {
    const queue = new WorkQueue();
    const services = ctx.informer(SERVICES);
    const pods = ctx.informer(PODS);
    const slices = ctx.informer(SLICES);
    services.onChange((_t, svc) => queue.add(`${svc.metadata.namespace}/${svc.metadata.name}`));
    pods.onChange((_t, pod, old) => queueServicesOf(services, queue, pod, old));
    // A managed slice changed or deleted by someone else is set right again.
    slices.onChange((_t, s) => {
      const labels = s.metadata.labels ?? {};
      if (labels[MANAGED_BY_LABEL] === MANAGED_BY && labels[SERVICE_NAME_LABEL]) queue.add(`${s.metadata.namespace}/${labels[SERVICE_NAME_LABEL]}`);
    });
    await runQueue(ctx, queue, WORKERS, 'endpointslice sync', (key) => this.reconcile(ctx, key, { services, pods, slices }));
  }

  private async reconcile(ctx: ControllerContext, key: string, inf: { services: ResourceCache; pods: ResourceCache; slices: ResourceCache }): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    const svc = inf.services.get(objectKey(SERVICES, namespace, name));
    // A deleted service's slices go with it through their ownerReference (garbage collector).
    if (!svc || svc.metadata.deletionTimestamp) return;
    const selector = selectorOf(svc);
    if (!selector) return;
    const existing = inf.slices.list(`${SLICES.storagePrefix}/${namespace}/`, (s) => {
      const l = s.metadata.labels ?? {};
      return l[SERVICE_NAME_LABEL] === name && l[MANAGED_BY_LABEL] === MANAGED_BY && ownedBy(s, svc);
    }, 0).items;
    const { keep, remove } = planSlices(existing, desiredGroups(svc, selectedPods(inf.pods, svc, selector)));
    const labels = sliceLabels(svc);
    const owners = [ownerOf(svc)];
    let lastRv: string | undefined;
    for (const p of keep) {
      const cur = p.name === null ? undefined : existing.find((s) => s.metadata.name === p.name);
      const written = cur ? await this.update(ctx, cur, p, labels, owners) : await this.create(ctx, svc, p, labels, owners);
      if (written) lastRv = written.metadata.resourceVersion;
    }
    for (const s of remove) await this.remove(ctx, s);
    if (remove.length > 0) lastRv = String(await ctx.rest.store.currentRevision());
    await awaitOwnWrite(inf.slices, lastRv);
  }

  private async create(ctx: ControllerContext, svc: KubeObject, p: SlicePlan, labels: Record<string, string>, owners: Json[]): Promise<KubeObject> {
    const obj: KubeObject = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { generateName: `${svc.metadata.name}-`, labels, ownerReferences: owners as never },
      addressType: 'IPv4',
      endpoints: p.endpoints,
      ports: p.ports,
    };
    return ctx.rest.create({ r: SLICES, namespace: svc.metadata.namespace ?? '' }, obj, { dryRun: false });
  }

  /** Null when the slice already is as planned. */
  private async update(ctx: ControllerContext, cur: KubeObject, p: SlicePlan, labels: Record<string, string>, owners: Json[]): Promise<KubeObject | null> {
    const same = jsonEqual(cur.endpoints ?? [], p.endpoints) && jsonEqual(cur.ports ?? [], p.ports) && jsonEqual(cur.metadata.labels ?? {}, labels) && jsonEqual(cur.metadata.ownerReferences ?? [], owners);
    if (same) return null;
    const t = { r: SLICES, namespace: cur.metadata.namespace ?? '', name: cur.metadata.name ?? '', subresource: '' as const };
    const change = (c: KubeObject): KubeObject => ({ ...c, metadata: { ...c.metadata, labels, ownerReferences: owners as never }, endpoints: p.endpoints, ports: p.ports });
    try {
      return await ctx.rest.modify(t, { dryRun: false }, change, cur.metadata.resourceVersion ?? '');
    } catch (e) {
      if (isApiError(e) && (e.reason === 'Conflict' || e.reason === 'NotFound')) throw new Error(`the EndpointSlice changed meanwhile (${e.reason}); deciding again`);
      throw e;
    }
  }

  private async remove(ctx: ControllerContext, s: KubeObject): Promise<void> {
    try {
      await ctx.rest.delete({ r: SLICES, namespace: s.metadata.namespace ?? '', name: s.metadata.name ?? '' }, { preconditions: { uid: s.metadata.uid } }, { dryRun: false });
    } catch (e) {
      if (isApiError(e) && (e.reason === 'NotFound' || e.reason === 'Conflict')) return;
      throw e;
    }
  }
}
