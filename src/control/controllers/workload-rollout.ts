/**
 * The arithmetic of Deployments, as pure functions (upstream's
 * pkg/controller/deployment/util/deployment_util.go): the pod-template hash,
 * which ReplicaSet is new and which are old, maxSurge/maxUnavailable
 * fenceposts, how many replicas the new ReplicaSet may have, proportional
 * scaling, revision annotations, status and its conditions.
 *
 * Objects here are mutable copies owned by the caller (never informer
 * objects, which are frozen): the functions named `set…` change them.
 */
import type { KubeObject } from '../apiserver/index.js';
import { deepEqual, timestamp } from '../apiserver/objects.js';

export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';
export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
export const REVISION_HISTORY_ANNOTATION = 'deployment.kubernetes.io/revision-history';
export const DESIRED_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/desired-replicas';
export const MAX_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/max-replicas';
/** The revision-history annotation is cut (oldest first) to stay within this. */
export const MAX_REV_HISTORY_CHARS = 2000;

/** Deployment annotations that are not copied to its ReplicaSets. */
const NOT_COPIED = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION_ANNOTATION,
  REVISION_HISTORY_ANNOTATION,
  DESIRED_REPLICAS_ANNOTATION,
  MAX_REPLICAS_ANNOTATION,
  'deprecated.deployment.rollback.to',
]);

// Condition types and reasons, as `kubectl rollout status` and `kubectl describe` read them.
export const AVAILABLE = 'Available';
export const PROGRESSING = 'Progressing';
export const REPLICA_FAILURE = 'ReplicaFailure';
export const MIN_REPLICAS_AVAILABLE = 'MinimumReplicasAvailable';
export const MIN_REPLICAS_UNAVAILABLE = 'MinimumReplicasUnavailable';
export const NEW_RS_CREATED = 'NewReplicaSetCreated';
export const FOUND_NEW_RS = 'FoundNewReplicaSet';
export const RS_UPDATED = 'ReplicaSetUpdated';
export const NEW_RS_AVAILABLE = 'NewReplicaSetAvailable';
export const TIMED_OUT = 'ProgressDeadlineExceeded';
export const FAILED_RS_CREATE = 'ReplicaSetCreateError';
export const PAUSED = 'DeploymentPaused';
export const RESUMED = 'DeploymentResumed';

/** progressDeadlineSeconds at this value means "no deadline" (upstream's MaxInt32 convention). */
const NO_DEADLINE = 2 ** 31 - 1;

// ---------------------------------------------------------------- hashing

/** JSON with object keys sorted and undefined members left out: one text per value. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x === undefined ? null : x)).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

/** FNV-1a, 32 bits. */
export function fnv32a(bytes: Uint8Array, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

/** The alphabet upstream renders hashes in (no vowels: no words; no 0/1/3: no look-alikes). */
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** Upstream's rand.SafeEncodeString: each character mapped into the safe alphabet. */
export function safeEncode(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += SAFE_ALPHABET[s.charCodeAt(i) % SAFE_ALPHABET.length];
  return out;
}

/**
 * The pod-template hash: FNV-32a over the template's canonical JSON, then
 * (when set) the collision count as 8 little-endian bytes, as upstream
 * appends it; the decimal value rendered DNS-safe. Stable across members
 * and restarts: it names the ReplicaSet.
 */
export function computeHash(template: unknown, collisionCount?: number): string {
  const enc = new TextEncoder();
  let h = fnv32a(enc.encode(canonicalJson(template ?? {})));
  if (typeof collisionCount === 'number') {
    const extra = new Uint8Array(8);
    new DataView(extra.buffer).setUint32(0, collisionCount >>> 0, true);
    h = fnv32a(extra, h);
  }
  return safeEncode(String(h));
}

function withoutHashLabel(template: KubeObject | undefined): unknown {
  const t = structuredClone(template ?? {}) as KubeObject;
  const labels = t.metadata?.labels;
  if (labels) {
    delete labels[POD_TEMPLATE_HASH_LABEL];
    if (Object.keys(labels).length === 0) delete t.metadata.labels;
  }
  return t;
}

/** Equal templates but for the pod-template-hash label (upstream's EqualIgnoreHash). */
export function equalIgnoreHash(a: KubeObject | undefined, b: KubeObject | undefined): boolean {
  return deepEqual(withoutHashLabel(a), withoutHashLabel(b));
}

// ---------------------------------------------------------------- counts

export function specReplicas(o: KubeObject | null | undefined): number {
  const n = o?.spec?.replicas;
  return typeof n === 'number' ? n : o ? 1 : 0;
}

function statusCount(o: KubeObject | null | undefined, field: string): number {
  const n = o?.status?.[field];
  return typeof n === 'number' ? n : 0;
}

/** Sum of spec.replicas. */
export function replicaCount(rss: readonly (KubeObject | null)[]): number {
  return rss.reduce((n, rs) => n + (rs ? specReplicas(rs) : 0), 0);
}

/** Sum of status.<field> (replicas, readyReplicas, availableReplicas). */
export function statusSum(rss: readonly (KubeObject | null)[], field: 'replicas' | 'readyReplicas' | 'availableReplicas'): number {
  return rss.reduce((n, rs) => n + statusCount(rs, field), 0);
}

/**
 * An int-or-percent against `total` (upstream's GetScaledValueFromIntOrPercent):
 * percentages round up for maxSurge, down for maxUnavailable.
 */
export function scaledValue(v: unknown, total: number, roundUp: boolean): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const m = /^(\d+)%$/.exec(v);
    if (m) {
      const x = (Number(m[1]) * total) / 100;
      return roundUp ? Math.ceil(x) : Math.floor(x);
    }
    const n = Number.parseInt(v, 10);
    if (/^\d+$/.test(v)) return n;
  }
  return 0;
}

/** Surge and unavailability for `desired` replicas; never both 0 (then unavailable is 1). */
export function resolveFenceposts(maxSurge: unknown, maxUnavailable: unknown, desired: number): [number, number] {
  const surge = scaledValue(maxSurge ?? 0, desired, true);
  let unavailable = scaledValue(maxUnavailable, desired, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return [surge, unavailable];
}

export function isRollingUpdate(d: KubeObject): boolean {
  return (d.spec?.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
}

export function maxSurge(d: KubeObject): number {
  if (!isRollingUpdate(d)) return 0;
  const ru = d.spec?.strategy?.rollingUpdate ?? {};
  return resolveFenceposts(ru.maxSurge, ru.maxUnavailable, specReplicas(d))[0];
}

export function maxUnavailable(d: KubeObject): number {
  const desired = specReplicas(d);
  if (!isRollingUpdate(d) || desired === 0) return 0;
  const ru = d.spec?.strategy?.rollingUpdate ?? {};
  return Math.min(desired, resolveFenceposts(ru.maxSurge, ru.maxUnavailable, desired)[1]);
}

// ---------------------------------------------------------------- new and old ReplicaSets

export function revisionOf(rs: KubeObject): number {
  const v = rs.metadata.annotations?.[REVISION_ANNOTATION];
  const n = v === undefined ? 0 : Number.parseInt(v, 10);
  return Number.isFinite(n) ? n : 0;
}

export function maxRevision(rss: readonly KubeObject[]): number {
  return rss.reduce((m, rs) => Math.max(m, revisionOf(rs)), 0);
}

/** Oldest first; ties by name (upstream's ReplicaSetsByCreationTimestamp). */
export function byCreation(a: KubeObject, b: KubeObject): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  return (a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : (a.metadata.name ?? '') > (b.metadata.name ?? '') ? 1 : 0;
}

/** Lowest revision first; ties by creation (upstream's ReplicaSetsByRevision). */
export function byRevision(a: KubeObject, b: KubeObject): number {
  return revisionOf(a) - revisionOf(b) || byCreation(a, b);
}

/** The oldest ReplicaSet whose template equals the Deployment's (ignoring the hash label). */
export function findNewReplicaSet(d: KubeObject, rss: readonly KubeObject[]): KubeObject | null {
  return [...rss].sort(byCreation).find((rs) => equalIgnoreHash(rs.spec?.template, d.spec?.template)) ?? null;
}

export function filterActive(rss: readonly (KubeObject | null)[]): KubeObject[] {
  return rss.filter((rs): rs is KubeObject => rs !== null && specReplicas(rs) > 0);
}

/** How many replicas the new ReplicaSet may have now (upstream's NewRSNewReplicas). */
export function newRSNewReplicas(d: KubeObject, allRSs: readonly (KubeObject | null)[], newRS: KubeObject): number {
  const desired = specReplicas(d);
  if (!isRollingUpdate(d)) return desired;
  const surge = scaledValue(d.spec?.strategy?.rollingUpdate?.maxSurge ?? 0, desired, true);
  const maxTotal = desired + surge;
  const current = replicaCount(allRSs);
  if (current >= maxTotal) return specReplicas(newRS);
  const up = Math.min(maxTotal - current, desired - specReplicas(newRS));
  return specReplicas(newRS) + up;
}

/** The new ReplicaSet runs all the Deployment wants, all available. */
export function isSaturated(d: KubeObject, rs: KubeObject | null): boolean {
  if (!rs) return false;
  const desired = Number.parseInt(rs.metadata.annotations?.[DESIRED_REPLICAS_ANNOTATION] ?? '', 10);
  return desired === specReplicas(d) && specReplicas(rs) === specReplicas(d) && statusCount(rs, 'availableReplicas') === specReplicas(d);
}

/** The only active ReplicaSet; with none active, the new one or the newest; null with several active. */
export function findActiveOrLatest(newRS: KubeObject | null, oldRSs: readonly KubeObject[]): KubeObject | null {
  if (!newRS && oldRSs.length === 0) return null;
  const newestFirst = [...oldRSs].sort((a, b) => byCreation(b, a));
  const active = filterActive([...newestFirst, newRS]);
  if (active.length === 0) return newRS ?? newestFirst[0] ?? null;
  return active.length === 1 ? active[0]! : null;
}

function annotatedMaxReplicas(rs: KubeObject): number | null {
  const v = rs.metadata.annotations?.[MAX_REPLICAS_ANNOTATION];
  const n = v === undefined ? Number.NaN : Number.parseInt(v, 10);
  return Number.isFinite(n) ? n : null;
}

/** A ReplicaSet's share of a scaling of the Deployment (upstream's GetProportion). */
export function getProportion(rs: KubeObject, d: KubeObject, toAdd: number, added: number): number {
  if (specReplicas(rs) === 0 || toAdd === 0 || toAdd === added) return 0;
  const allowed = toAdd - added;
  const fraction = replicaSetFraction(rs, d);
  return toAdd > 0 ? Math.min(fraction, allowed) : Math.max(fraction, allowed);
}

function replicaSetFraction(rs: KubeObject, d: KubeObject): number {
  if (specReplicas(d) === 0) return -specReplicas(rs);
  const deploymentMax = specReplicas(d) + maxSurge(d);
  const before = annotatedMaxReplicas(rs) ?? statusCount(d, 'replicas');
  if (before === 0) return 0;
  const size = (specReplicas(rs) * deploymentMax) / before;
  // Go's math.Round: halves away from zero.
  return Math.sign(size) * Math.round(Math.abs(size)) - specReplicas(rs);
}

// ---------------------------------------------------------------- annotations

function annotationsOf(o: KubeObject): Record<string, string> {
  if (!o.metadata.annotations) o.metadata.annotations = {};
  return o.metadata.annotations;
}

/** desired-replicas and max-replicas on a ReplicaSet; true when they changed. */
export function setReplicasAnnotations(rs: KubeObject, desired: number, max: number): boolean {
  const a = annotationsOf(rs);
  const changed = a[DESIRED_REPLICAS_ANNOTATION] !== String(desired) || a[MAX_REPLICAS_ANNOTATION] !== String(max);
  a[DESIRED_REPLICAS_ANNOTATION] = String(desired);
  a[MAX_REPLICAS_ANNOTATION] = String(max);
  return changed;
}

function copyDeploymentAnnotations(d: KubeObject, rs: KubeObject): boolean {
  const a = annotationsOf(rs);
  let changed = false;
  for (const [k, v] of Object.entries(d.metadata.annotations ?? {})) {
    if (NOT_COPIED.has(k) || a[k] === v) continue;
    a[k] = v;
    changed = true;
  }
  return changed;
}

/**
 * The new ReplicaSet's annotations (upstream's SetNewReplicaSetAnnotations):
 * the Deployment's own, the revision (raised to `newRevision`), the revisions
 * it had before when it comes back (a rollback), and for a ReplicaSet being
 * created, the replica annotations. True when anything changed.
 */
export function setNewReplicaSetAnnotations(d: KubeObject, rs: KubeObject, newRevision: string, exists: boolean): boolean {
  let changed = copyDeploymentAnnotations(d, rs);
  const a = annotationsOf(rs);
  const oldRevision = a[REVISION_ANNOTATION];
  const oldN = oldRevision === undefined ? 0 : Number.parseInt(oldRevision, 10);
  if (Number.isNaN(oldN)) return changed; // unparseable: leave it alone, as upstream
  const newN = Number.parseInt(newRevision, 10);
  if (oldN < newN) {
    a[REVISION_ANNOTATION] = newRevision;
    changed = true;
    if (oldRevision !== undefined) recordRevisionHistory(a, oldRevision);
  }
  if (!exists && setReplicasAnnotations(rs, specReplicas(d), specReplicas(d) + maxSurge(d))) changed = true;
  return changed;
}

function recordRevisionHistory(a: Record<string, string>, oldRevision: string): void {
  const history = a[REVISION_HISTORY_ANNOTATION] ?? '';
  if (history === '') {
    a[REVISION_HISTORY_ANNOTATION] = oldRevision;
    return;
  }
  const revisions = history.split(',');
  let total = history.length + oldRevision.length + 1;
  let start = 0;
  while (total > MAX_REV_HISTORY_CHARS && start < revisions.length) total -= revisions[start++]!.length + 1;
  if (total <= MAX_REV_HISTORY_CHARS) a[REVISION_HISTORY_ANNOTATION] = [...revisions.slice(start), oldRevision].join(',');
}

/** The Deployment's revision annotation; true when it changed. */
export function setDeploymentRevision(d: KubeObject, revision: string | undefined): boolean {
  if (revision === undefined) return false;
  const a = annotationsOf(d);
  if (a[REVISION_ANNOTATION] === revision) return false;
  a[REVISION_ANNOTATION] = revision;
  return true;
}

// ---------------------------------------------------------------- conditions and status

export interface DeploymentCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastUpdateTime: string;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export function rfc3339(ms: number): string {
  return timestamp(new Date(ms));
}

export function newCondition(type: string, status: DeploymentCondition['status'], reason: string, message: string, nowMs: number): DeploymentCondition {
  const t = rfc3339(nowMs);
  return { type, status, lastUpdateTime: t, lastTransitionTime: t, reason, message };
}

export function getCondition(status: KubeObject['status'], type: string): DeploymentCondition | undefined {
  const cs: unknown = status?.conditions;
  return Array.isArray(cs) ? (cs as DeploymentCondition[]).find((c) => c.type === type) : undefined;
}

/** Sets a condition unless one of the same status and reason is there; keeps the transition time while the status holds. */
export function setCondition(status: Record<string, unknown>, c: DeploymentCondition): void {
  const cur = getCondition(status, c.type);
  if (cur && cur.status === c.status && cur.reason === c.reason) return;
  const next = { ...c };
  if (cur && cur.status === c.status) next.lastTransitionTime = cur.lastTransitionTime;
  status.conditions = [...((status.conditions as DeploymentCondition[] | undefined) ?? []).filter((x) => x.type !== c.type), next];
}

export function removeCondition(status: Record<string, unknown>, type: string): void {
  const cs = ((status.conditions as DeploymentCondition[] | undefined) ?? []).filter((x) => x.type !== type);
  if (cs.length > 0) status.conditions = cs;
  else delete status.conditions;
}

export function hasProgressDeadline(d: KubeObject): boolean {
  const s = d.spec?.progressDeadlineSeconds;
  return typeof s === 'number' && s !== NO_DEADLINE;
}

/** Upstream's calculateStatus: counts over every ReplicaSet, and the Available condition. */
export function calculateStatus(allRSs: readonly (KubeObject | null)[], newRS: KubeObject | null, d: KubeObject, nowMs: number): Record<string, unknown> {
  const available = statusSum(allRSs, 'availableReplicas');
  const unavailable = Math.max(0, replicaCount(allRSs) - available);
  const counts: Record<string, number> = {
    observedGeneration: d.metadata.generation ?? 0,
    replicas: statusSum(allRSs, 'replicas'),
    updatedReplicas: statusSum([newRS], 'replicas'),
    readyReplicas: statusSum(allRSs, 'readyReplicas'),
    availableReplicas: available,
    unavailableReplicas: unavailable,
  };
  // The wire form upstream produces: zero counts are omitted.
  const status: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(counts)) if (v !== 0) status[k] = v;
  if (typeof d.status?.collisionCount === 'number') status.collisionCount = d.status.collisionCount;
  if (Array.isArray(d.status?.conditions) && d.status.conditions.length > 0) status.conditions = structuredClone(d.status.conditions);
  if (available >= specReplicas(d) - maxUnavailable(d)) setCondition(status, newCondition(AVAILABLE, 'True', MIN_REPLICAS_AVAILABLE, 'Deployment has minimum availability.', nowMs));
  else setCondition(status, newCondition(AVAILABLE, 'False', MIN_REPLICAS_UNAVAILABLE, 'Deployment does not have minimum availability.', nowMs));
  return status;
}

const n = (s: Record<string, unknown> | undefined, k: string): number => (typeof s?.[k] === 'number' ? (s[k] as number) : 0);

/** Every replica updated and available, and the latest spec observed. */
export function deploymentComplete(d: KubeObject, s: Record<string, unknown>): boolean {
  const want = specReplicas(d);
  return n(s, 'updatedReplicas') === want && n(s, 'replicas') === want && n(s, 'availableReplicas') === want && n(s, 'observedGeneration') >= (d.metadata.generation ?? 0);
}

/** Any progress since the status the Deployment has now. */
export function deploymentProgressing(d: KubeObject, s: Record<string, unknown>): boolean {
  const old = d.status as Record<string, unknown> | undefined;
  const oldOld = n(old, 'replicas') - n(old, 'updatedReplicas');
  const newOld = n(s, 'replicas') - n(s, 'updatedReplicas');
  return n(s, 'updatedReplicas') > n(old, 'updatedReplicas') || newOld < oldOld || n(s, 'readyReplicas') > n(old, 'readyReplicas') || n(s, 'availableReplicas') > n(old, 'availableReplicas');
}

/** No progress reported within progressDeadlineSeconds of the Progressing condition's last update. */
export function deploymentTimedOut(d: KubeObject, s: Record<string, unknown>, nowMs: number): boolean {
  if (!hasProgressDeadline(d)) return false;
  const c = getCondition(s, PROGRESSING);
  if (!c || c.reason === NEW_RS_AVAILABLE) return false;
  if (c.reason === TIMED_OUT) return true;
  return Date.parse(c.lastUpdateTime) + d.spec.progressDeadlineSeconds * 1000 < nowMs;
}

/** A ReplicaSet's ReplicaFailure as a Deployment condition (upstream's ReplicaSetToDeploymentCondition). */
export function replicaFailureOf(allRSs: readonly (KubeObject | null)[], newRS: KubeObject | null): DeploymentCondition | undefined {
  for (const rs of [newRS, ...allRSs]) {
    const c = rs ? getCondition(rs.status, REPLICA_FAILURE) : undefined;
    if (c) return { type: REPLICA_FAILURE, status: c.status, lastUpdateTime: c.lastTransitionTime, lastTransitionTime: c.lastTransitionTime, reason: c.reason, message: c.message };
  }
  return undefined;
}
