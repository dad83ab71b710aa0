/**
 * Expectations of a workload controller: what it wrote and has not seen in
 * its informer yet. Upstream's ReplicaSet controller counts expected
 * creations and deletions and lowers the counts from informer events; here
 * the expectations are checked against the informer's state instead (level,
 * not edge), which needs no event bookkeeping:
 * - a creation is seen once the pod informer has reached the revision the
 *   create returned;
 * - a deletion is seen once the informer shows the pod gone, replaced (other
 *   uid) or being deleted.
 * Until then the owner's reconcile does not create or delete (it would count
 * stale state and make duplicates or kill too many). They are in memory and
 * per leadership: a new leader starts with none, from informers loaded by a
 * quorum read after the old leader's fenced writes either committed or were
 * refused, so its counts are exact.
 */
import type { ResourceCache } from '../apiserver/index.js';

/** Past this, unmet expectations are dropped (a lost event must not wedge an owner; upstream: 5 minutes). */
export const EXPECTATIONS_TTL_MS = 5 * 60_000;

interface Pending {
  revision: number;
  /** store key → uid of pods whose deletion is expected. */
  deletes: Map<string, string>;
  sinceMs: number;
}

export class Expectations {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly now: () => number = Date.now) {}

  private entry(key: string): Pending {
    let p = this.pending.get(key);
    if (!p) this.pending.set(key, (p = { revision: 0, deletes: new Map(), sinceMs: this.now() }));
    p.sinceMs = this.now();
    return p;
  }

  /** A write at `revision` (a creation) must be in the informer before the next decision. */
  expectRevision(key: string, revision: number): void {
    const p = this.entry(key);
    p.revision = Math.max(p.revision, revision);
  }

  expectDeletion(key: string, podKey: string, uid: string): void {
    this.entry(key).deletes.set(podKey, uid);
  }

  /** A deletion that failed (or found nothing) will never be observed. */
  deletionFailed(key: string, podKey: string): void {
    this.pending.get(key)?.deletes.delete(podKey);
  }

  /** Whether the informer reflects every write expected for `key`; what is seen is forgotten. */
  satisfied(key: string, pods: ResourceCache): boolean {
    const p = this.pending.get(key);
    if (!p) return true;
    for (const [podKey, uid] of p.deletes) {
      const cur = pods.get(podKey);
      if (!cur || cur.metadata.uid !== uid || cur.metadata.deletionTimestamp) p.deletes.delete(podKey);
    }
    const seen = pods.revision >= p.revision && p.deletes.size === 0;
    if (seen || this.now() - p.sinceMs > EXPECTATIONS_TTL_MS) {
      this.pending.delete(key);
      return true;
    }
    return false;
  }

  forget(key: string): void {
    this.pending.delete(key);
  }

  clear(): void {
    this.pending.clear();
  }
}
