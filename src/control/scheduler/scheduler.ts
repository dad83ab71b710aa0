/**
 * The scheduler as a control loop of the Raft leader. `SchedulingLoop` is
 * the store-free core (cache, queue, framework, event routing, one
 * scheduling cycle); `Scheduler` wires it to the informers and writes
 * bindings and PodScheduled=False conditions through the fenced Rest.
 *
 * A cycle is synchronous up to the moment the pod is assumed on its node;
 * the bind (a store write) then runs in the background, bounded by
 * `maxBindsInFlight`, so the next pod is scheduled meanwhile and already
 * sees the assumed one. A failed bind forgets the assumption and requeues.
 */
import type { Logger } from 'pino';
import type { KubeObject } from '../apiserver/index.js';
import { isApiError, timestamp as rfc3339 } from '../apiserver/index.js';
import { RESOURCES } from '../registry/index.js';
import type { Controller, ControllerContext } from '../controllers/manager.js';
import { aborted, onStop } from '../controllers/manager.js';
import { SchedulerCache } from './cache.js';
import { defaultProfile, Framework, type FrameworkOptions } from './framework.js';
import { DEFAULT_SCHEDULER_NAME, PodInfo } from './pod-info.js';
import { defaultBinder } from './plugins/default-binder.js';
import { INTER_POD_AFFINITY } from './plugins/inter-pod-affinity.js';
import { POD_TOPOLOGY_SPREAD } from './plugins/pod-topology-spread.js';
import { SchedulingQueue } from './queue.js';
import { FitError, type Profile } from './types.js';

const PODS = RESOURCES.find((r) => r.resource === 'pods' && r.group === '')!;
const NODES = RESOURCES.find((r) => r.resource === 'nodes' && r.group === '')!;
const NAMESPACES = RESOURCES.find((r) => r.resource === 'namespaces' && r.group === '')!;

/** Binds and status writes in flight at once; the scheduling loop waits for a slot past this. */
export const MAX_BINDS_IN_FLIGHT = 64;
/** How often the backoff queue is looked at. */
export const QUEUE_FLUSH_INTERVAL_MS = 100;

export interface SchedulerOptions extends FrameworkOptions {
  maxBindsInFlight: number;
}

export type BindFn = (pod: PodInfo, nodeName: string) => Promise<void>;
export type ReportFn = (pod: PodInfo, message: string) => Promise<void>;

/** Scheduling-relevant parts of a node: other changes (heartbeats, conditions) do not requeue pods. */
function nodeSignature(n: KubeObject): string {
  return JSON.stringify([n.metadata.labels ?? null, n.spec?.taints ?? null, n.spec?.unschedulable ?? false, n.status?.allocatable ?? null, n.status?.images?.length ?? 0]);
}

/** Whether a pending pod changed in a way that may change where it fits. */
function podSpecChanged(a: KubeObject, b: KubeObject): boolean {
  return JSON.stringify([a.metadata.labels ?? null, a.spec]) !== JSON.stringify([b.metadata.labels ?? null, b.spec]);
}

const AFFINITY_PLUGINS = new Set([INTER_POD_AFFINITY, POD_TOPOLOGY_SPREAD]);
const rejectedOnAffinity = (plugins: ReadonlySet<string>): boolean => [...plugins].some((p) => AFFINITY_PLUGINS.has(p));

export class SchedulingLoop {
  readonly cache = new SchedulerCache();
  readonly queue: SchedulingQueue;
  readonly framework: Framework;
  readonly profile: Profile;
  /** Counters for tests, the bench and /metrics. */
  readonly stats = { scheduled: 0, unschedulable: 0, bindFailures: 0 };

  constructor(
    bind: BindFn,
    private readonly report: ReportFn,
    o: Partial<FrameworkOptions> = {},
    private readonly logger: Logger | null = null,
  ) {
    this.profile = defaultProfile(defaultBinder(bind));
    this.framework = new Framework(this.profile, o);
    this.queue = new SchedulingQueue((a, b) => this.profile.queueSort.less(a, b));
  }

  /** Whether this scheduler should place the pod. */
  responsibleFor(pod: KubeObject): boolean {
    const name = typeof pod.spec?.schedulerName === 'string' && pod.spec.schedulerName !== '' ? pod.spec.schedulerName : DEFAULT_SCHEDULER_NAME;
    return name === this.profile.schedulerName && !pod.spec?.nodeName && !pod.metadata.deletionTimestamp;
  }

  onPod(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: KubeObject, old: KubeObject | undefined): void {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    if (type === 'DELETED') {
      const wasPlaced = this.cache.placement(key) !== undefined;
      this.cache.removePod(key);
      this.queue.delete(key);
      if (wasPlaced) this.queue.moveAll();
      return;
    }
    if (pod.spec?.nodeName) return this.onBoundPod(key, pod, old);
    if (!this.responsibleFor(pod)) return this.queue.delete(key);
    if (this.cache.isAssumed(key)) return; // our bind is on its way
    this.queue.addOrUpdate(new PodInfo(pod), old === undefined || podSpecChanged(old, pod));
  }

  private onBoundPod(key: string, pod: KubeObject, old: KubeObject | undefined): void {
    this.queue.delete(key);
    const info = new PodInfo(pod);
    const before = this.cache.placement(key);
    this.cache.addOrUpdateBoundPod(info);
    if (info.terminated) {
      if (before) this.queue.moveAll(); // its resources are free again
      return;
    }
    const labelsChanged = old !== undefined && JSON.stringify(old.metadata.labels ?? null) !== JSON.stringify(pod.metadata.labels ?? null);
    if (!before || before.assumed || labelsChanged) this.queue.moveAll(rejectedOnAffinity);
  }

  onNode(type: 'ADDED' | 'MODIFIED' | 'DELETED', node: KubeObject, old: KubeObject | undefined): void {
    if (type === 'DELETED') return this.cache.removeNode(node.metadata.name!);
    this.cache.addOrUpdateNode(node);
    if (type === 'ADDED' || !old || nodeSignature(old) !== nodeSignature(node)) this.queue.moveAll();
  }

  onNamespace(type: 'ADDED' | 'MODIFIED' | 'DELETED', ns: KubeObject): void {
    this.cache.setNamespace(ns.metadata.name!, type === 'DELETED' ? null : ((ns.metadata.labels ?? {}) as Record<string, string>));
  }

  /**
   * One scheduling cycle for `info`: chooses a node and assumes the pod there
   * (synchronously), then returns the bind in flight; or parks the pod and
   * returns the status write. Null when there is nothing to do.
   */
  scheduleOne(info: PodInfo): Promise<void> | null {
    if (this.cache.placement(info.key)) return null; // already assumed or bound
    let node: string;
    try {
      node = this.framework.schedule(info, this.cache).node;
    } catch (e) {
      if (!(e instanceof FitError)) throw e;
      this.stats.unschedulable++;
      this.queue.addUnschedulable(info, new Set(e.plugins));
      return this.report(info, e.message).catch((err: unknown) => this.logger?.warn({ err, pod: info.key }, 'could not record that the pod is unschedulable'));
    }
    this.cache.assume(info, node);
    return this.profile.bind.bind(info, node).then(
      () => {
        this.stats.scheduled++;
        this.queue.forget(info.key);
      },
      (err: unknown) => this.bindFailed(info, node, err),
    );
  }

  private bindFailed(info: PodInfo, node: string, err: unknown): void {
    this.stats.bindFailures++;
    this.cache.forget(info.key);
    // Already bound, or gone: the informer tells the rest.
    if (isApiError(err) && (err.reason === 'Conflict' || err.reason === 'NotFound')) return;
    this.logger?.warn({ err, pod: info.key, node }, 'binding failed; retrying after backoff');
    this.queue.addUnschedulable(info, new Set());
  }
}


function setPodScheduled(pod: KubeObject, cond: Record<string, unknown>): void {
  const status = pod.status && typeof pod.status === 'object' ? pod.status : (pod.status = {});
  const conds = Array.isArray(status.conditions) ? status.conditions.filter((c: { type?: string }) => c?.type !== 'PodScheduled') : [];
  conds.push(cond);
  status.conditions = conds;
}

/** The condition an unschedulable pod gets; unchanged (no write) when it already says the same. */
export function unschedulableChange(message: string, now: Date): (pod: KubeObject) => KubeObject {
  return (pod) => {
    const cur = (pod.status?.conditions ?? []).find((c: { type?: string }) => c?.type === 'PodScheduled');
    if (pod.spec?.nodeName || (cur?.status === 'False' && cur.reason === 'Unschedulable' && cur.message === message)) return pod;
    const since = cur?.status === 'False' && cur.lastTransitionTime ? cur.lastTransitionTime : rfc3339(now);
    setPodScheduled(pod, { type: 'PodScheduled', status: 'False', lastProbeTime: null, lastTransitionTime: since, reason: 'Unschedulable', message });
    return pod;
  };
}

export class Scheduler implements Controller {
  readonly name = 'scheduler';
  /** The loop of the current leadership (for tests and metrics). */
  loop: SchedulingLoop | null = null;
  private readonly o: SchedulerOptions;

  constructor(o: Partial<SchedulerOptions> = {}) {
    this.o = { percentageOfNodesToScore: 0, random: Math.random, maxBindsInFlight: MAX_BINDS_IN_FLIGHT, ...o };
  }

  async run(ctx: ControllerContext): Promise<void> {
    const w = { dryRun: false };
    const events = ctx.recorder('default-scheduler');
    const bind: BindFn = (pod, node) =>
      ctx.rest.bind(pod.namespace, pod.name, node, w).then((bound) => events.event(bound, 'Normal', 'Scheduled', `Successfully assigned ${pod.namespace}/${pod.name} to ${node}`));
    const report: ReportFn = (pod, message) =>
      ctx.rest.modify({ r: PODS, namespace: pod.namespace, name: pod.name, subresource: 'status' }, w, unschedulableChange(message, new Date())).then(
        (p) => events.event(p, 'Warning', 'FailedScheduling', message),
        (e: unknown) => {
          if (!(isApiError(e) && e.reason === 'NotFound')) throw e;
        },
      );
    const loop = new SchedulingLoop(bind, report, this.o, ctx.logger);
    this.loop = loop;
    const informers = [ctx.informer(NAMESPACES), ctx.informer(NODES), ctx.informer(PODS)];
    await Promise.all(informers.map((i) => i.loaded));
    // Nodes before pods, so that the first pods see every node.
    informers[0]!.onChange((type, ns) => loop.onNamespace(type, ns));
    informers[1]!.onChange((type, n, old) => loop.onNode(type, n, old));
    informers[2]!.onChange((type, p, old) => loop.onPod(type, p, old));
    const flush = setInterval(() => loop.queue.flush(), QUEUE_FLUSH_INTERVAL_MS);
    flush.unref();
    onStop(ctx.stopped, () => loop.queue.close());
    try {
      await Promise.all([this.schedulePods(loop, ctx), aborted(ctx.stopped)]);
    } finally {
      clearInterval(flush);
    }
  }

  private async schedulePods(loop: SchedulingLoop, ctx: ControllerContext): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    for (;;) {
      while (inFlight.size >= this.o.maxBindsInFlight) await Promise.race(inFlight);
      const pod = await loop.queue.pop();
      if (pod === null || ctx.stopped.aborted) break;
      let p: Promise<void> | null = null;
      try {
        p = loop.scheduleOne(pod);
      } catch (err) {
        ctx.logger.error({ err, pod: pod.key }, 'scheduling cycle failed');
        loop.queue.addUnschedulable(pod, new Set());
      }
      if (p) {
        const tracked: Promise<void> = p.finally(() => inFlight.delete(tracked));
        inFlight.add(tracked);
      }
    }
    await Promise.allSettled(inFlight);
  }
}
