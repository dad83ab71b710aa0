/**
 * Events from the control loops (what `kubectl describe` lists at the end):
 * core/v1 Events about an object, written in the background through the
 * loops' fenced Rest. As upstream's recorder: the same event repeated
 * (same object, type, reason, message) raises the stored event's `count`
 * and `lastTimestamp` instead of making a new object; the queue is bounded
 * (past it, events are dropped and counted) — events are a courtesy, never
 * worth slowing a reconcile down or growing memory for. They expire with
 * the API's event TTL.
 */
import type { Logger } from 'pino';
import { type KubeObject, type Rest, isApiError, timestamp } from '../apiserver/index.js';
import { RESOURCES } from '../registry/index.js';

const EVENTS = RESOURCES.find((r) => r.resource === 'events')!;
/** Events waiting to be written, at most. */
export const EVENT_QUEUE_MAX = 1000;
/** Distinct events remembered for aggregation. */
const SEEN_MAX = 4096;

export type EventType = 'Normal' | 'Warning';

interface Pending {
  key: string;
  involved: KubeObject;
  type: EventType;
  reason: string;
  message: string;
}

export class EventRecorder {
  private readonly queue: Pending[] = [];
  /** Aggregation key → the stored event's namespace and name. */
  private readonly seen = new Map<string, { namespace: string; name: string }>();
  private writing = false;
  private closed = false;
  dropped = 0;

  constructor(
    private readonly rest: Rest,
    private readonly component: string,
    private readonly logger: Logger,
  ) {}

  /** Records an event about `obj` (never throws, never waits). */
  event(obj: KubeObject, type: EventType, reason: string, message: string): void {
    if (this.closed) return;
    if (this.queue.length >= EVENT_QUEUE_MAX) {
      this.dropped++;
      return;
    }
    const key = `${obj.metadata.uid ?? ''}\u0000${type}\u0000${reason}\u0000${message}`;
    this.queue.push({ key, involved: obj, type, reason, message });
    if (!this.writing) void this.drain();
  }

  close(): void {
    this.closed = true;
    this.queue.length = 0;
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (!this.closed) {
        const e = this.queue.shift();
        if (!e) break;
        try {
          await this.write(e);
        } catch (err) {
          this.logger.debug({ err, reason: e.reason }, 'event not recorded');
        }
      }
    } finally {
      this.writing = false;
    }
  }

  private async write(e: Pending): Promise<void> {
    const now = timestamp(new Date());
    const prior = this.seen.get(e.key);
    if (prior) {
      try {
        await this.rest.modify({ r: EVENTS, namespace: prior.namespace, name: prior.name, subresource: '' }, { dryRun: false }, (cur) => ({ ...cur, count: (cur.count ?? 1) + 1, lastTimestamp: now }));
        return;
      } catch (err) {
        if (!(isApiError(err) && err.reason === 'NotFound')) throw err;
        this.seen.delete(e.key); // expired: a new one
      }
    }
    const o = e.involved;
    const namespace = o.metadata.namespace || 'default';
    const name = `${o.metadata.name}.${Date.now().toString(16)}${Math.floor(Math.random() * 0xfff).toString(16)}`;
    await this.rest.create({ r: EVENTS, namespace }, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject: { apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace, uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion },
      reason: e.reason,
      message: e.message,
      type: e.type,
      source: { component: this.component },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      reportingComponent: this.component,
    }, { dryRun: false });
    if (this.seen.size >= SEEN_MAX) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(e.key, { namespace, name });
  }
}
