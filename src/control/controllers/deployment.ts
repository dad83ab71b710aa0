/**
 * The Deployment controller, after upstream's pkg/controller/deployment
 * (sync.go, rolling.go, recreate.go, progress.go): a Deployment owns
 * ReplicaSets named `<name>-<pod-template-hash>`; the one whose template
 * equals the Deployment's is the new one, the others are old.
 * - RollingUpdate: scale the new one up while the total stays within
 *   replicas + maxSurge, scale old ones down while the available pods stay at
 *   least replicas − maxUnavailable (unhealthy old replicas first).
 * - Recreate: scale every old one to 0, wait until their pods are gone, then
 *   create/scale the new one.
 * - A change of `spec.replicas` alone is a scaling event: proportional
 *   scaling of every active ReplicaSet, no rollout step. Paused Deployments
 *   only scale.
 * - Rollback (`kubectl rollout undo`) writes an old template back: the old
 *   ReplicaSet is found again by its template and gets the next revision.
 * - Old ReplicaSets scaled to 0 beyond `revisionHistoryLimit` are deleted.
 * - Status and the Available/Progressing conditions as `kubectl rollout
 *   status` reads them, through the status subresource.
 *
 * Consistency: the controller decides from its informers, which lag its own
 * writes. Every write of a ReplicaSet or of the Deployment is conditional on
 * the resourceVersion the decision was made from (a stale decision gets 409
 * and the key is retried), and a reconcile returns only once the informers
 * show its writes, so the next reconcile of the same key (keys are never
 * processed concurrently) decides from them. ReplicaSet names are the
 * template hash: creating the same new ReplicaSet twice (a retry, a new
 * leader) finds the first. A leader change is safe: writes are fenced to
 * the term, and the new leader's informers start from a quorum read.
 */
import type { KubeObject, ResourceCache } from '../apiserver/index.js';
import { isApiError, objectKey } from '../apiserver/index.js';
import { labelSelectorAsSelector, nothing, type Selector } from '../apiserver/selectors/index.js';
import { deepEqual } from '../apiserver/objects.js';
import { lookupResource } from '../registry/index.js';
import { type Controller, type ControllerContext, aborted } from './manager.js';
import { PODS, REPLICASETS } from './replicaset.js';
import { WorkQueue, runWorkers } from './workqueue.js';
import { claim } from './workload-claim.js';
import { controllerRefOf, newControllerRef, refersTo } from './workload-pods.js';
import * as u from './workload-rollout.js';

export const DEPLOYMENTS = lookupResource('apps', 'v1', 'deployments')!;
/** Every Deployment is reconciled at least this often. */
export const DEPLOYMENT_RESYNC_MS = 30_000;
/** How long a reconcile waits for its informers to show its own writes. */
export const OWN_WRITES_WAIT_MS = 5_000;
const WORKERS = 5;

function splitKey(key: string): [string, string] {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}

function selectorOf(d: KubeObject): Selector {
  try {
    return labelSelectorAsSelector(d.spec?.selector);
  } catch {
    return nothing();
  }
}

export class DeploymentController implements Controller {
  readonly name = 'deployment';

  async run(ctx: ControllerContext): Promise<void> {
    const queue = new WorkQueue();
    const deployments = ctx.informer(DEPLOYMENTS);
    const rss = ctx.informer(REPLICASETS);
    const pods = ctx.informer(PODS);
    const keyOf = (o: KubeObject) => `${o.metadata.namespace}/${o.metadata.name}`;
    deployments.onChange((_type, d) => queue.add(keyOf(d)));
    rss.onChange((type, rs, old) => this.onReplicaSet(deployments, queue, type, rs, old));
    pods.onChange((type, pod) => this.onPod(deployments, rss, queue, type, pod));
    const resync = setInterval(() => {
      for (const d of deployments.all()) queue.add(keyOf(d));
    }, DEPLOYMENT_RESYNC_MS);
    resync.unref();
    ctx.stopped.addEventListener('abort', () => {
      clearInterval(resync);
      queue.shutDown();
    }, { once: true });
    await Promise.all([deployments.loaded, rss.loaded, pods.loaded]);
    await Promise.all([
      runWorkers(queue, WORKERS, (key) => this.reconcile(ctx, queue, key), (key, e) => ctx.logger.warn({ err: e, key, controller: this.name }, 'sync failed; retrying')),
      aborted(ctx.stopped),
    ]);
  }

  /** A ReplicaSet event wakes its Deployment, or, for an orphan, every Deployment that could adopt it. */
  private onReplicaSet(deployments: ResourceCache, queue: WorkQueue, type: string, rs: KubeObject, old: KubeObject | undefined): void {
    const ns = rs.metadata.namespace ?? '';
    const ref = controllerRefOf(rs);
    const oldRef = old ? controllerRefOf(old) : undefined;
    const wake = (name: string, uid: string) => {
      if (deployments.get(objectKey(DEPLOYMENTS, ns, name))?.metadata.uid === uid) queue.add(`${ns}/${name}`);
    };
    if (refersTo(oldRef, DEPLOYMENTS) && oldRef.uid !== ref?.uid) wake(oldRef.name, oldRef.uid);
    if (ref) {
      if (refersTo(ref, DEPLOYMENTS)) wake(ref.name, ref.uid);
      return;
    }
    if (type === 'DELETED') return;
    for (const d of deployments.list(`${DEPLOYMENTS.storagePrefix}/${ns}/`, null, 0).items) {
      if (selectorOf(d).matches(rs.metadata.labels ?? {})) queue.add(`${ns}/${d.metadata.name}`);
    }
  }

  /** Recreate waits for old pods to be gone: their deletions wake the Deployment. */
  private onPod(deployments: ResourceCache, rss: ResourceCache, queue: WorkQueue, type: string, pod: KubeObject): void {
    if (type !== 'DELETED' && !pod.metadata.deletionTimestamp) return;
    const ns = pod.metadata.namespace ?? '';
    const rsRef = controllerRefOf(pod);
    if (!refersTo(rsRef, REPLICASETS)) return;
    const rs = rss.get(objectKey(REPLICASETS, ns, rsRef.name));
    const dRef = rs ? controllerRefOf(rs) : undefined;
    if (!refersTo(dRef, DEPLOYMENTS)) return;
    const d = deployments.get(objectKey(DEPLOYMENTS, ns, dRef.name));
    if (d && d.metadata.uid === dRef.uid && !u.isRollingUpdate(d)) queue.add(`${ns}/${d.metadata.name}`);
  }

  private async reconcile(ctx: ControllerContext, queue: WorkQueue, key: string): Promise<void> {
    const [ns, name] = splitKey(key);
    const found = ctx.informer(DEPLOYMENTS).get(objectKey(DEPLOYMENTS, ns, name));
    if (!found) return;
    const s = new DeploymentSync(ctx, queue, key, structuredClone(found) as KubeObject);
    try {
      await s.sync();
    } finally {
      await s.awaitOwnWrites();
    }
  }
}

/** One reconcile of one Deployment: mutable copies of it and its ReplicaSets, and the writes made. */
class DeploymentSync {
  private rsList: KubeObject[] = [];
  private writtenRsRevision = 0;
  private writtenDRevision = 0;
  private readonly now = Date.now();

  constructor(
    private readonly ctx: ControllerContext,
    private readonly queue: WorkQueue,
    private readonly key: string,
    private d: KubeObject,
  ) {}

  private get ns(): string {
    return this.d.metadata.namespace ?? '';
  }

  /** Returns once the informers show this sync's writes (or the leadership ended: closed informers never will). */
  async awaitOwnWrites(): Promise<void> {
    const waits: Promise<unknown>[] = [];
    if (this.writtenRsRevision > 0) waits.push(this.ctx.informer(REPLICASETS).waitFor(this.writtenRsRevision, OWN_WRITES_WAIT_MS));
    if (this.writtenDRevision > 0) waits.push(this.ctx.informer(DEPLOYMENTS).waitFor(this.writtenDRevision, OWN_WRITES_WAIT_MS));
    if (waits.length === 0 || this.ctx.stopped.aborted) return;
    await Promise.race([Promise.all(waits), aborted(this.ctx.stopped)]);
  }

  /** Upstream's syncDeployment. */
  async sync(): Promise<void> {
    const d = this.d;
    if (d.spec?.selector && Object.keys(d.spec.selector).every((k) => Object.keys(d.spec.selector[k] ?? {}).length === 0)) {
      // An empty selector would select every pod: refuse to act, but say the spec was seen.
      if ((d.status?.observedGeneration ?? 0) < (d.metadata.generation ?? 0)) {
        d.status = { ...(d.status ?? {}), observedGeneration: d.metadata.generation };
        await this.updateStatus();
      }
      return;
    }
    await this.claimReplicaSets();
    if (d.metadata.deletionTimestamp) return this.syncStatusOnly();
    await this.checkPausedConditions();
    if (d.spec?.paused) return this.syncScaling();
    if (await this.isScalingEvent()) return this.syncScaling();
    return u.isRollingUpdate(d) ? this.rolloutRolling() : this.rolloutRecreate();
  }

  // ---------------------------------------------------------------- writes

  /** Writes the Deployment's status (and its annotations, when they changed) at the version decided from. */
  private async updateStatus(): Promise<void> {
    const d = this.d;
    const stored = this.ctx.informer(DEPLOYMENTS).get(objectKey(DEPLOYMENTS, this.ns, d.metadata.name!));
    const annotationsChanged = !deepEqual(stored?.metadata.annotations ?? {}, d.metadata.annotations ?? {});
    const out = await this.ctx.rest.modify(
      { r: DEPLOYMENTS, namespace: this.ns, name: d.metadata.name!, subresource: annotationsChanged ? 'all' : 'status' },
      { dryRun: false },
      (cur) => ({ ...cur, metadata: { ...cur.metadata, annotations: d.metadata.annotations }, status: d.status }),
      d.metadata.resourceVersion,
    );
    d.metadata.resourceVersion = out.metadata.resourceVersion;
    this.writtenDRevision = Math.max(this.writtenDRevision, Number(out.metadata.resourceVersion));
  }

  /** Writes a ReplicaSet (already changed in place) at the version decided from. */
  private async updateRS(rs: KubeObject): Promise<void> {
    const out = await this.ctx.rest.modify({ r: REPLICASETS, namespace: this.ns, name: rs.metadata.name!, subresource: '' }, { dryRun: false }, () => rs, rs.metadata.resourceVersion);
    rs.metadata = structuredClone(out.metadata);
    rs.spec = structuredClone(out.spec);
    this.writtenRsRevision = Math.max(this.writtenRsRevision, Number(out.metadata.resourceVersion));
  }

  // ---------------------------------------------------------------- ReplicaSets

  private async claimReplicaSets(): Promise<void> {
    const all = this.ctx.informer(REPLICASETS).list(`${REPLICASETS.storagePrefix}/${this.ns}/`, null, 0).items;
    const r = await claim(this.ctx, DEPLOYMENTS, this.d, selectorOf(this.d), REPLICASETS, all);
    this.writtenRsRevision = Math.max(this.writtenRsRevision, r.revision);
    this.rsList = r.owned.map((rs) => structuredClone(rs) as KubeObject);
  }

  /** The new ReplicaSet (created when `create` and missing) and every other one (upstream's getAllReplicaSetsAndSyncRevision). */
  private async newAndOld(create: boolean): Promise<{ newRS: KubeObject | null; oldRSs: KubeObject[] }> {
    const existing = u.findNewReplicaSet(this.d, this.rsList);
    const oldRSs = this.rsList.filter((rs) => rs !== existing);
    const newRS = await this.getNewReplicaSet(existing, oldRSs, create);
    return { newRS, oldRSs };
  }

  private async getNewReplicaSet(existing: KubeObject | null, oldRSs: KubeObject[], create: boolean): Promise<KubeObject | null> {
    const d = this.d;
    const newRevision = String(u.maxRevision(oldRSs) + 1);
    if (existing) return this.syncExistingNewRS(existing, newRevision);
    if (!create) return null;
    const hash = u.computeHash(d.spec.template, d.status?.collisionCount);
    const template = structuredClone(d.spec.template);
    template.metadata = { ...(template.metadata ?? {}), labels: { ...(template.metadata?.labels ?? {}), [u.POD_TEMPLATE_HASH_LABEL]: hash } };
    const selector = structuredClone(d.spec.selector);
    selector.matchLabels = { ...(selector.matchLabels ?? {}), [u.POD_TEMPLATE_HASH_LABEL]: hash };
    const rs: KubeObject = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: `${d.metadata.name}-${hash}`, namespace: this.ns, labels: { ...template.metadata.labels }, ownerReferences: [newControllerRef(DEPLOYMENTS, d)] },
      spec: { replicas: 0, minReadySeconds: d.spec.minReadySeconds ?? 0, selector, template },
    };
    rs.spec.replicas = u.newRSNewReplicas(d, [...oldRSs, rs], rs);
    u.setNewReplicaSetAnnotations(d, rs, newRevision, false);
    const { created, alreadyExisted } = await this.createRS(rs);
    this.rsList.push(created);
    let needsUpdate = u.setDeploymentRevision(d, newRevision);
    if (!alreadyExisted && u.hasProgressDeadline(d)) {
      u.setCondition(this.status(), u.newCondition(u.PROGRESSING, 'True', u.NEW_RS_CREATED, `Created new replica set "${created.metadata.name}"`, this.now));
      needsUpdate = true;
    }
    if (needsUpdate) await this.updateStatus();
    return created;
  }

  private status(): Record<string, unknown> {
    if (!this.d.status) this.d.status = {};
    return this.d.status;
  }

  /** The new ReplicaSet exists: bring its annotations and minReadySeconds up to date, then the Deployment's revision. */
  private async syncExistingNewRS(rs: KubeObject, newRevision: string): Promise<KubeObject> {
    const d = this.d;
    const annotationsChanged = u.setNewReplicaSetAnnotations(d, rs, newRevision, true);
    const minReady = d.spec.minReadySeconds ?? 0;
    if (annotationsChanged || (rs.spec.minReadySeconds ?? 0) !== minReady) {
      rs.spec.minReadySeconds = minReady;
      await this.updateRS(rs);
      return rs;
    }
    let needsUpdate = u.setDeploymentRevision(d, rs.metadata.annotations?.[u.REVISION_ANNOTATION]);
    if (u.hasProgressDeadline(d) && !u.getCondition(d.status, u.PROGRESSING)) {
      u.setCondition(this.status(), u.newCondition(u.PROGRESSING, 'True', u.FOUND_NEW_RS, `Found new replica set "${rs.metadata.name}"`, this.now));
      needsUpdate = true;
    }
    if (needsUpdate) await this.updateStatus();
    return rs;
  }

  /** Creates the new ReplicaSet; one of ours by that name already (a retry, another leader) is taken; a stranger is a hash collision. */
  private async createRS(rs: KubeObject): Promise<{ created: KubeObject; alreadyExisted: boolean }> {
    const d = this.d;
    try {
      const created = await this.ctx.rest.create({ r: REPLICASETS, namespace: this.ns }, structuredClone(rs), { dryRun: false });
      this.writtenRsRevision = Math.max(this.writtenRsRevision, Number(created.metadata.resourceVersion));
      this.ctx.logger.info({ deployment: this.key, replicaSet: rs.metadata.name, replicas: rs.spec.replicas }, 'created new replica set');
      if (u.specReplicas(created) > 0) this.ctx.recorder('deployment-controller').event(d, 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${created.metadata.name} from 0 to ${u.specReplicas(created)}`);
      return { created: structuredClone(created) as KubeObject, alreadyExisted: false };
    } catch (e) {
      if (isApiError(e) && e.reason === 'AlreadyExists') {
        const cur = await this.ctx.rest.get({ r: REPLICASETS, namespace: this.ns, name: rs.metadata.name! });
        if (controllerRefOf(cur)?.uid === d.metadata.uid && u.equalIgnoreHash(d.spec.template, cur.spec?.template)) {
          return { created: structuredClone(cur) as KubeObject, alreadyExisted: true };
        }
        const status = this.status();
        status.collisionCount = (typeof status.collisionCount === 'number' ? status.collisionCount : 0) + 1;
        await this.updateStatus();
        throw e;
      }
      if (!(isApiError(e) && e.reason === 'Forbidden') && u.hasProgressDeadline(d)) {
        const msg = `Failed to create new replica set "${rs.metadata.name}": ${e instanceof Error ? e.message : String(e)}`;
        u.setCondition(this.status(), u.newCondition(u.PROGRESSING, 'False', u.FAILED_RS_CREATE, msg, this.now));
        await this.updateStatus();
      }
      throw e;
    }
  }

  /** Sets a ReplicaSet's size (and replica annotations); true when the size changed. */
  private async scaleRS(rs: KubeObject, size: number): Promise<boolean> {
    const d = this.d;
    const sizeChanged = u.specReplicas(rs) !== size;
    const annotationsChanged = u.setReplicasAnnotations(rs, u.specReplicas(d), u.specReplicas(d) + u.maxSurge(d));
    if (!sizeChanged && !annotationsChanged) return false;
    const from = u.specReplicas(rs);
    rs.spec.replicas = size;
    await this.updateRS(rs);
    if (sizeChanged) {
      this.ctx.logger.info({ deployment: this.key, replicaSet: rs.metadata.name, from, to: size }, 'scaled replica set');
      this.ctx.recorder('deployment-controller').event(d, 'Normal', 'ScalingReplicaSet', `Scaled ${size > from ? 'up' : 'down'} replica set ${rs.metadata.name} from ${from} to ${size}`);
    }
    return sizeChanged;
  }

  /** Upstream's scaleReplicaSetAndRecordEvent: nothing to do at the same size. */
  private async scaleTo(rs: KubeObject, size: number): Promise<boolean> {
    if (u.specReplicas(rs) === size) return false;
    return this.scaleRS(rs, size);
  }

  // ---------------------------------------------------------------- pause, scaling

  private async checkPausedConditions(): Promise<void> {
    const d = this.d;
    if (!u.hasProgressDeadline(d)) return;
    const cond = u.getCondition(d.status, u.PROGRESSING);
    if (cond?.reason === u.TIMED_OUT) return;
    const pausedShown = cond?.reason === u.PAUSED;
    if (d.spec.paused && !pausedShown) u.setCondition(this.status(), u.newCondition(u.PROGRESSING, 'Unknown', u.PAUSED, 'Deployment is paused', this.now));
    else if (!d.spec.paused && pausedShown) u.setCondition(this.status(), u.newCondition(u.PROGRESSING, 'Unknown', u.RESUMED, 'Deployment is resumed', this.now));
    else return;
    await this.updateStatus();
  }

  /** The replica count changed since the active ReplicaSets were sized (their desired-replicas annotation). */
  private async isScalingEvent(): Promise<boolean> {
    const { newRS, oldRSs } = await this.newAndOld(false);
    for (const rs of u.filterActive([...oldRSs, newRS])) {
      const desired = rs.metadata.annotations?.[u.DESIRED_REPLICAS_ANNOTATION];
      if (desired !== undefined && Number.parseInt(desired, 10) !== u.specReplicas(this.d)) return true;
    }
    return false;
  }

  /** Scaling (and the only thing a paused Deployment does): upstream's sync. */
  private async syncScaling(): Promise<void> {
    const { newRS, oldRSs } = await this.newAndOld(false);
    await this.scale(newRS, oldRSs);
    if (this.d.spec.paused) await this.cleanup(oldRSs);
    await this.syncDeploymentStatus([...oldRSs, newRS], newRS);
  }

  private async syncStatusOnly(): Promise<void> {
    const { newRS, oldRSs } = await this.newAndOld(false);
    await this.syncDeploymentStatus([...oldRSs, newRS], newRS);
  }

  /** Proportional scaling of the active ReplicaSets (upstream's scale). */
  private async scale(newRS: KubeObject | null, oldRSs: KubeObject[]): Promise<void> {
    const d = this.d;
    const only = u.findActiveOrLatest(newRS, oldRSs);
    if (only) {
      if (u.specReplicas(only) !== u.specReplicas(d)) await this.scaleTo(only, u.specReplicas(d));
      return;
    }
    if (u.isSaturated(d, newRS)) {
      for (const old of u.filterActive(oldRSs)) await this.scaleTo(old, 0);
      return;
    }
    if (!u.isRollingUpdate(d)) return;
    const active = u.filterActive([...oldRSs, newRS]);
    const allowed = u.specReplicas(d) > 0 ? u.specReplicas(d) + u.maxSurge(d) : 0;
    const toAdd = allowed - u.replicaCount(active);
    // Larger first; equal sizes: newer first when growing, older first when shrinking.
    if (toAdd > 0) active.sort((a, b) => u.specReplicas(b) - u.specReplicas(a) || u.byCreation(b, a));
    else if (toAdd < 0) active.sort((a, b) => u.specReplicas(b) - u.specReplicas(a) || u.byCreation(a, b));
    const sizes = new Map<KubeObject, number>();
    let added = 0;
    for (const rs of active) {
      const p = toAdd !== 0 ? u.getProportion(rs, d, toAdd, added) : 0;
      sizes.set(rs, u.specReplicas(rs) + p);
      added += p;
    }
    for (const [i, rs] of active.entries()) {
      let size = sizes.get(rs)!;
      if (i === 0 && toAdd !== 0) size = Math.max(0, size + toAdd - added); // leftovers to the largest
      await this.scaleRS(rs, size);
    }
  }

  // ---------------------------------------------------------------- rollouts

  private async rolloutRolling(): Promise<void> {
    const { newRS, oldRSs } = await this.newAndOld(true);
    const all = [...oldRSs, newRS];
    if (newRS && (await this.reconcileNewRS(all, newRS))) return this.syncRolloutStatus(all, newRS);
    if (newRS && (await this.reconcileOldRSs(all, u.filterActive(oldRSs), newRS))) return this.syncRolloutStatus(all, newRS);
    if (u.deploymentComplete(this.d, this.d.status ?? {})) await this.cleanup(oldRSs);
    return this.syncRolloutStatus(all, newRS);
  }

  private async reconcileNewRS(all: (KubeObject | null)[], newRS: KubeObject): Promise<boolean> {
    const want = u.specReplicas(this.d);
    if (u.specReplicas(newRS) === want) return false;
    if (u.specReplicas(newRS) > want) return this.scaleTo(newRS, want);
    return this.scaleTo(newRS, u.newRSNewReplicas(this.d, all, newRS));
  }

  /** Scales old ReplicaSets down as far as availability allows (upstream's reconcileOldReplicaSets). */
  private async reconcileOldRSs(all: (KubeObject | null)[], oldRSs: KubeObject[], newRS: KubeObject): Promise<boolean> {
    const d = this.d;
    if (u.replicaCount(oldRSs) === 0) return false;
    const minAvailable = u.specReplicas(d) - u.maxUnavailable(d);
    const newUnavailable = u.specReplicas(newRS) - (newRS.status?.availableReplicas ?? 0);
    const maxScaledDown = u.replicaCount(all) - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return false;
    const cleaned = await this.cleanupUnhealthy(oldRSs, maxScaledDown);
    const scaled = await this.scaleDownOldForRolling([...oldRSs, newRS], oldRSs);
    return cleaned + scaled > 0;
  }

  /** Old replicas that are not available go first: they would block the rollout otherwise. */
  private async cleanupUnhealthy(oldRSs: KubeObject[], maxCleanup: number): Promise<number> {
    let total = 0;
    for (const rs of [...oldRSs].sort(u.byCreation)) {
      if (total >= maxCleanup) break;
      const unhealthy = u.specReplicas(rs) - (rs.status?.availableReplicas ?? 0);
      if (u.specReplicas(rs) === 0 || unhealthy <= 0) continue;
      const down = Math.min(maxCleanup - total, unhealthy);
      await this.scaleTo(rs, u.specReplicas(rs) - down);
      total += down;
    }
    return total;
  }

  private async scaleDownOldForRolling(all: KubeObject[], oldRSs: KubeObject[]): Promise<number> {
    const d = this.d;
    const minAvailable = u.specReplicas(d) - u.maxUnavailable(d);
    // A ReplicaSet just scaled down may still report the pods it is deleting
    // as available: count at most its size, or the budget would be spent twice.
    const available = all.reduce((n, rs) => n + Math.min(rs.status?.availableReplicas ?? 0, u.specReplicas(rs)), 0);
    if (available <= minAvailable) return 0;
    const budget = available - minAvailable;
    let total = 0;
    for (const rs of [...oldRSs].sort(u.byCreation)) {
      if (total >= budget) break;
      if (u.specReplicas(rs) === 0) continue;
      const down = Math.min(u.specReplicas(rs), budget - total);
      await this.scaleTo(rs, u.specReplicas(rs) - down);
      total += down;
    }
    return total;
  }

  private async rolloutRecreate(): Promise<void> {
    let { newRS, oldRSs } = await this.newAndOld(false);
    let all = [...oldRSs, newRS];
    let scaledDown = false;
    for (const rs of u.filterActive(oldRSs)) if (await this.scaleTo(rs, 0)) scaledDown = true;
    if (scaledDown || this.oldPodsRunning(newRS, oldRSs)) return this.syncRolloutStatus(all, newRS);
    if (!newRS) {
      ({ newRS, oldRSs } = await this.newAndOld(true));
      all = [...oldRSs, newRS];
    }
    if (newRS) await this.scaleTo(newRS, u.specReplicas(this.d));
    if (u.deploymentComplete(this.d, this.d.status ?? {})) await this.cleanup(oldRSs);
    return this.syncRolloutStatus(all, newRS);
  }

  /** Old ReplicaSets still report pods, or pods of theirs are not finished (being deleted counts as running). */
  private oldPodsRunning(newRS: KubeObject | null, oldRSs: KubeObject[]): boolean {
    if (u.statusSum(oldRSs, 'replicas') > 0) return true;
    const uids = new Set(this.rsList.map((rs) => rs.metadata.uid));
    if (newRS) uids.delete(newRS.metadata.uid);
    const sel = selectorOf(this.d);
    const pods = this.ctx.informer(PODS).list(`${PODS.storagePrefix}/${this.ns}/`, (p) => sel.matches(p.metadata.labels ?? {}), 0).items;
    return pods.some((p) => uids.has(controllerRefOf(p)?.uid) && p.status?.phase !== 'Failed' && p.status?.phase !== 'Succeeded');
  }

  /** Deletes old ReplicaSets scaled to 0 beyond revisionHistoryLimit, lowest revision first. */
  private async cleanup(oldRSs: KubeObject[]): Promise<void> {
    const limit = this.d.spec.revisionHistoryLimit;
    if (typeof limit !== 'number') return;
    const cleanable = oldRSs.filter((rs) => !rs.metadata.deletionTimestamp).sort(u.byRevision);
    const diff = cleanable.length - limit;
    for (const rs of cleanable.slice(0, Math.max(0, diff))) {
      const busy = (rs.status?.replicas ?? 0) !== 0 || u.specReplicas(rs) !== 0 || (rs.metadata.generation ?? 0) > (rs.status?.observedGeneration ?? 0);
      if (busy) continue;
      try {
        await this.ctx.rest.delete({ r: REPLICASETS, namespace: this.ns, name: rs.metadata.name! }, { preconditions: { uid: rs.metadata.uid } }, { dryRun: false });
        this.ctx.logger.info({ deployment: this.key, replicaSet: rs.metadata.name }, 'deleted old replica set beyond the history limit');
      } catch (e) {
        if (!(isApiError(e) && (e.reason === 'NotFound' || e.reason === 'Conflict'))) throw e;
      }
    }
  }

  // ---------------------------------------------------------------- status

  private async syncDeploymentStatus(all: (KubeObject | null)[], newRS: KubeObject | null): Promise<void> {
    const next = u.calculateStatus(all, newRS, this.d, this.now);
    if (deepEqual(this.d.status ?? {}, next)) return;
    this.d.status = next;
    await this.updateStatus();
  }

  /** Status with the Progressing condition judged against the deadline (upstream's syncRolloutStatus). */
  private async syncRolloutStatus(all: (KubeObject | null)[], newRS: KubeObject | null): Promise<void> {
    const d = this.d;
    const next = u.calculateStatus(all, newRS, d, this.now);
    if (!u.hasProgressDeadline(d)) u.removeCondition(next, u.PROGRESSING);
    const cur = u.getCondition(d.status, u.PROGRESSING);
    const complete = next.replicas === next.updatedReplicas && cur?.reason === u.NEW_RS_AVAILABLE;
    if (u.hasProgressDeadline(d) && !complete) this.judgeProgress(next, newRS, cur);
    const failure = u.replicaFailureOf(all, newRS);
    if (failure) u.setCondition(next, failure);
    else u.removeCondition(next, u.REPLICA_FAILURE);
    if (deepEqual(d.status ?? {}, next)) {
      this.requeueIfStuck(next);
      return;
    }
    d.status = next;
    await this.updateStatus();
  }

  private judgeProgress(next: Record<string, unknown>, newRS: KubeObject | null, cur: u.DeploymentCondition | undefined): void {
    const d = this.d;
    const what = newRS ? `ReplicaSet "${newRS.metadata.name}"` : `Deployment "${d.metadata.name}"`;
    if (u.deploymentComplete(d, next)) {
      u.setCondition(next, u.newCondition(u.PROGRESSING, 'True', u.NEW_RS_AVAILABLE, `${what} has successfully progressed.`, this.now));
    } else if (u.deploymentProgressing(d, next)) {
      // Progress refreshes lastUpdateTime even with the same reason (the deadline counts from it).
      const c = u.newCondition(u.PROGRESSING, 'True', u.RS_UPDATED, `${what} is progressing.`, this.now);
      if (cur?.status === 'True') c.lastTransitionTime = cur.lastTransitionTime;
      u.removeCondition(next, u.PROGRESSING);
      u.setCondition(next, c);
    } else if (u.deploymentTimedOut(d, next, this.now)) {
      u.setCondition(next, u.newCondition(u.PROGRESSING, 'False', u.TIMED_OUT, `${what} has timed out progressing.`, this.now));
    }
  }

  /** Nothing changed: come back when the progress deadline would pass (no event will say so). */
  private requeueIfStuck(next: Record<string, unknown>): void {
    const d = this.d;
    const cur = u.getCondition(d.status, u.PROGRESSING);
    if (!u.hasProgressDeadline(d) || !cur) return;
    if (u.deploymentComplete(d, next) || cur.reason === u.TIMED_OUT) return;
    const after = Date.parse(cur.lastUpdateTime) + d.spec.progressDeadlineSeconds * 1000 - Date.now();
    if (after < 1000) this.queue.addRateLimited(this.key);
    else this.queue.addAfter(this.key, after + 500);
  }
}
