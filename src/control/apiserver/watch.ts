/**
 * WATCH: the store's watch on a resource's key prefix, turned into
 * Kubernetes watch events. As upstream's watch cache does:
 * - resourceVersion '' or '0' first sends the current objects as ADDED
 *   (from one consistent LIST), then the changes after that LIST's revision;
 *   N sends the changes after revision N;
 * - with selectors, an object that starts matching is ADDED, one that stops
 *   matching is DELETED (with its last matching state);
 * - a start revision lost to compaction ends the stream with an ERROR event
 *   carrying a 410 Expired Status;
 * - BOOKMARK events (when asked for) carry the revision everything up to
 *   which has been sent, from the store's progress notifications.
 */
import { EventType, type KeyValue, type WatchEvent, type Watcher } from '../../store/index.js';
import { apiVersionOf, type ResourceInfo } from '../registry/resources.js';
import { ApiError, expired, type Status } from './errors.js';
import { decodeObject, type KubeObject, listPrefix } from './object-store.js';
import { deepFreeze } from './objects.js';
import { parseResourceVersion, type Rest, type Selection } from './rest.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface KubeWatchEvent {
  type: WatchEventType;
  object: KubeObject | Status;
}

export interface WatchParams {
  resourceVersion: string;
  allowBookmarks: boolean;
  /** Interval between bookmarks, ms (upstream sends one about every minute). */
  bookmarkIntervalMs: number;
}

/** A running watch: `next()` gives the next events (null when the stream is over); `close()` stops it. */
export interface KubeWatch {
  next(): Promise<KubeWatchEvent[] | null>;
  close(): void;
}

/** Initial objects per ADDED batch when a watch starts from '' or '0'. */
export const INITIAL_EVENTS_BATCH = 500;

/*
 * Fan-out: the store hands every watcher the same KeyValue objects, so an
 * event is decoded once (a frozen object all watchers share), becomes one
 * shared watch event per type, and is serialized once (eventLine), however
 * many watchers it goes to.
 */
const decoded = new WeakMap<KeyValue, KubeObject>();
const sharedEvents = new WeakMap<KeyValue, Map<string, KubeWatchEvent>>();
const lines = new WeakMap<KubeWatchEvent, string>();

function decodeShared(kv: KeyValue): KubeObject {
  let o = decoded.get(kv);
  if (!o) {
    o = deepFreeze(decodeObject(kv));
    decoded.set(kv, o);
  }
  return o;
}

/** The one event of `type` for the change `anchor`, made once by `make`. */
function sharedEvent(anchor: KeyValue, type: WatchEventType, variant: string, make: () => KubeObject): KubeWatchEvent {
  let m = sharedEvents.get(anchor);
  if (!m) sharedEvents.set(anchor, (m = new Map()));
  const k = `${type}/${variant}`;
  let ev = m.get(k);
  if (!ev) m.set(k, (ev = { type, object: make() }));
  return ev;
}

/** An event as its newline-terminated JSON line, serialized once per shared event. */
export function eventLine(ev: KubeWatchEvent): string {
  let l = lines.get(ev);
  if (l === undefined) {
    l = `${JSON.stringify(ev)}\n`;
    lines.set(ev, l);
  }
  return l;
}

/** `obj` as of another revision (a deletion's): a copy of its metadata, the rest shared. */
function atRevision(obj: KubeObject, revision: number): KubeObject {
  return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(revision) } };
}

export async function startWatch(rest: Rest, r: ResourceInfo, namespace: string, sel: Selection, p: WatchParams): Promise<KubeWatch> {
  const initial: KubeWatchEvent[] = [];
  let from: number;
  if (p.resourceVersion === '' || p.resourceVersion === '0') {
    const page = await rest.list(r, namespace, sel, { limit: 0, continueToken: '', resourceVersion: p.resourceVersion });
    for (const obj of page.items) initial.push({ type: 'ADDED', object: obj });
    from = page.revision + 1;
  } else {
    from = parseResourceVersion(p.resourceVersion) + 1;
  }
  const watcher = rest.store.watch(listPrefix(r, namespace), from);
  return new KubeWatchImpl(r, watcher, sel, initial, p);
}

class KubeWatchImpl implements KubeWatch {
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private wantBookmark = false;

  constructor(
    private readonly r: ResourceInfo,
    private readonly watcher: Watcher,
    private readonly sel: Selection,
    private initial: KubeWatchEvent[],
    p: WatchParams,
  ) {
    if (p.allowBookmarks && p.bookmarkIntervalMs > 0) {
      this.timer = setInterval(() => {
        this.wantBookmark = true;
        watcher.progress();
      }, p.bookmarkIntervalMs);
      this.timer.unref();
    }
  }

  async next(): Promise<KubeWatchEvent[] | null> {
    if (this.initial.length > 0) return this.initial.splice(0, INITIAL_EVENTS_BATCH);
    for (;;) {
      if (this.closed) return null;
      const b = await this.watcher.next();
      if (!b) return null;
      if (b.compactRevision > 0) {
        this.close();
        return [{ type: 'ERROR', object: expired(`too old resource version: ${b.compactRevision}`).toStatus() }];
      }
      const out: KubeWatchEvent[] = [];
      for (const ev of b.events) {
        const e = this.translate(ev);
        if (e) out.push(e);
      }
      if (out.length === 0 && b.events.length === 0 && this.wantBookmark) {
        this.wantBookmark = false;
        out.push(this.bookmark(b.revision));
      }
      if (out.length > 0) return out;
    }
  }

  private bookmark(revision: number): KubeWatchEvent {
    return { type: 'BOOKMARK', object: { kind: this.r.kind, apiVersion: apiVersionOf(this.r), metadata: { resourceVersion: String(revision) } } };
  }

  /** One store event as a watch event for this selection, or null when it does not concern it. */
  private translate(ev: WatchEvent): KubeWatchEvent | null {
    const prev = ev.prevKv ? decodeShared(ev.prevKv) : null;
    const prevMatched = prev !== null && (this.sel.everything || this.sel.matches(prev));
    if (ev.type === EventType.Delete) {
      if (!prev || !prevMatched) return null;
      return sharedEvent(ev.kv, 'DELETED', 'gone', () => atRevision(prev, ev.kv.modRevision));
    }
    const obj = decodeShared(ev.kv);
    const matches = this.sel.everything || this.sel.matches(obj);
    const existed = ev.kv.version > 1 && prev !== null;
    if (matches) {
      const type = existed && prevMatched ? 'MODIFIED' : 'ADDED';
      return sharedEvent(ev.kv, type, 'current', () => obj);
    }
    if (existed && prevMatched) {
      // It left the selection: the watcher sees it go, in its new state's revision.
      return sharedEvent(ev.kv, 'DELETED', 'left', () => atRevision(prev!, ev.kv.modRevision));
    }
    return null;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.watcher.cancel();
  }
}

export function watchErrorEvent(e: unknown): KubeWatchEvent {
  const err = e instanceof ApiError ? e : new ApiError('InternalError', e instanceof Error ? e.message : String(e));
  return { type: 'ERROR', object: err.toStatus() };
}
