/**
 * Node lifecycle, as upstream's node lifecycle controller and its NoExecute
 * taint manager:
 * - a node whose heartbeat (its Lease in kube-node-lease, or its Ready
 *   condition's lastHeartbeatTime) is older than the grace period gets its
 *   conditions set to Unknown ("Kubelet stopped posting node status.") and
 *   the `node.kubernetes.io/unreachable:NoExecute` taint; a node that reports
 *   Ready=False gets `node.kubernetes.io/not-ready:NoExecute`; a node healthy
 *   again loses them;
 * - pods on a node with a NoExecute taint they do not tolerate are deleted
 *   at once; those that tolerate it for `tolerationSeconds` (every pod does,
 *   for 300 s, by the API's defaults) are deleted when that time has passed
 *   since the taint was added — gracefully, so on a dead node they stay
 *   Terminating, but their controllers no longer count them and replace them;
 * - nodes without a pod CIDR get one: a /24 of the cluster CIDR, unique
 *   (the stored nodes are the record of what is taken, plus the blocks this
 *   leader has handed out and not yet seen back: two nodes registering at
 *   once are reconciled by different workers, and a write guarded by its
 *   own node's version alone would let both take the same block).
 */
import type { KubeObject } from '../apiserver/index.js';
import { isApiError, objectKey, timestamp as rfc3339 } from '../apiserver/index.js';
import { RESOURCES, type ResourceInfo } from '../registry/index.js';
import { type Controller, type ControllerContext, aborted, onStop } from './manager.js';
import { WorkQueue, runWorkers } from './workqueue.js';

export const TAINT_UNREACHABLE = 'node.kubernetes.io/unreachable';
export const TAINT_NOT_READY = 'node.kubernetes.io/not-ready';
const CONDITIONS_SET_UNKNOWN = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'];

export interface NodeLifecycleOptions {
  /** No heartbeat for this long: the node is unreachable (upstream --node-monitor-grace-period). */
  gracePeriodMs: number;
  /** How often every node is looked at (upstream --node-monitor-period). */
  monitorPeriodMs: number;
  /** Pod CIDRs are /`podCidrMaskSize` blocks of this range; '' disables allocation. */
  clusterCidr: string;
  podCidrMaskSize: number;
}

export const NODE_LIFECYCLE_DEFAULTS: NodeLifecycleOptions = { gracePeriodMs: 40_000, monitorPeriodMs: 5_000, clusterCidr: '10.244.0.0/16', podCidrMaskSize: 24 };

const NODES = RESOURCES.find((r) => r.resource === 'nodes')!;
const PODS = RESOURCES.find((r) => r.resource === 'pods')!;
const LEASES = RESOURCES.find((r) => r.resource === 'leases')!;
const WORKERS = 4;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

function timestamp(ms: number): string {
  return rfc3339(new Date(ms));
}

export class NodeLifecycleController implements Controller {
  readonly name = 'node-lifecycle';
  private readonly o: NodeLifecycleOptions;

  constructor(o: Partial<NodeLifecycleOptions> = {}) {
    this.o = { ...NODE_LIFECYCLE_DEFAULTS, ...o };
  }

  /** Pod CIDRs this leadership handed out → the node (until the informer shows them). */
  private reserved = new Map<string, string>();

  async run(ctx: ControllerContext): Promise<void> {
    this.reserved = new Map();
    const nodes = ctx.informer(NODES);
    const pods = ctx.informer(PODS);
    const leases = ctx.informer(LEASES);
    const queue = new WorkQueue();
    nodes.onChange((_t, n) => queue.add(`node/${n.metadata.name}`));
    leases.onChange((_t, l) => l.metadata.namespace === 'kube-node-lease' && queue.add(`node/${l.metadata.name}`));
    pods.onChange((t, p) => t !== 'DELETED' && p.spec?.nodeName && queue.add(`node/${p.spec.nodeName}`));
    // A node silent for the grace period produces no event: look at every node periodically.
    const timer = setInterval(() => {
      for (const n of nodes.all()) queue.add(`node/${n.metadata.name}`);
    }, this.o.monitorPeriodMs);
    onStop(ctx.stopped, () => {
      clearInterval(timer);
      queue.shutDown();
    });
    await Promise.all([
      runWorkers(queue, WORKERS, (key) => this.reconcile(ctx, key.slice('node/'.length), queue), (key, e) => ctx.logger.warn({ err: e, key }, 'node lifecycle failed; retrying')),
      aborted(ctx.stopped),
    ]);
  }

  private async reconcile(ctx: ControllerContext, name: string, queue: WorkQueue): Promise<void> {
    const node = ctx.informer(NODES).get(objectKey(NODES, '', name));
    if (!node) return;
    if (this.o.clusterCidr && !node.spec?.podCIDR) await this.allocateCidr(ctx, node);
    const now = Date.now();
    const lastBeat = this.lastHeartbeatMs(ctx, node);
    const ready = (node.status?.conditions ?? []).find((c: Json) => c.type === 'Ready');
    const silent = lastBeat === null ? false : now - lastBeat > this.o.gracePeriodMs;
    if (silent && ready?.status !== 'Unknown') await this.markUnknown(ctx, name, now);
    const readyNow = silent ? 'Unknown' : ready?.status;
    const wantTaint = readyNow === 'Unknown' ? TAINT_UNREACHABLE : readyNow === 'False' ? TAINT_NOT_READY : null;
    await this.setTaints(ctx, node, wantTaint, now);
    const next = await this.evict(ctx, node, now);
    if (next !== null) queue.addAfter(`node/${name}`, next);
  }

  /** The newest of the node's Lease renewal and its Ready heartbeat (null: it never posted one). */
  private lastHeartbeatMs(ctx: ControllerContext, node: KubeObject): number | null {
    const lease = ctx.informer(LEASES).get(objectKey(LEASES, 'kube-node-lease', node.metadata.name!));
    const times: number[] = [];
    if (lease?.spec?.renewTime) times.push(Date.parse(lease.spec.renewTime));
    const ready = (node.status?.conditions ?? []).find((c: Json) => c.type === 'Ready');
    if (ready?.lastHeartbeatTime) times.push(Date.parse(ready.lastHeartbeatTime));
    // A node that never heartbeat is judged from its creation.
    if (times.length === 0 && node.metadata.creationTimestamp) times.push(Date.parse(node.metadata.creationTimestamp));
    const t = Math.max(...times.filter((x) => !Number.isNaN(x)));
    return Number.isFinite(t) ? t : null;
  }

  private async markUnknown(ctx: ControllerContext, name: string, now: number): Promise<void> {
    await this.modify(ctx, NODES, '', name, 'status', (cur) => {
      const conds: Json[] = Array.isArray(cur.status?.conditions) ? cur.status.conditions : [];
      const byType = new Map(conds.map((c) => [c.type, c]));
      for (const type of CONDITIONS_SET_UNKNOWN) {
        const c = byType.get(type) ?? { type };
        byType.set(type, { ...c, status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastTransitionTime: c.status === 'Unknown' ? c.lastTransitionTime : timestamp(now) });
      }
      return { ...cur, status: { ...cur.status, conditions: [...byType.values()] } };
    });
    ctx.logger.info({ node: name }, 'node stopped posting status: Unknown');
    const node = ctx.informer(NODES).get(objectKey(NODES, '', name));
    if (node) ctx.recorder('node-controller').event(node, 'Normal', 'NodeNotReady', `Node ${name} status is now: NodeNotReady`);
  }

  /** Exactly `want` among our two NoExecute taints (others untouched). */
  private async setTaints(ctx: ControllerContext, node: KubeObject, want: string | null, now: number): Promise<void> {
    const taints: Json[] = Array.isArray(node.spec?.taints) ? node.spec.taints : [];
    const ours = taints.filter((t) => t.effect === 'NoExecute' && (t.key === TAINT_UNREACHABLE || t.key === TAINT_NOT_READY));
    if (ours.length === (want ? 1 : 0) && (!want || ours[0]?.key === want)) return;
    await this.modify(ctx, NODES, '', node.metadata.name!, '', (cur) => {
      const kept = (Array.isArray(cur.spec?.taints) ? cur.spec.taints : []).filter((t: Json) => !(t.effect === 'NoExecute' && (t.key === TAINT_UNREACHABLE || t.key === TAINT_NOT_READY)));
      const next = want ? [...kept, { key: want, effect: 'NoExecute', timeAdded: timestamp(now) }] : kept;
      const spec = { ...cur.spec, taints: next };
      if (next.length === 0) delete spec.taints;
      return { ...cur, spec };
    });
  }

  /**
   * Deletes the node's pods that do not tolerate its NoExecute taints, now or
   * once their tolerationSeconds have passed; returns the ms until the next
   * such deadline (null: none pending).
   */
  private async evict(ctx: ControllerContext, node: KubeObject, now: number): Promise<number | null> {
    const taints: Json[] = (Array.isArray(node.spec?.taints) ? node.spec.taints : []).filter((t: Json) => t.effect === 'NoExecute');
    if (taints.length === 0) return null;
    let next: number | null = null;
    const podsOnNode = ctx.informer(PODS).all().filter((p) => p.spec?.nodeName === node.metadata.name && !p.metadata.deletionTimestamp);
    for (const pod of podsOnNode) {
      const deadline = evictionDeadline(pod, taints);
      if (deadline === Infinity) continue;
      if (deadline <= now) await this.deletePod(ctx, pod);
      else next = Math.min(next ?? Infinity, deadline - now);
    }
    return next;
  }

  private async deletePod(ctx: ControllerContext, pod: KubeObject): Promise<void> {
    try {
      await ctx.rest.delete({ r: PODS, namespace: pod.metadata.namespace!, name: pod.metadata.name! }, { preconditions: { uid: pod.metadata.uid } }, { dryRun: false });
      ctx.recorder('taint-eviction-controller').event(pod, 'Normal', 'TaintManagerEviction', `Marking for deletion Pod ${pod.metadata.namespace}/${pod.metadata.name}`);
      ctx.logger.info({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, node: pod.spec.nodeName }, 'evicted (NoExecute taint)');
    } catch (e) {
      if (!(isApiError(e) && (e.reason === 'NotFound' || e.reason === 'Conflict'))) throw e;
    }
  }

  private async allocateCidr(ctx: ControllerContext, node: KubeObject): Promise<void> {
    const name = node.metadata.name!;
    // From reading what is taken to reserving the block there is no await: workers cannot interleave here.
    const taken = new Set<string>(this.reserved.keys());
    for (const n of ctx.informer(NODES).all()) if (n.spec?.podCIDR) taken.add(n.spec.podCIDR);
    let cidr = [...this.reserved].find(([, holder]) => holder === name)?.[0] ?? null;
    cidr ??= freeBlock(this.o.clusterCidr, this.o.podCidrMaskSize, taken);
    if (!cidr) {
      ctx.logger.warn({ node: name, clusterCidr: this.o.clusterCidr }, 'no pod CIDR left');
      return;
    }
    this.reserved.set(cidr, name);
    let out: KubeObject;
    try {
      // Guarded by the node's resourceVersion: a concurrent change makes this one retry with fresh state.
      out = await ctx.rest.modify({ r: NODES, namespace: '', name, subresource: '' }, { dryRun: false }, (cur) => {
        if (cur.spec?.podCIDR) return cur;
        return { ...cur, spec: { ...cur.spec, podCIDR: cidr, podCIDRs: [cidr] } };
      }, node.metadata.resourceVersion);
    } catch (e) {
      this.reserved.delete(cidr);
      throw e;
    }
    // The node had one already (set meanwhile): the block goes back.
    if (out.spec?.podCIDR !== cidr) this.reserved.delete(cidr);
    this.forgetSeen(ctx);
  }

  /** Reservations the informer now shows as node CIDRs (or whose node is gone) are dropped. */
  private forgetSeen(ctx: ControllerContext): void {
    const nodes = ctx.informer(NODES);
    for (const [cidr, holder] of this.reserved) {
      const n = nodes.get(objectKey(NODES, '', holder));
      if (!n || n.spec?.podCIDR === cidr) this.reserved.delete(cidr);
    }
  }

  private async modify(ctx: ControllerContext, r: ResourceInfo, namespace: string, name: string, sub: '' | 'status', change: (cur: KubeObject) => KubeObject): Promise<void> {
    try {
      await ctx.rest.modify({ r, namespace, name, subresource: sub }, { dryRun: false }, change);
    } catch (e) {
      if (!(isApiError(e) && e.reason === 'NotFound')) throw e;
    }
  }
}

/** When a pod must go because of these NoExecute taints: now (-∞), a time in ms, or never (∞). */
export function evictionDeadline(pod: KubeObject, taints: Json[]): number {
  const tolerations: Json[] = Array.isArray(pod.spec?.tolerations) ? pod.spec.tolerations : [];
  let deadline = Infinity;
  for (const taint of taints) {
    const matching = tolerations.filter((t) => tolerates(t, taint));
    if (matching.length === 0) return -Infinity;
    // As upstream: the shortest tolerationSeconds among the tolerations that match decides.
    const seconds = matching.map((t) => (typeof t.tolerationSeconds === 'number' ? Math.max(0, t.tolerationSeconds) : Infinity));
    const added = taint.timeAdded ? Date.parse(taint.timeAdded) : 0;
    deadline = Math.min(deadline, added + Math.min(...seconds) * 1000);
  }
  return deadline;
}

/** Upstream's Toleration.ToleratesTaint. */
export function tolerates(t: Json, taint: Json): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  const op = t.operator ?? 'Equal';
  if (op === 'Exists') return true;
  return op === 'Equal' && (t.value ?? '') === (taint.value ?? '') && (t.key ?? '') !== '';
}

/** The first /`mask` block of `cidr` (IPv4) not in `taken`, or null. */
export function freeBlock(cidr: string, mask: number, taken: ReadonlySet<string>): string | null {
  const [base, bits] = cidr.split('/') as [string, string];
  const prefix = Number(bits);
  const parts = base.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255) || !(mask >= prefix && mask <= 30)) return null;
  const start = ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
  const blocks = 2 ** (mask - prefix);
  for (let i = 0; i < blocks; i++) {
    const a = (start + i * 2 ** (32 - mask)) >>> 0;
    const s = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/${mask}`;
    if (!taken.has(s)) return s;
  }
  return null;
}
