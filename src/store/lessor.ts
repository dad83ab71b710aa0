/**
 * The leader's lease clock. Which leases exist, and which keys they hold, is
 * replicated state (the MVCC store); WHEN a lease expires is decided here, on
 * the leader only, which then proposes its revocation through Raft like any
 * write. Keep-alives are answered by the leader (followers forward them).
 *
 * A new leader cannot know how recently the old one renewed a lease, so it
 * grants every lease its full TTL again (or the remaining TTL recorded by a
 * checkpoint) plus an extension — the same choice etcd makes: a lease may
 * outlive its TTL across a failover, never the other way round.
 */
import { StoreError } from './errors.js';
import type { Lease } from './types.js';

export interface LessorOptions {
  /** Grants below this are raised to it (etcd: 1.5 election timeouts, rounded up to a second). */
  minTtlSeconds: number;
  maxTtlSeconds: number;
  /** Most revocations proposed per expiry sweep (the rest wait for the next sweep). */
  maxRevokesPerSweep: number;
  now: () => number;
}

export const MAX_LEASE_TTL_SECONDS = 9_000_000_000;

export class Lessor {
  /** Lease id → expiry time (ms); only while this member leads. */
  private readonly deadlines = new Map<number, number>();
  private readonly ttls = new Map<number, number>();
  private primary = false;
  /** Leases whose revocation was proposed and not yet applied: not proposed again. */
  private readonly revoking = new Set<number>();

  constructor(private readonly o: LessorOptions) {}

  get isPrimary(): boolean {
    return this.primary;
  }

  /** The TTL a grant really gets, or STORE_ERR_LEASE_TTL_TOO_LARGE. */
  effectiveTtl(ttlSeconds: number): number {
    if (ttlSeconds > this.o.maxTtlSeconds) throw new StoreError('STORE_ERR_LEASE_TTL_TOO_LARGE', `${ttlSeconds}s`);
    return Math.max(ttlSeconds, this.o.minTtlSeconds);
  }

  /** This member became leader: start every lease's clock afresh (plus `extendMs`). */
  promote(leases: readonly Lease[], extendMs: number): void {
    this.primary = true;
    this.deadlines.clear();
    this.ttls.clear();
    this.revoking.clear();
    const now = this.o.now();
    for (const l of leases) {
      const remaining = l.remainingTtl > 0 ? l.remainingTtl : l.ttl;
      this.deadlines.set(l.id, now + remaining * 1000 + extendMs);
      this.ttls.set(l.id, l.ttl);
    }
  }

  /** This member stopped leading: its clock means nothing any more. */
  demote(): void {
    this.primary = false;
    this.deadlines.clear();
    this.ttls.clear();
    this.revoking.clear();
  }

  /** A grant was applied. */
  granted(id: number, ttlSeconds: number): void {
    this.ttls.set(id, ttlSeconds);
    if (this.primary) this.deadlines.set(id, this.o.now() + ttlSeconds * 1000);
  }

  /** A revocation was applied. */
  revoked(id: number): void {
    this.deadlines.delete(id);
    this.ttls.delete(id);
    this.revoking.delete(id);
  }

  /** Renews a lease; returns its TTL in seconds. Only on the leader. */
  keepAlive(id: number): number {
    const ttl = this.ttls.get(id);
    if (!this.primary || ttl === undefined || this.revoking.has(id)) throw new StoreError('STORE_ERR_LEASE_NOT_FOUND', `lease ${id}`);
    this.deadlines.set(id, this.o.now() + ttl * 1000);
    return ttl;
  }

  /** Seconds left (rounded up), or -1 when already expired. Only on the leader. */
  remainingSeconds(id: number): number {
    const d = this.deadlines.get(id);
    if (d === undefined) throw new StoreError('STORE_ERR_LEASE_NOT_FOUND', `lease ${id}`);
    const left = d - this.o.now();
    return left <= 0 ? -1 : Math.ceil(left / 1000);
  }

  /** Leases past their deadline that still need a revocation proposed (bounded per sweep). */
  sweep(): number[] {
    if (!this.primary) return [];
    const now = this.o.now();
    const out: number[] = [];
    for (const [id, d] of this.deadlines) {
      if (d > now || this.revoking.has(id)) continue;
      out.push(id);
      this.revoking.add(id);
      if (out.length >= this.o.maxRevokesPerSweep) break;
    }
    return out;
  }

  /** A proposed revocation failed (e.g. leadership moved); it may be proposed again. */
  revokeFailed(id: number): void {
    this.revoking.delete(id);
  }

  /** Remaining TTLs to checkpoint (so a new leader does not restart long leases from full). */
  checkpoints(): { id: number; remainingTtl: number }[] {
    const now = this.o.now();
    const out: { id: number; remainingTtl: number }[] = [];
    for (const [id, d] of this.deadlines) out.push({ id, remainingTtl: Math.max(1, Math.ceil((d - now) / 1000)) });
    return out;
  }
}
