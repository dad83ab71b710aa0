/**
 * Pod garbage collection, as upstream's PodGC: pods bound to a node that no
 * longer exists (confirmed by a quorum read: an informer may not have seen a
 * node just created) and pods being deleted on a node tainted
 * `node.kubernetes.io/out-of-service` (an operator's word that the node is
 * gone for good) are deleted at once — no kubelet will ever finish them.
 */
import type { KubeObject } from '../apiserver/index.js';
import { isApiError, objectKey } from '../apiserver/index.js';
import { RESOURCES } from '../registry/index.js';
import { type Controller, type ControllerContext, aborted, onStop } from './manager.js';

const NODES = RESOURCES.find((r) => r.resource === 'nodes')!;
const PODS = RESOURCES.find((r) => r.resource === 'pods')!;
export const OUT_OF_SERVICE_TAINT = 'node.kubernetes.io/out-of-service';
/** How often pods are looked over (upstream: every 20 s). */
export const POD_GC_PERIOD_MS = 20_000;
/** Pods removed per pass at most. */
const DELETES_PER_PASS_MAX = 500;

export class PodGcController implements Controller {
  readonly name = 'pod-gc';

  constructor(private readonly periodMs = POD_GC_PERIOD_MS) {}

  async run(ctx: ControllerContext): Promise<void> {
    const nodes = ctx.informer(NODES);
    const pods = ctx.informer(PODS);
    await Promise.all([nodes.loaded, pods.loaded]);
    let busy = false;
    const pass = async () => {
      if (busy || ctx.stopped.aborted) return;
      busy = true;
      try {
        await this.collect(ctx);
      } catch (e) {
        ctx.logger.warn({ err: e }, 'pod garbage collection failed; retrying');
      } finally {
        busy = false;
      }
    };
    const timer = setInterval(() => void pass(), this.periodMs);
    onStop(ctx.stopped, () => clearInterval(timer));
    await pass();
    await aborted(ctx.stopped);
  }

  private async collect(ctx: ControllerContext): Promise<void> {
    const nodes = ctx.informer(NODES);
    let deleted = 0;
    for (const pod of ctx.informer(PODS).all()) {
      if (deleted >= DELETES_PER_PASS_MAX || ctx.stopped.aborted) return;
      const nodeName: string | undefined = pod.spec?.nodeName;
      if (!nodeName) continue;
      const node = nodes.get(objectKey(NODES, '', nodeName));
      const orphaned = !node && !(await this.nodeExists(ctx, nodeName));
      const outOfService = node && pod.metadata.deletionTimestamp && (node.spec?.taints ?? []).some((t: { key?: string; effect?: string }) => t.key === OUT_OF_SERVICE_TAINT && t.effect === 'NoExecute');
      if (!orphaned && !outOfService) continue;
      if (await this.forceDelete(ctx, pod)) deleted++;
    }
  }

  private async nodeExists(ctx: ControllerContext, name: string): Promise<boolean> {
    try {
      await ctx.rest.get({ r: NODES, namespace: '', name });
      return true;
    } catch (e) {
      if (isApiError(e) && e.reason === 'NotFound') return false;
      throw e;
    }
  }

  private async forceDelete(ctx: ControllerContext, pod: KubeObject): Promise<boolean> {
    try {
      await ctx.rest.delete({ r: PODS, namespace: pod.metadata.namespace!, name: pod.metadata.name! }, { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } }, { dryRun: false });
      ctx.logger.info({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, node: pod.spec?.nodeName }, 'garbage-collected a pod of a node that is gone');
      return true;
    } catch (e) {
      if (isApiError(e) && (e.reason === 'NotFound' || e.reason === 'Conflict')) return false;
      throw e;
    }
  }
}
