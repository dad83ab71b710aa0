/**
 * A keyed work queue in the shape of client-go's: a key added while queued is
 * queued once (duplicates merge); a key being processed is not handed out
 * again until `done`, and if it was added meanwhile it is queued again then;
 * failures back off per key exponentially; a global token bucket bounds the
 * rate of retries. Bounded: past `maxKeys` distinct keys, new keys are
 * dropped (and counted) — reconcilers are level-based and the periodic
 * resync brings dropped keys back.
 */

export interface WorkQueueOptions {
  /** First retry delay of a failing key, doubled on every failure up to `maxBackoffMs`. */
  baseBackoffMs: number;
  maxBackoffMs: number;
  /** Retries allowed per second overall, and the burst above it. */
  retriesPerSecond: number;
  retryBurst: number;
  maxKeys: number;
}

export const WORKQUEUE_DEFAULTS: WorkQueueOptions = { baseBackoffMs: 5, maxBackoffMs: 60_000, retriesPerSecond: 10, retryBurst: 100, maxKeys: 100_000 };

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  /** Added while being processed: queued again at `done`. */
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private waiters: ((key: string | null) => void)[] = [];
  private shut = false;
  private tokens: number;
  private tokensAtMs = Date.now();
  dropped = 0;
  private readonly o: WorkQueueOptions;

  constructor(o: Partial<WorkQueueOptions> = {}) {
    this.o = { ...WORKQUEUE_DEFAULTS, ...o };
    this.tokens = this.o.retryBurst;
  }

  get length(): number {
    return this.queue.length;
  }

  add(key: string): void {
    if (this.shut) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    if (this.queued.size + this.processing.size + this.timers.size >= this.o.maxKeys && !this.timers.has(key)) {
      this.dropped++;
      return;
    }
    const w = this.waiters.shift();
    if (w) {
      this.processing.add(key);
      w(key);
      return;
    }
    this.queued.add(key);
    this.queue.push(key);
  }

  /** Adds `key` after `delayMs` (one pending delay per key: the earlier wins). */
  addAfter(key: string, delayMs: number): void {
    if (this.shut || this.timers.has(key)) return;
    if (delayMs <= 0) return this.add(key);
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    t.unref();
    this.timers.set(key, t);
  }

  /** Adds `key` after its backoff, which grows with every call until `forget`. */
  addRateLimited(key: string): void {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const backoff = Math.min(this.o.maxBackoffMs, this.o.baseBackoffMs * 2 ** Math.min(n, 30));
    this.addAfter(key, Math.max(backoff, this.bucketDelayMs()));
  }

  /** The key succeeded: its backoff starts over. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** How often `key` has failed since it last succeeded. */
  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to work on (then call `done(key)`), or null once shut down. */
  get(): Promise<string | null> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.queued.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shut) return Promise.resolve(null);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.delete(key)) this.add(key);
  }

  shutDown(): void {
    this.shut = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const w of this.waiters) w(null);
    this.waiters = [];
  }

  /** The global token bucket: the delay before the next retry may run. */
  private bucketDelayMs(): number {
    const now = Date.now();
    this.tokens = Math.min(this.o.retryBurst, this.tokens + ((now - this.tokensAtMs) / 1000) * this.o.retriesPerSecond);
    this.tokensAtMs = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.o.retriesPerSecond) * 1000;
  }
}

/** Runs `reconcile` on keys from `queue` with `workers` concurrent workers until the queue shuts down. */
export async function runWorkers(queue: WorkQueue, workers: number, reconcile: (key: string) => Promise<void>, onError: (key: string, e: unknown) => void): Promise<void> {
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (;;) {
        const key = await queue.get();
        if (key === null) return;
        try {
          await reconcile(key);
          queue.forget(key);
        } catch (e) {
          onError(key, e);
          queue.addRateLimited(key);
        } finally {
          queue.done(key);
        }
      }
    }),
  );
}
