/**
 * The watch cache of one resource, as upstream's cacher: every object of the
 * resource decoded once and kept in memory, current through a watch on the
 * store, so that a LIST filters objects in memory instead of reading and
 * parsing every value of the range from LevelDB on each request.
 *
 * Consistency: the cache knows the revision it has applied everything up to
 * (`revision`). A LIST that must be current first reads the store's revision
 * with a quorum (linearizable) and waits until the cache has reached it —
 * the store's watch is local and in revision order, so that is soon — and a
 * LIST at resourceVersion 0 takes the cache as it is (upstream's "any").
 * Pages after the first, and reads at an exact past revision, go to the
 * store (see rest.ts), at the revision the first page was served at.
 *
 * Objects handed out are frozen and shared between requests: nobody may
 * change them (a mutation throws, which is a bug of ours, not a corruption).
 */
import { EventType, type Watcher } from '../../store/index.js';
import { assert } from '../../util/assert.js';
import type { ResourceInfo } from '../registry/resources.js';
import { decodeObject, type KubeObject, type ObjectStore, objectKey } from './object-store.js';
import { deepFreeze } from './objects.js';

const dec = new TextDecoder();

/** How long a consistent LIST waits for the cache to catch up before reading the store instead. */
export const CACHE_WAIT_MS = 3_000;

export type CacheEventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export type CacheHandler = (type: CacheEventType, obj: KubeObject, old: KubeObject | undefined) => void;

export interface CachedPage {
  items: KubeObject[];
  revision: number;
  /** The key after which the next page starts, when `limit` cut the list short. */
  lastKey: string | null;
  remaining: number;
}

/** Index of the first key ≥ `key` in the sorted array. */
function lowerBound(keys: string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class ResourceCache {
  /** Everything at or below this revision is reflected (0: not loaded yet). */
  revision = 0;
  private readonly objects = new Map<string, KubeObject>();
  /** The keys of `objects`, sorted (byte order equals string order for our ASCII keys). */
  private readonly keys: string[] = [];
  private watcher: Watcher | null = null;
  private closed = false;
  private waiters: { revision: number; resolve: (ok: boolean) => void }[] = [];
  /** Set when the cache cannot be trusted any more (its watch ended): readers go to the store. */
  broken = false;
  readonly loaded: Promise<void>;
  /** Every key of the resource starts with this. */
  readonly prefix: string;

  constructor(
    private readonly store: ObjectStore,
    private readonly r: ResourceInfo,
  ) {
    this.prefix = `${r.storagePrefix}/`;
    this.loaded = this.load();
    this.loaded.catch(() => (this.broken = true));
  }

  private async load(): Promise<void> {
    const page = await this.store.list(this.prefix, { revision: 0, limit: 0, startKey: null });
    for (const obj of page.items) this.insert(objectKey(this.r, obj.metadata.namespace ?? '', obj.metadata.name ?? ''), deepFreeze(obj));
    this.revision = page.revision;
    this.watcher = this.store.watch(this.prefix, page.revision + 1, false);
    void this.follow(this.watcher);
  }

  private async follow(w: Watcher): Promise<void> {
    try {
      for (;;) {
        const b = await w.next();
        if (!b || b.compactRevision > 0) break;
        for (const ev of b.events) {
          const key = dec.decode(ev.kv.key);
          if (ev.type === EventType.Delete) this.remove(key);
          else this.insert(key, deepFreeze(decodeObject(ev.kv)));
        }
        assert(b.revision >= this.revision, 'the watch cache went back in revisions');
        this.revision = b.revision;
        this.wake();
      }
    } catch {
      /* the store is closing or the watch failed: fall through to broken */
    }
    if (!this.closed) this.broken = true;
    this.wake(true);
  }

  private insert(key: string, obj: KubeObject): void {
    const old = this.objects.get(key);
    if (!old) this.keys.splice(lowerBound(this.keys, key), 0, key);
    this.objects.set(key, obj);
    this.emit(old ? 'MODIFIED' : 'ADDED', obj, old);
  }

  private remove(key: string): void {
    const old = this.objects.get(key);
    if (!old) return;
    this.objects.delete(key);
    const i = lowerBound(this.keys, key);
    if (this.keys[i] === key) this.keys.splice(i, 1);
    this.emit('DELETED', old, old);
  }

  private readonly handlers: CacheHandler[] = [];

  /**
   * Calls `h` for every change from now on, and for every object already
   * loaded (as ADDED): an informer's event handler. Handlers run
   * synchronously in revision order and must not throw.
   */
  onChange(h: CacheHandler): void {
    this.handlers.push(h);
    for (const obj of this.objects.values()) h('ADDED', obj, undefined);
  }

  private emit(type: CacheEventType, obj: KubeObject, old: KubeObject | undefined): void {
    for (const h of this.handlers) h(type, obj, old);
  }

  /** Every object, in key order (a snapshot of the current state). */
  all(): KubeObject[] {
    return this.keys.map((k) => this.objects.get(k)!);
  }

  private wake(all = false): void {
    const keep: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (all || this.broken) w.resolve(false);
      else if (this.revision >= w.revision) w.resolve(true);
      else keep.push(w);
    }
    this.waiters = keep;
  }

  /** Resolves true once the cache reflects `revision`, false if it cannot within `timeoutMs`. */
  async waitFor(revision: number, timeoutMs = CACHE_WAIT_MS): Promise<boolean> {
    await this.loaded;
    if (this.broken) return false;
    if (this.revision >= revision) return true;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        resolve(false);
      }, timeoutMs);
      const done = (ok: boolean) => {
        clearTimeout(timer);
        resolve(ok);
      };
      this.waiters.push({ revision, resolve: done });
      // Quiet resources get no events: ask the store for the revision it has reached.
      this.watcher?.progress();
    });
  }

  /** Whether it has been loaded and can be read now (no waiting). */
  get ready(): boolean {
    return this.revision > 0 && !this.broken;
  }

  /** One object by its store key, as of `revision`. */
  get(key: string): KubeObject | undefined {
    return this.objects.get(key);
  }

  /** Up to `limit` (0: all) objects under `prefix` that `keep` accepts, in key order. */
  list(prefix: string, keep: ((o: KubeObject) => boolean) | null, limit: number): CachedPage {
    assert(prefix.startsWith(this.prefix), 'a cache list outside its resource');
    const items: KubeObject[] = [];
    let i = lowerBound(this.keys, prefix);
    for (; i < this.keys.length; i++) {
      const key = this.keys[i]!;
      if (!key.startsWith(prefix)) break;
      if (limit > 0 && items.length >= limit) {
        return { items, revision: this.revision, lastKey: this.keys[i - 1]!, remaining: keep ? 0 : this.countFrom(i, prefix) };
      }
      const obj = this.objects.get(key)!;
      if (!keep || keep(obj)) items.push(obj);
    }
    return { items, revision: this.revision, lastKey: null, remaining: 0 };
  }

  private countFrom(i: number, prefix: string): number {
    let n = 0;
    for (; i < this.keys.length && this.keys[i]!.startsWith(prefix); i++) n++;
    return n;
  }

  get size(): number {
    return this.objects.size;
  }

  close(): void {
    this.closed = true;
    this.watcher?.cancel();
    this.wake(true);
  }
}
