/**
 * The scheduling queue (upstream's PriorityQueue, simplified):
 * - activeQ: a heap in QueueSort order; what `pop` hands out;
 * - unschedulable: pods that fit nowhere, parked until the cluster changes
 *   in a way that may help them (a node added or changed, a pod deleted, or
 *   — for pods that failed on pod affinity or spreading — a pod placed), or
 *   until they have been parked for UNSCHEDULABLE_FLUSH_MS;
 * - backoff: pods released from parking before their backoff (1 s,
 *   doubling per failed attempt, at most 10 s) has passed wait out the rest.
 * One entry per pod key across the three; an update replaces the entry.
 */
import type { PodInfo } from './pod-info.js';

export const INITIAL_BACKOFF_MS = 1_000;
export const MAX_BACKOFF_MS = 10_000;
/** Parked pods are retried after this even without an event (upstream: 5 minutes). */
export const UNSCHEDULABLE_FLUSH_MS = 60_000;

interface Parked {
  info: PodInfo;
  backoffUntilMs: number;
  parkedAtMs: number;
  /** The plugins that rejected it (what kind of change may help). */
  plugins: ReadonlySet<string>;
}

export class SchedulingQueue {
  private readonly heap: PodInfo[] = [];
  /** key → the entry in the heap that is current (others are stale and skipped). */
  private readonly active = new Map<string, PodInfo>();
  private readonly unschedulable = new Map<string, Parked>();
  private readonly backoff = new Map<string, Parked>();
  private readonly attempts = new Map<string, number>();
  private waiters: ((p: PodInfo | null) => void)[] = [];
  private closed = false;

  constructor(
    private readonly less: (a: PodInfo, b: PodInfo) => boolean,
    private readonly now: () => number = Date.now,
  ) {}

  get lengths(): { active: number; backoff: number; unschedulable: number } {
    return { active: this.active.size, backoff: this.backoff.size, unschedulable: this.unschedulable.size };
  }

  has(key: string): boolean {
    return this.active.has(key) || this.backoff.has(key) || this.unschedulable.has(key);
  }

  /**
   * A pending pod was added or updated. A parked pod is only updated in place
   * unless `changed` (its spec or labels changed, so it may fit now).
   */
  addOrUpdate(info: PodInfo, changed = true): void {
    if (this.closed) return;
    const parked = this.unschedulable.get(info.key) ?? this.backoff.get(info.key);
    if (parked) {
      parked.info = info;
      if (changed && this.unschedulable.has(info.key)) this.release(info.key, parked);
      return;
    }
    this.pushActive(info);
  }

  delete(key: string): void {
    this.active.delete(key);
    this.unschedulable.delete(key);
    this.backoff.delete(key);
    this.attempts.delete(key);
  }

  /** The pod fit nowhere (or its bind failed): park it until something changes. */
  addUnschedulable(info: PodInfo, plugins: ReadonlySet<string>): void {
    if (this.closed || this.active.has(info.key)) return; // updated meanwhile: the new version goes first
    const n = (this.attempts.get(info.key) ?? 0) + 1;
    this.attempts.set(info.key, n);
    const now = this.now();
    this.unschedulable.set(info.key, { info, backoffUntilMs: now + backoffMs(n), parkedAtMs: now, plugins });
  }

  /** Scheduled: the next failure starts the backoff over. */
  forget(key: string): void {
    this.attempts.delete(key);
  }

  attemptsOf(key: string): number {
    return this.attempts.get(key) ?? 0;
  }

  /** The cluster changed: parked pods that `mayHelp` go to active (or backoff if it has not passed). */
  moveAll(mayHelp: (rejectedBy: ReadonlySet<string>) => boolean = () => true): void {
    for (const [key, p] of this.unschedulable) if (p.plugins.size === 0 || mayHelp(p.plugins)) this.release(key, p);
  }

  /** Moves pods whose backoff passed to active and long-parked pods out of parking; call periodically. */
  flush(): void {
    const now = this.now();
    for (const [key, p] of this.backoff) {
      if (p.backoffUntilMs > now) continue;
      this.backoff.delete(key);
      this.pushActive(p.info);
    }
    for (const [key, p] of this.unschedulable) if (now - p.parkedAtMs >= UNSCHEDULABLE_FLUSH_MS) this.release(key, p);
  }

  private release(key: string, p: Parked): void {
    this.unschedulable.delete(key);
    if (p.backoffUntilMs > this.now()) this.backoff.set(key, p);
    else this.pushActive(p.info);
  }

  /** The next pod to schedule, without waiting; undefined when activeQ is empty. */
  tryPop(): PodInfo | undefined {
    while (this.heap.length > 0) {
      const top = this.popHeap();
      if (this.active.get(top.key) !== top) continue; // stale: deleted or replaced
      this.active.delete(top.key);
      return top;
    }
    return undefined;
  }

  /** The next pod to schedule; null once closed. */
  pop(): Promise<PodInfo | null> {
    const p = this.tryPop();
    if (p) return Promise.resolve(p);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  close(): void {
    this.closed = true;
    for (const w of this.waiters) w(null);
    this.waiters = [];
  }

  private pushActive(info: PodInfo): void {
    this.backoff.delete(info.key);
    this.unschedulable.delete(info.key);
    const w = this.waiters.shift();
    if (w) {
      this.active.delete(info.key);
      w(info);
      return;
    }
    this.active.set(info.key, info);
    this.pushHeap(info);
  }

  private pushHeap(x: PodInfo): void {
    const h = this.heap;
    h.push(x);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private popHeap(): PodInfo {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length === 0) return top;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
    return top;
  }
}

/** 1 s for the first failure, doubling, at most 10 s. */
export function backoffMs(attempts: number): number {
  return Math.min(MAX_BACKOFF_MS, INITIAL_BACKOFF_MS * 2 ** Math.max(0, Math.min(attempts - 1, 30)));
}
