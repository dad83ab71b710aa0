/**
 * An informer over the API, as client-go's: LIST (paged) then WATCH from the
 * list's resourceVersion, keeping a local copy of the objects and calling
 * handlers for every change in order. A watch that ends is resumed from the
 * last resourceVersion seen (bookmarks included); a 410 Gone (compacted)
 * means a fresh LIST, diffed against the local copy so that handlers see
 * the deletions and changes they missed. Failures back off (bounded) and the
 * client fails over between masters.
 */
import { assert } from '../../util/assert.js';
import { type ApiClient, type Json, type WatchEvent, isKubeApiError } from './client.js';

export type InformerEventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export type InformerHandler = (type: InformerEventType, obj: Json, old: Json | undefined) => void;

export interface InformerLogger {
  warn(obj: object, msg: string): void;
}

export interface InformerOptions {
  /** The collection, e.g. `/api/v1/pods` or `/apis/discovery.k8s.io/v1/endpointslices`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size of the LIST. */
  pageSize?: number;
  /** The server-side timeout asked of each watch (the watch is then resumed). */
  watchTimeoutSeconds?: number;
  /** A bound on the objects held; a LIST beyond it is an error (logged, retried). */
  maxObjects?: number;
  logger?: InformerLogger;
}

export const INFORMER_PAGE_SIZE_DEFAULT = 500;
export const INFORMER_WATCH_TIMEOUT_SECONDS_DEFAULT = 300;
export const INFORMER_MAX_OBJECTS_DEFAULT = 200_000;
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5_000;

/** `namespace/name`, or `name` for cluster-scoped objects. */
export function objectKeyOf(obj: Json): string {
  const m = (obj.metadata ?? {}) as { name?: string; namespace?: string };
  return m.namespace ? `${m.namespace}/${m.name ?? ''}` : (m.name ?? '');
}

export class Informer {
  private readonly objects = new Map<string, Json>();
  private readonly handlers: InformerHandler[] = [];
  private readonly abort = new AbortController();
  private resourceVersion = '';
  private started = false;
  private syncedResolve!: () => void;
  /** Resolves once the first LIST is in (and its ADDED events delivered). */
  readonly synced: Promise<void>;
  hasSynced = false;
  /** Counters for metrics and tests. */
  readonly stats = { lists: 0, watches: 0, events: 0, errors: 0 };

  constructor(
    private readonly client: ApiClient,
    private readonly o: InformerOptions,
  ) {
    this.synced = new Promise((resolve) => (this.syncedResolve = resolve));
  }

  /** Calls `h` for every change from now on, and at once for each object already held (as ADDED). */
  onChange(h: InformerHandler): void {
    this.handlers.push(h);
    for (const obj of this.objects.values()) this.call(h, 'ADDED', obj, undefined);
  }

  get(key: string): Json | undefined {
    return this.objects.get(key);
  }

  list(): Json[] {
    return [...this.objects.values()];
  }

  get size(): number {
    return this.objects.size;
  }

  start(): this {
    assert(!this.started, 'an informer starts once');
    this.started = true;
    void this.run();
    return this;
  }

  stop(): void {
    this.abort.abort();
  }

  get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    let backoff = BACKOFF_MIN_MS;
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
        }
        await this.watchOnce();
        backoff = BACKOFF_MIN_MS;
      } catch (e) {
        if (this.stopped) break;
        this.stats.errors++;
        if (isKubeApiError(e, 410) || (e instanceof GoneError)) {
          needList = true;
          continue;
        }
        this.o.logger?.warn({ path: this.o.path, err: e instanceof Error ? e.message : String(e) }, 'informer: list or watch failed; retrying');
        await sleep(backoff, this.abort.signal);
        backoff = Math.min(BACKOFF_MAX_MS, backoff * 2);
      }
    }
  }

  private query(extra: Record<string, string>): string {
    const q = new URLSearchParams();
    if (this.o.labelSelector) q.set('labelSelector', this.o.labelSelector);
    if (this.o.fieldSelector) q.set('fieldSelector', this.o.fieldSelector);
    for (const [k, v] of Object.entries(extra)) q.set(k, v);
    return `${this.o.path}?${q.toString()}`;
  }

  /** A full LIST (paged, at one revision), then the local copy is made equal to it. */
  private async relist(): Promise<void> {
    const max = this.o.maxObjects ?? INFORMER_MAX_OBJECTS_DEFAULT;
    const fresh = new Map<string, Json>();
    let cont = '';
    let rv = '';
    do {
      const page = await this.client.get<{ items?: Json[]; metadata?: { resourceVersion?: string; continue?: string } }>(
        this.query({ limit: String(this.o.pageSize ?? INFORMER_PAGE_SIZE_DEFAULT), ...(cont ? { continue: cont } : {}) }),
      );
      if (this.stopped) return;
      for (const item of page.items ?? []) fresh.set(objectKeyOf(item), item);
      if (fresh.size > max) throw new Error(`informer ${this.o.path}: more than ${max} objects`);
      rv = page.metadata?.resourceVersion ?? rv;
      cont = page.metadata?.continue ?? '';
    } while (cont);
    this.stats.lists++;
    // Items of a LIST carry no kind; the watch's objects do: keep them alike.
    const kind = kindOfPath(this.o.path);
    for (const [key, obj] of fresh) {
      if (kind && !obj.kind) obj.kind = kind;
      const old = this.objects.get(key);
      this.objects.set(key, obj);
      if (!old) this.emit('ADDED', obj, undefined);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emit('MODIFIED', obj, old);
    }
    for (const [key, old] of this.objects) {
      if (fresh.has(key)) continue;
      this.objects.delete(key);
      this.emit('DELETED', old, old);
    }
    this.resourceVersion = rv;
    if (!this.hasSynced) {
      this.hasSynced = true;
      this.syncedResolve();
    }
  }

  private async watchOnce(): Promise<void> {
    const timeout = this.o.watchTimeoutSeconds ?? INFORMER_WATCH_TIMEOUT_SECONDS_DEFAULT;
    this.stats.watches++;
    const stream = new AbortController();
    const stop = () => stream.abort();
    this.abort.signal.addEventListener('abort', stop, { once: true });
    let failed: Error | null = null;
    try {
      await this.client.watch(
        this.query({ watch: '1', allowWatchBookmarks: 'true', resourceVersion: this.resourceVersion, timeoutSeconds: String(timeout) }),
        (ev) => {
          if (failed) return;
          failed = this.onEvent(ev);
          if (failed) stream.abort();
        },
        stream.signal,
      );
    } finally {
      this.abort.signal.removeEventListener('abort', stop);
    }
    if (failed) throw failed;
  }

  /** Applies one event; an ERROR event ends the watch with the error it returns. */
  private onEvent(ev: WatchEvent): Error | null {
    const obj = ev.object;
    if (ev.type === 'ERROR') {
      // A Status: 410 Gone means the revision was compacted away.
      if (obj?.code === 410) return new GoneError(String(obj.message ?? 'gone'));
      return new Error(`watch ${this.o.path}: ${String(obj?.message ?? 'error event')}`);
    }
    const rv = obj?.metadata?.resourceVersion;
    if (typeof rv === 'string' && rv) this.resourceVersion = rv;
    if (ev.type === 'BOOKMARK') return null;
    this.stats.events++;
    const key = objectKeyOf(obj);
    const old = this.objects.get(key);
    if (ev.type === 'DELETED') {
      if (!old) return null;
      this.objects.delete(key);
      this.emit('DELETED', obj, old);
      return null;
    }
    this.objects.set(key, obj);
    this.emit(old ? 'MODIFIED' : 'ADDED', obj, old);
    return null;
  }

  private emit(type: InformerEventType, obj: Json, old: Json | undefined): void {
    for (const h of this.handlers) this.call(h, type, obj, old);
  }

  private call(h: InformerHandler, type: InformerEventType, obj: Json, old: Json | undefined): void {
    try {
      h(type, obj, old);
    } catch (e) {
      this.o.logger?.warn({ path: this.o.path, err: e instanceof Error ? e.message : String(e) }, 'informer: a handler threw');
    }
  }
}

class GoneError extends Error {}

const KINDS: Record<string, string> = { pods: 'Pod', services: 'Service', endpointslices: 'EndpointSlice', nodes: 'Node', endpoints: 'Endpoints', configmaps: 'ConfigMap', secrets: 'Secret', namespaces: 'Namespace' };

function kindOfPath(path: string): string | undefined {
  return KINDS[path.split('/').pop() ?? ''];
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
