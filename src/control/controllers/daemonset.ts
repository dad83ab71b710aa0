/**
 * The DaemonSet controller: one pod per eligible node — a node whose labels
 * satisfy the template's nodeSelector and required node affinity, and whose
 * NoSchedule/NoExecute taints the pod tolerates. As upstream since 1.12, the
 * pod names its node through a required node affinity on `metadata.name` and
 * the scheduler binds it. Pods on nodes no longer eligible, and duplicates,
 * are deleted. RollingUpdate replaces old-revision pods at most
 * `maxUnavailable` (default 1) unavailable at a time; OnDelete leaves it to
 * the user. DaemonSet pods tolerate what upstream's always do (not-ready,
 * unreachable, the pressure conditions, unschedulable).
 */
import type { KubeObject } from '../apiserver/index.js';
import { isApiError, objectKey } from '../apiserver/index.js';
import { RESOURCES } from '../registry/index.js';
import type { Controller, ControllerContext } from './manager.js';
import { NodeInfo, PodInfo } from '../scheduler/index.js';
import { templateHash } from './statefulset.js';
import { controllerUid, runOwnerLoop } from './owner-loop.js';

const SETS = RESOURCES.find((r) => r.resource === 'daemonsets')!;
const PODS = RESOURCES.find((r) => r.resource === 'pods')!;
const NODES = RESOURCES.find((r) => r.resource === 'nodes')!;
const WORKERS = 4;
export const DAEMONSET_RESYNC_MS = 30_000;
const EXPECTATIONS_TIMEOUT_MS = 30_000;
/** Pods created or deleted per sync at most. */
const CHANGES_PER_SYNC_MAX = 500;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** The tolerations every DaemonSet pod gets (upstream's AddOrUpdateDaemonPodTolerations). */
const DAEMON_TOLERATIONS: Json[] = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
];


function available(p: KubeObject): boolean {
  return p.status?.phase === 'Running' && (p.status?.conditions ?? []).some((c: Json) => c.type === 'Ready' && c.status === 'True');
}

/** The node a daemon pod is for: its nodeName once bound, else the name its affinity pins. */
export function targetNode(p: KubeObject): string | undefined {
  if (p.spec?.nodeName) return p.spec.nodeName;
  const terms: Json[] = p.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  for (const t of terms) for (const f of t.matchFields ?? []) if (f.key === 'metadata.name' && f.operator === 'In') return f.values?.[0];
  return undefined;
}

/**
 * Whether a daemon pod from `template` should run on `node`: the scheduler's
 * own nodeSelector / required node affinity match, and every NoSchedule and
 * NoExecute taint tolerated (with the daemon tolerations added).
 */
export function eligible(template: Json, node: KubeObject): boolean {
  return eligibleNodes(template, [node]).size === 1;
}

/** The names of the nodes a daemon pod from `template` should run on (the pod compiled once for all of them). */
export function eligibleNodes(template: Json, nodes: readonly KubeObject[]): Set<string> {
  const spec = template?.spec ?? {};
  const tolerations: Json[] = [...(spec.tolerations ?? []), ...DAEMON_TOLERATIONS];
  const pod = new PodInfo({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'daemon', namespace: 'default' }, spec: { ...spec, tolerations } });
  const out = new Set<string>();
  for (const node of nodes) {
    const info = new NodeInfo(node.metadata.name!);
    info.setNode(node);
    if (pod.matchesNodeSelectorAndAffinity(info) && pod.toleratesTaints(info, ['NoSchedule', 'NoExecute']) === null) out.add(node.metadata.name!);
  }
  return out;
}

export class DaemonSetController implements Controller {
  readonly name = 'daemonset';
  private readonly expectations = new Map<string, { names: Set<string>; atMs: number }>();

  async run(ctx: ControllerContext): Promise<void> {
    await runOwnerLoop(ctx, {
      owners: ctx.informer(SETS),
      pods: ctx.informer(PODS), alsoWatch: [ctx.informer(NODES)],
      resyncMs: DAEMONSET_RESYNC_MS,
      workers: WORKERS,
      reconcile: (key) => this.reconcile(ctx, key),
      what: 'daemonset',
    });
  }


  private async reconcile(ctx: ControllerContext, key: string): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    const set = ctx.informer(SETS).get(objectKey(SETS, namespace, name));
    if (!set || set.metadata.deletionTimestamp) return;
    const owned = ctx.informer(PODS).list(`${PODS.storagePrefix}/${namespace}/`, (p) => controllerUid(p) === set.metadata.uid && !p.metadata.deletionTimestamp, 0).items;
    const nodes = ctx.informer(NODES).all();
    const revision = templateHash(set.spec?.template);
    const wanted = eligibleNodes(set.spec?.template, nodes);
    if (this.satisfied(key, owned)) await this.sync(ctx, key, set, owned, wanted, revision);
    await this.writeStatus(ctx, set, owned, wanted, revision);
  }

  private async sync(ctx: ControllerContext, key: string, set: KubeObject, owned: KubeObject[], wanted: ReadonlySet<string>, revision: string): Promise<void> {
    const byNode = new Map<string, KubeObject[]>();
    for (const p of owned) {
      const n = targetNode(p) ?? '';
      byNode.set(n, [...(byNode.get(n) ?? []), p]);
    }
    const create: string[] = [];
    const remove: KubeObject[] = [];
    for (const n of wanted) {
      const ps = byNode.get(n) ?? [];
      if (ps.length === 0) create.push(n);
      // Duplicates: keep the oldest.
      else remove.push(...[...ps].sort((a, b) => String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp))).slice(1));
    }
    for (const [n, ps] of byNode) if (!wanted.has(n)) remove.push(...ps);
    remove.push(...this.rollingVictims(set, owned, wanted, revision, remove));
    if (create.length === 0 && remove.length === 0) return;
    const e = { names: new Set<string>(), atMs: Date.now() };
    this.expectations.set(key, e);
    for (const n of create.slice(0, CHANGES_PER_SYNC_MAX)) {
      const created = await ctx.rest.create({ r: PODS, namespace: set.metadata.namespace! }, this.podFor(set, n, revision), { dryRun: false });
      e.names.add(`+${created.metadata.name}`);
    }
    for (const p of remove.slice(0, CHANGES_PER_SYNC_MAX)) {
      e.names.add(`-${p.metadata.name}`);
      try {
        await ctx.rest.delete({ r: PODS, namespace: p.metadata.namespace!, name: p.metadata.name! }, { preconditions: { uid: p.metadata.uid } }, { dryRun: false });
      } catch (err) {
        if (!(isApiError(err) && (err.reason === 'NotFound' || err.reason === 'Conflict'))) throw err;
      }
    }
  }

  /** Old-revision pods to replace now: as many as keep at most maxUnavailable daemon pods unavailable. */
  private rollingVictims(set: KubeObject, owned: KubeObject[], wanted: ReadonlySet<string>, revision: string, already: KubeObject[]): KubeObject[] {
    const strategy = set.spec?.updateStrategy ?? {};
    if (strategy.type === 'OnDelete') return [];
    const maxUnavailable = resolveIntOrPercent(strategy.rollingUpdate?.maxUnavailable ?? 1, wanted.size);
    const going = new Set(already.map((p) => p.metadata.uid));
    const live = owned.filter((p) => !going.has(p.metadata.uid) && wanted.has(targetNode(p) ?? ''));
    const missing = [...wanted].filter((n) => !live.some((p) => targetNode(p) === n)).length;
    let unavailable = missing + live.filter((p) => !available(p)).length;
    const out: KubeObject[] = [];
    // Unavailable old pods first (replacing them costs nothing), then available ones within the budget.
    const old = live.filter((p) => p.metadata.labels?.['controller-revision-hash'] !== revision).sort((a, b) => Number(available(a)) - Number(available(b)));
    for (const p of old) {
      if (!available(p)) out.push(p);
      else if (unavailable < maxUnavailable) {
        out.push(p);
        unavailable++;
      }
    }
    return out;
  }

  private podFor(set: KubeObject, node: string, revision: string): KubeObject {
    const t = structuredClone(set.spec?.template ?? {});
    const meta = t.metadata ?? {};
    const spec = t.spec ?? {};
    const terms = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [{}];
    // Every term must now also pin the node (upstream replaces matchFields on metadata.name).
    const pinned = terms.map((term: Json) => ({ ...term, matchFields: [{ key: 'metadata.name', operator: 'In', values: [node] }] }));
    const tolerations = [...(spec.tolerations ?? [])];
    for (const d of DAEMON_TOLERATIONS) if (!tolerations.some((x: Json) => x.key === d.key && x.effect === d.effect)) tolerations.push(d);
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName: `${set.metadata.name}-`,
        labels: { ...(meta.labels ?? {}), 'controller-revision-hash': revision, 'pod-template-generation': String(set.metadata.generation ?? 1) },
        ...(meta.annotations ? { annotations: meta.annotations } : {}),
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: set.metadata.name!, uid: set.metadata.uid!, controller: true, blockOwnerDeletion: true }],
      },
      spec: { ...spec, tolerations, affinity: { ...spec.affinity, nodeAffinity: { ...spec.affinity?.nodeAffinity, requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: pinned } } } },
    };
  }

  private satisfied(key: string, owned: KubeObject[]): boolean {
    const e = this.expectations.get(key);
    if (!e) return true;
    const names = new Set(owned.map((p) => p.metadata.name));
    const settled = [...e.names].every((n) => (n.startsWith('+') ? names.has(n.slice(1)) : !names.has(n.slice(1))));
    const expired = Date.now() - e.atMs > EXPECTATIONS_TIMEOUT_MS;
    if (settled || expired) this.expectations.delete(key);
    return settled || expired;
  }

  private async writeStatus(ctx: ControllerContext, set: KubeObject, owned: KubeObject[], wanted: ReadonlySet<string>, revision: string): Promise<void> {
    const scheduledOn = new Set(owned.filter((p) => p.spec?.nodeName).map((p) => p.spec.nodeName as string));
    const onWanted = owned.filter((p) => wanted.has(targetNode(p) ?? ''));
    const cur = set.status ?? {};
    const next = {
      ...cur,
      observedGeneration: set.metadata.generation,
      desiredNumberScheduled: wanted.size,
      currentNumberScheduled: [...scheduledOn].filter((n) => wanted.has(n)).length,
      numberMisscheduled: [...scheduledOn].filter((n) => !wanted.has(n)).length,
      numberReady: onWanted.filter(available).length,
      numberAvailable: onWanted.filter(available).length,
      numberUnavailable: Math.max(0, wanted.size - onWanted.filter(available).length),
      updatedNumberScheduled: onWanted.filter((p) => p.metadata.labels?.['controller-revision-hash'] === revision && p.spec?.nodeName).length,
    };
    if (JSON.stringify(next) === JSON.stringify(cur)) return;
    try {
      await ctx.rest.modify({ r: SETS, namespace: set.metadata.namespace!, name: set.metadata.name!, subresource: 'status' }, { dryRun: false }, (c) => ({ ...c, status: next }), set.metadata.resourceVersion);
    } catch (e) {
      if (!(isApiError(e) && (e.reason === 'Conflict' || e.reason === 'NotFound'))) throw e;
    }
  }
}

/** An int-or-percent of `total`; a DaemonSet's maxUnavailable percentage rounds up, as upstream's. */
export function resolveIntOrPercent(v: unknown, total: number): number {
  if (typeof v === 'number') return v;
  const m = typeof v === 'string' ? /^(\d+)%$/.exec(v) : null;
  return m ? Math.ceil((Number(m[1]) * total) / 100) : 1;
}
