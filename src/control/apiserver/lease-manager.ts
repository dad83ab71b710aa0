/**
 * Time to live for objects that must not pile up (Events, upstream's
 * --event-ttl, one hour by default): they are written with a store lease, and
 * the store deletes them when it expires. One lease serves every write of a
 * window (upstream's lease reuse), so a burst of events costs one grant, and
 * each lease lives `ttl + window` so that no object gets less than `ttl`.
 */
import type { ObjectStore } from './object-store.js';

export const EVENT_TTL_SECONDS_DEFAULT = 3600;
/** Writes within this many seconds (or the TTL, if shorter) share one lease. */
export const LEASE_REUSE_SECONDS = 60;

export class LeaseManager {
  private current: { id: number; grantedAtMs: number } | null = null;
  private granting: Promise<number> | null = null;
  private readonly reuseSeconds: number;

  constructor(
    private readonly store: ObjectStore,
    readonly ttlSeconds: number,
    private readonly nowMs: () => number = Date.now,
  ) {
    this.reuseSeconds = Math.min(LEASE_REUSE_SECONDS, ttlSeconds);
  }

  /** A lease that outlives the call by at least `ttlSeconds`. */
  async lease(): Promise<number> {
    const c = this.current;
    if (c && this.nowMs() - c.grantedAtMs < this.reuseSeconds * 1000) return c.id;
    // Concurrent writers wait for the same grant instead of granting one each.
    this.granting ??= this.grant().finally(() => (this.granting = null));
    return this.granting;
  }

  private async grant(): Promise<number> {
    const grantedAtMs = this.nowMs();
    const { id } = await this.store.grantLease(this.ttlSeconds + this.reuseSeconds);
    this.current = { id, grantedAtMs };
    return id;
  }

  /** After the store said a lease is gone (a leader change lost it, say): grant a new one next time. */
  forget(id: number): void {
    if (this.current?.id === id) this.current = null;
  }
}
