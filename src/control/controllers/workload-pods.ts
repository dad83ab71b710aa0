/**
 * What the workload controllers (ReplicaSet, ReplicationController,
 * Deployment) share about pods and ownership, as pure functions:
 * - pod readiness and availability (upstream's podutil.IsPodReady /
 *   IsPodAvailable), and which pods still count (FilterActivePods);
 * - the order in which surplus pods are deleted (upstream's
 *   ActivePodsWithRanks, without the logarithmic bucketing of times: the
 *   plain order "most recently ready first, newest first" is kept);
 * - a pod from a template (GetPodFromTemplate) and controller references;
 * - the claim plan of the ControllerRefManager: which candidates an owner
 *   owns, should adopt, or should release.
 */
import type { KubeObject } from '../apiserver/index.js';
import type { Selector } from '../apiserver/selectors/index.js';
import { apiVersionOf, type ResourceInfo } from '../registry/index.js';

export type OwnerRef = NonNullable<KubeObject['metadata']['ownerReferences']>[number];

/** Upstream's pod-deletion-cost annotation: pods with a lower cost are deleted first. */
export const POD_DELETION_COST_ANNOTATION = 'controller.kubernetes.io/pod-deletion-cost';

export function controllerRefOf(obj: KubeObject): OwnerRef | undefined {
  return (obj.metadata.ownerReferences ?? []).find((o) => o.controller === true);
}

/** The reference a controller puts on what it creates or adopts. */
export function newControllerRef(r: ResourceInfo, owner: KubeObject): OwnerRef {
  return { apiVersion: apiVersionOf(r), kind: r.kind, name: owner.metadata.name!, uid: owner.metadata.uid!, controller: true, blockOwnerDeletion: true };
}

/** Whether `ref` points at a `r` (any version of its group: the uid decides the rest). */
export function refersTo(ref: OwnerRef | undefined, r: ResourceInfo): ref is OwnerRef {
  if (!ref || ref.kind !== r.kind) return false;
  const group = ref.apiVersion.includes('/') ? ref.apiVersion.split('/')[0] : '';
  return group === r.group;
}

interface Condition {
  type: string;
  status: string;
  lastTransitionTime?: string | null;
}

function readyCondition(pod: KubeObject): Condition | undefined {
  const cs: unknown = pod.status?.conditions;
  return Array.isArray(cs) ? (cs as Condition[]).find((c) => c && c.type === 'Ready') : undefined;
}

export function isPodReady(pod: KubeObject): boolean {
  return readyCondition(pod)?.status === 'True';
}

/** When the pod last became ready (0: unknown or not ready). */
export function podReadyTimeMs(pod: KubeObject): number {
  const c = readyCondition(pod);
  if (c?.status !== 'True' || !c.lastTransitionTime) return 0;
  const t = Date.parse(c.lastTransitionTime);
  return Number.isNaN(t) ? 0 : t;
}

/** Ready for at least `minReadySeconds` (upstream: strictly more, at second granularity of the timestamp). */
export function isPodAvailable(pod: KubeObject, minReadySeconds: number, nowMs: number): boolean {
  if (!isPodReady(pod)) return false;
  if (minReadySeconds <= 0) return true;
  const readyAt = podReadyTimeMs(pod);
  return readyAt > 0 && readyAt + minReadySeconds * 1000 < nowMs;
}

/** A pod that still counts as a replica: not finished and not being deleted. */
export function isPodActive(pod: KubeObject): boolean {
  const phase = pod.status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed' && !pod.metadata.deletionTimestamp;
}

const PHASE_ORDINAL: Readonly<Record<string, number>> = { Pending: 0, Unknown: 1, Running: 2 };

function maxRestarts(pod: KubeObject): number {
  let n = 0;
  for (const list of [pod.status?.containerStatuses, pod.status?.initContainerStatuses]) {
    if (!Array.isArray(list)) continue;
    for (const s of list) if (typeof s?.restartCount === 'number') n = Math.max(n, s.restartCount);
  }
  return n;
}

function deletionCost(pod: KubeObject): number {
  const v = pod.metadata.annotations?.[POD_DELETION_COST_ANNOTATION];
  const n = v === undefined ? 0 : Number.parseInt(v, 10);
  return Number.isFinite(n) ? n : 0;
}

function createdMs(pod: KubeObject): number {
  const t = Date.parse(pod.metadata.creationTimestamp ?? '');
  return Number.isNaN(t) ? 0 : t;
}

/** Upstream's afterOrZero: a zero time sorts first, then the later time. Negative: `a` goes first. */
function laterFirst(a: number, b: number): number {
  if (a === b) return 0;
  if (a === 0 || b === 0) return a === 0 ? -1 : 1;
  return a > b ? -1 : 1;
}

/**
 * The deletion order: negative when `a` should be deleted before `b`.
 * `rankA`/`rankB` count the related pods on the same node (doubled-up pods go first).
 */
export function compareForDeletion(a: KubeObject, b: KubeObject, rankA = 0, rankB = 0): number {
  const na = a.spec?.nodeName ?? '';
  const nb = b.spec?.nodeName ?? '';
  if (na !== nb && (na === '' || nb === '')) return na === '' ? -1 : 1; // unscheduled first
  const pa = PHASE_ORDINAL[a.status?.phase ?? ''] ?? 0;
  const pb = PHASE_ORDINAL[b.status?.phase ?? ''] ?? 0;
  if (pa !== pb) return pa - pb; // Pending < Unknown < Running
  const ra = isPodReady(a);
  const rb = isPodReady(b);
  if (ra !== rb) return ra ? 1 : -1; // not ready first
  const ca = deletionCost(a);
  const cb = deletionCost(b);
  if (ca !== cb) return ca - cb;
  if (rankA !== rankB) return rankB - rankA;
  if (ra && rb) {
    const byReady = laterFirst(podReadyTimeMs(a), podReadyTimeMs(b)); // most recently ready first
    if (byReady !== 0) return byReady;
  }
  const restarts = maxRestarts(b) - maxRestarts(a); // more restarts first
  if (restarts !== 0) return restarts;
  return laterFirst(createdMs(a), createdMs(b)); // newest first
}

/**
 * The `count` pods to delete from `pods`, ranked as upstream does:
 * `related` are the active pods of the owner's whole family (for a
 * Deployment's ReplicaSet, the pods of its sibling ReplicaSets too), used to
 * count how many share each pod's node.
 */
export function podsToDelete(pods: readonly KubeObject[], related: readonly KubeObject[], count: number): KubeObject[] {
  if (count >= pods.length) return [...pods];
  const onNode = new Map<string, number>();
  for (const p of related) {
    const n = p.spec?.nodeName;
    if (n && isPodActive(p)) onNode.set(n, (onNode.get(n) ?? 0) + 1);
  }
  const rank = (p: KubeObject) => (p.spec?.nodeName ? (onNode.get(p.spec.nodeName) ?? 0) : 0);
  const ranked = pods.map((p) => ({ p, rank: rank(p) }));
  ranked.sort((x, y) => compareForDeletion(x.p, y.p, x.rank, y.rank));
  return ranked.slice(0, count).map((x) => x.p);
}

/** A pod as `owner` creates it from its template (upstream's GetPodFromTemplate). */
export function podFromTemplate(template: KubeObject | undefined, namespace: string, generateName: string, ref: OwnerRef): KubeObject {
  const tm = template?.metadata ?? {};
  const metadata: KubeObject['metadata'] = { generateName, namespace, ownerReferences: [ref] };
  if (tm.labels) metadata.labels = structuredClone(tm.labels);
  if (tm.annotations) metadata.annotations = structuredClone(tm.annotations);
  if (tm.finalizers) metadata.finalizers = structuredClone(tm.finalizers);
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec: structuredClone(template?.spec ?? {}) };
}

export interface ClaimPlan {
  /** Controlled by the owner and matching its selector. */
  owned: KubeObject[];
  /** Orphans that match: to be adopted (then owned). */
  adopt: KubeObject[];
  /** Controlled by the owner but no longer matching: to be released. */
  release: KubeObject[];
}

/** The ControllerRefManager's decision for each candidate (same namespace as `owner`). */
export function planClaims(owner: KubeObject, selector: Selector, candidates: readonly KubeObject[]): ClaimPlan {
  const plan: ClaimPlan = { owned: [], adopt: [], release: [] };
  const uid = owner.metadata.uid;
  const ownerGoing = Boolean(owner.metadata.deletionTimestamp);
  for (const c of candidates) {
    const ref = controllerRefOf(c);
    const matches = selector.matches(c.metadata.labels ?? {});
    if (ref) {
      if (ref.uid !== uid) continue;
      if (matches) plan.owned.push(c);
      else if (!ownerGoing) plan.release.push(c); // an owner being deleted keeps what it has
      continue;
    }
    if (ownerGoing || !matches || c.metadata.deletionTimestamp) continue;
    plan.adopt.push(c);
  }
  return plan;
}

/** `obj` with `ref` added as its controller (unchanged if it has a controller already). */
export function withControllerRef(obj: KubeObject, ref: OwnerRef): KubeObject {
  if (controllerRefOf(obj)) return obj;
  const refs = (obj.metadata.ownerReferences ?? []).filter((o) => o.uid !== ref.uid);
  return { ...obj, metadata: { ...obj.metadata, ownerReferences: [...refs, ref] } };
}

/** `obj` without any reference to `uid`. */
export function withoutOwnerRef(obj: KubeObject, uid: string): KubeObject {
  const refs = (obj.metadata.ownerReferences ?? []).filter((o) => o.uid !== uid);
  const { ownerReferences: _gone, ...rest } = obj.metadata;
  return { ...obj, metadata: refs.length > 0 ? { ...rest, ownerReferences: refs } : rest };
}
