/**
 * The Job controller (NonIndexed completion mode), as upstream's: run up to
 * `parallelism` pods at a time until `completions` of them have succeeded
 * (or, without `completions`, until one has and the rest are done), and give
 * up once more than `backoffLimit` have failed. Status: active, ready,
 * succeeded, failed, startTime, completionTime, and the Complete or Failed
 * condition. `suspend` stops (and deletes) the running pods.
 *
 * Pods are created from the template with `generateName: <job>-` and a
 * controller ownerReference; the API's Job strategy has already given the
 * template the `batch.kubernetes.io/controller-uid` label the selector uses.
 */
import type { KubeObject } from '../apiserver/index.js';
import { isApiError, objectKey, timestamp } from '../apiserver/index.js';
import { RESOURCES } from '../registry/index.js';
import type { Controller, ControllerContext } from './manager.js';
import { controllerUid, runOwnerLoop } from './owner-loop.js';

const JOBS = RESOURCES.find((r) => r.resource === 'jobs')!;
const PODS = RESOURCES.find((r) => r.resource === 'pods')!;
const WORKERS = 4;
/** Pods created per sync at most (the rest on the next). */
export const JOB_CREATES_PER_SYNC_MAX = 500;
export const JOB_RESYNC_MS = 30_000;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

function now(): string {
  return timestamp(new Date());
}


function isTerminal(p: KubeObject): boolean {
  return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
}

function isReady(p: KubeObject): boolean {
  return (p.status?.conditions ?? []).some((c: Json) => c.type === 'Ready' && c.status === 'True');
}

function hasCondition(job: KubeObject, type: string): boolean {
  return (job.status?.conditions ?? []).some((c: Json) => c.type === type && c.status === 'True');
}

/** How long a job waits to see its own creations and deletions in the informer before deciding anew. */
export const EXPECTATIONS_TIMEOUT_MS = 30_000;

/**
 * What a job's last sync did and has not seen come back from the informer
 * yet (upstream's "expectations"): until it has, the job does not create or
 * delete again, so a lagging informer cannot make it double its pods.
 */
interface Expectations {
  created: Set<string>;
  deleted: Set<string>;
  atMs: number;
}

export class JobController implements Controller {
  readonly name = 'job';
  private readonly expectations = new Map<string, Expectations>();

  async run(ctx: ControllerContext): Promise<void> {
    await runOwnerLoop(ctx, {
      owners: ctx.informer(JOBS),
      pods: ctx.informer(PODS),
      resyncMs: JOB_RESYNC_MS,
      workers: WORKERS,
      reconcile: (key) => this.reconcile(ctx, key),
      what: 'job',
    });
  }


  private async reconcile(ctx: ControllerContext, key: string): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    const job = ctx.informer(JOBS).get(objectKey(JOBS, namespace, name));
    if (!job || job.metadata.deletionTimestamp) return;
    const owned = ctx.informer(PODS).list(`${PODS.storagePrefix}/${namespace}/`, (p) => controllerUid(p) === job.metadata.uid, 0).items;
    const active = owned.filter((p) => !isTerminal(p) && !p.metadata.deletionTimestamp);
    const succeeded = owned.filter((p) => p.status?.phase === 'Succeeded').length + (job.status?.uncountedSucceeded ?? 0);
    const failed = owned.filter((p) => p.status?.phase === 'Failed').length;
    const spec = job.spec ?? {};
    const finished = hasCondition(job, 'Complete') || hasCondition(job, 'Failed');
    let outcome: 'Complete' | 'Failed' | null = null;
    if (!finished) {
      if (failed > (spec.backoffLimit ?? 6)) outcome = 'Failed';
      else if (spec.completions != null ? succeeded >= spec.completions : succeeded > 0 && active.length === 0) outcome = 'Complete';
    }
    const want = finished || outcome || spec.suspend ? 0 : this.wantActive(spec, succeeded, active.length);
    if (this.satisfied(key, owned)) await this.adjust(ctx, key, job, active, want);
    await this.writeStatus(ctx, job, { active: active.length, ready: active.filter(isReady).length, succeeded, failed }, outcome);
  }

  /** How many pods should run now (upstream's NonIndexed arithmetic). */
  private wantActive(spec: Json, succeeded: number, active: number): number {
    const parallelism = spec.parallelism ?? 1;
    if (spec.completions == null) return succeeded > 0 ? Math.min(active, parallelism) : parallelism;
    return Math.max(0, Math.min(parallelism, spec.completions - succeeded));
  }

  /** Whether the informer shows everything the last sync did (or waited long enough); the pod events requeue the job. */
  private satisfied(key: string, owned: KubeObject[]): boolean {
    const e = this.expectations.get(key);
    if (!e) return true;
    if (Date.now() - e.atMs > EXPECTATIONS_TIMEOUT_MS) {
      this.expectations.delete(key);
      return true;
    }
    const names = new Set(owned.map((p) => p.metadata.name));
    const alive = new Set(owned.filter((p) => !p.metadata.deletionTimestamp).map((p) => p.metadata.uid));
    const done = [...e.created].every((n) => names.has(n)) && [...e.deleted].every((u) => !alive.has(u));
    if (done) this.expectations.delete(key);
    return done;
  }

  private async adjust(ctx: ControllerContext, key: string, job: KubeObject, active: KubeObject[], want: number): Promise<void> {
    const ns = job.metadata.namespace!;
    const e: Expectations = { created: new Set(), deleted: new Set(), atMs: Date.now() };
    this.expectations.set(key, e);
    if (active.length > want) {
      // The newest go first.
      const victims = [...active].sort((a, b) => String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp))).slice(0, active.length - want);
      for (const p of victims) {
        e.deleted.add(p.metadata.uid!);
        await this.deletePod(ctx, p);
      }
      return;
    }
    const n = Math.min(want - active.length, JOB_CREATES_PER_SYNC_MAX);
    for (let i = 0; i < n; i++) {
      const created = await ctx.rest.create({ r: PODS, namespace: ns }, this.podFor(job), { dryRun: false });
      e.created.add(created.metadata.name!);
      ctx.recorder('job-controller').event(job, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name}`);
    }
  }

  private podFor(job: KubeObject): KubeObject {
    const t = structuredClone(job.spec?.template ?? {});
    const meta = t.metadata ?? {};
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName: `${job.metadata.name}-`,
        labels: meta.labels ?? {},
        ...(meta.annotations ? { annotations: meta.annotations } : {}),
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: job.metadata.name!, uid: job.metadata.uid!, controller: true, blockOwnerDeletion: true }],
      },
      spec: t.spec ?? {},
    };
  }

  private async deletePod(ctx: ControllerContext, p: KubeObject): Promise<void> {
    try {
      await ctx.rest.delete({ r: PODS, namespace: p.metadata.namespace!, name: p.metadata.name! }, { preconditions: { uid: p.metadata.uid } }, { dryRun: false });
    } catch (e) {
      if (!(isApiError(e) && (e.reason === 'NotFound' || e.reason === 'Conflict'))) throw e;
    }
  }

  private async writeStatus(ctx: ControllerContext, job: KubeObject, counts: { active: number; ready: number; succeeded: number; failed: number }, outcome: 'Complete' | 'Failed' | null): Promise<void> {
    const cur = job.status ?? {};
    const next: Json = { ...cur, startTime: cur.startTime ?? (job.spec?.suspend ? undefined : now()) };
    for (const [k, v] of Object.entries(counts)) if (v > 0 || cur[k] !== undefined) next[k] = v;
    if (outcome) {
      ctx.recorder('job-controller').event(job, outcome === 'Complete' ? 'Normal' : 'Warning', outcome === 'Complete' ? 'Completed' : 'BackoffLimitExceeded', outcome === 'Complete' ? 'Job completed' : 'Job has reached the specified backoff limit');
      const t = now();
      const cond = outcome === 'Complete'
        ? { type: 'Complete', status: 'True', lastProbeTime: t, lastTransitionTime: t }
        : { type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit', lastProbeTime: t, lastTransitionTime: t };
      next.conditions = [...(cur.conditions ?? []), cond];
      if (outcome === 'Complete') next.completionTime = t;
    }
    if (next.startTime === undefined) delete next.startTime;
    if (JSON.stringify(next) === JSON.stringify(cur)) return;
    try {
      await ctx.rest.modify({ r: JOBS, namespace: job.metadata.namespace!, name: job.metadata.name!, subresource: 'status' }, { dryRun: false }, (c) => ({ ...c, status: next }), job.metadata.resourceVersion);
    } catch (e) {
      // A stale read: the next event brings the fresh job.
      if (!(isApiError(e) && (e.reason === 'Conflict' || e.reason === 'NotFound'))) throw e;
    }
  }
}
