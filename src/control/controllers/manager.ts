/**
 * The control loops of the master that is Raft leader (Raft-native leader
 * election: no election of their own). When this member becomes leader in
 * term T, the manager starts every controller with:
 * - informers over the *local* store (list + watch, no HTTP hop), shared;
 * - a Rest over the store whose writes are fenced to term T
 *   (StoreServer.fencedTxn): the same Txn path as the API server, and a
 *   write made after this member lost the leadership is refused everywhere.
 * When it steps down (or the term moves on), everything stops at once.
 */
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { RangeRequest, RangeResponse, TxnRequest, TxnResponse, WatchRequest, Watcher } from '../../store/index.js';
import { ObjectStore, ResourceCache, Rest } from '../apiserver/index.js';
import type { KvBackend } from '../apiserver/index.js';
import type { ResourceInfo } from '../registry/index.js';
import { EventRecorder } from './events.js';

/** What the manager needs of the store member it runs on (StoreServer provides it). */
export interface LeaderStore extends KvBackend {
  readonly isLeader: boolean;
  readonly term: number;
  fencedTxn(term: number, req: TxnRequest): Promise<TxnResponse>;
  linearizableRevision(): Promise<number>;
}

export interface ControllerContext {
  /** The Raft term these loops run under (their writes are fenced to it). */
  readonly term: number;
  /** Writes (and reads that must be current) through the fenced Txn path. */
  readonly rest: Rest;
  /** The shared informer (local list + watch) of a resource. */
  informer(r: ResourceInfo): ResourceCache;
  readonly logger: Logger;
  /** Aborted when the leadership ends. */
  readonly stopped: AbortSignal;
  /** The event recorder of a component (`kubectl describe` shows its events). */
  recorder(component: string): EventRecorder;
}

export interface Controller {
  readonly name: string;
  /** Runs until `ctx.stopped` aborts; must then return promptly. */
  run(ctx: ControllerContext): Promise<void>;
}

/** How often leadership is checked. */
export const LEADERSHIP_POLL_MS = 50;

export class ControllerManager {
  private timer: NodeJS.Timeout | null = null;
  private current: { term: number; abort: AbortController; done: Promise<void>; informers: Map<string, ResourceCache> } | null = null;
  /** Leaderships this manager ran loops for (for tests and /metrics). */
  leaderships = 0;

  constructor(
    private readonly store: LeaderStore,
    private readonly controllers: readonly Controller[],
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.check(), LEADERSHIP_POLL_MS);
    this.timer.unref();
    this.check();
  }

  get runningTerm(): number | null {
    return this.current?.term ?? null;
  }

  private check(): void {
    const leads = this.store.isLeader;
    const term = this.store.term;
    if (this.current && (!leads || this.current.term !== term)) void this.stopLoops('leadership ended');
    if (leads && !this.current) this.startLoops(term);
  }

  private startLoops(term: number): void {
    const abort = new AbortController();
    // Every controller and informer listens for the end of the leadership.
    setMaxListeners(1000, abort.signal);
    const informers = new Map<string, ResourceCache>();
    const recorders = new Map<string, EventRecorder>();
    const local = new ObjectStore(this.store);
    const fenced: KvBackend = {
      range: (r: RangeRequest): Promise<RangeResponse> => this.store.range(r),
      txn: (r: TxnRequest): Promise<TxnResponse> => this.store.fencedTxn(term, r),
      watch: (r: WatchRequest): Watcher => this.store.watch(r),
      leaseGrant: (r) => this.store.leaseGrant(r),
      linearizableRevision: () => this.store.linearizableRevision(),
    };
    const ctx: ControllerContext = {
      term,
      rest: new Rest(new ObjectStore(fenced), { now: () => new Date(), random: Math.random, watchCache: false }),
      informer: (r) => {
        let i = informers.get(r.storagePrefix);
        if (!i) informers.set(r.storagePrefix, (i = new ResourceCache(local, r)));
        return i;
      },
      logger: this.logger,
      stopped: abort.signal,
      recorder: (component) => {
        let r = recorders.get(component);
        if (!r) recorders.set(component, (r = new EventRecorder(ctx.rest, component, this.logger)));
        return r;
      },
    };
    abort.signal.addEventListener('abort', () => {
      for (const r of recorders.values()) r.close();
    }, { once: true });
    this.leaderships++;
    this.logger.info({ term }, 'leader: starting the control loops');
    const done = Promise.all(
      this.controllers.map((c) =>
        c.run(ctx).catch((e: unknown) => {
          if (!abort.signal.aborted) this.logger.error({ err: e, controller: c.name }, 'controller failed');
        }),
      ),
    ).then(() => undefined);
    this.current = { term, abort, done, informers };
  }

  private async stopLoops(why: string): Promise<void> {
    const c = this.current;
    if (!c) return;
    this.current = null;
    this.logger.info({ term: c.term, why }, 'stopping the control loops');
    c.abort.abort();
    for (const i of c.informers.values()) i.close();
    await c.done;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.stopLoops('shutting down');
  }
}

/**
 * Runs `f` when `signal` aborts — at once if it already has (a listener added
 * after the abort would never fire: a controller that awaited something
 * before registering would then never stop).
 */
export function onStop(signal: AbortSignal, f: () => void): void {
  if (signal.aborted) f();
  else signal.addEventListener('abort', f, { once: true });
}

/** Resolves when `signal` aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  return signal.aborted ? Promise.resolve() : new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
