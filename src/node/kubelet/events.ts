/**
 * The kubelet's Events (Pulled, Created, Started, Killing, BackOff,
 * Unhealthy, Failed…), what `kubectl describe pod` shows. Sent in the
 * background through a bounded queue (dropped, and counted, when the API is
 * slower than the node); a repeat of the same event on the same object
 * within a while bumps its count instead of making a new one, as upstream's
 * correlator does.
 */
import { randomBytes } from 'node:crypto';
import { type ApiClient, type Json, timestamp } from '../api/index.js';

export const EVENT_QUEUE_MAX = 1000;
const REPEAT_WINDOW_MS = 10 * 60_000;
const SEEN_MAX = 4096;

export type EventType = 'Normal' | 'Warning';

interface Pending {
  ns: string;
  key: string;
  body: Json;
}

export class NodeEventRecorder {
  private readonly queue: Pending[] = [];
  private sending = false;
  /** Recent events by object+reason+message: name and count, for repeats. */
  private readonly seen = new Map<string, { name: string; count: number; at: number; first: string }>();
  readonly stats = { sent: 0, dropped: 0, errors: 0 };
  private closed = false;

  constructor(
    private readonly client: ApiClient,
    private readonly nodeName: string,
  ) {}

  /** Records an event about a pod (or one of its containers with `fieldPath`). */
  pod(pod: Json, type: EventType, reason: string, message: string, fieldPath?: string): void {
    const m = pod.metadata;
    this.record(m.namespace, { kind: 'Pod', apiVersion: 'v1', namespace: m.namespace, name: m.name, uid: m.uid, ...(fieldPath ? { fieldPath } : {}) }, type, reason, message);
  }

  /** Records an event about this node. */
  node(type: EventType, reason: string, message: string): void {
    this.record('default', { kind: 'Node', apiVersion: 'v1', name: this.nodeName, uid: this.nodeName }, type, reason, message);
  }

  private record(ns: string, involved: Json, type: EventType, reason: string, message: string): void {
    if (this.closed) return;
    if (this.queue.length >= EVENT_QUEUE_MAX) {
      this.stats.dropped++;
      return;
    }
    const now = new Date();
    const key = `${ns}/${involved.kind}/${involved.name}/${involved.uid}/${involved.fieldPath ?? ''}/${reason}/${message}`;
    const body: Json = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { namespace: ns },
      involvedObject: involved,
      reason,
      message: message.slice(0, 1024),
      type,
      source: { component: 'kubelet', host: this.nodeName },
      firstTimestamp: timestamp(now),
      lastTimestamp: timestamp(now),
      eventTime: null,
      count: 1,
      reportingComponent: 'kubelet',
      reportingInstance: this.nodeName,
    };
    this.queue.push({ ns, key, body });
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const p = this.queue.shift()!;
        const prior = this.seen.get(p.key);
        try {
          if (prior && Date.now() - prior.at < REPEAT_WINDOW_MS) {
            prior.count++;
            prior.at = Date.now();
            await this.client.mergePatch(`/api/v1/namespaces/${p.ns}/events/${prior.name}`, { count: prior.count, lastTimestamp: p.body.lastTimestamp });
          } else {
            const name = `${p.body.involvedObject.name}.${randomBytes(8).toString('hex')}`;
            p.body.metadata.name = name;
            await this.client.post(`/api/v1/namespaces/${p.ns}/events`, p.body);
            if (this.seen.size >= SEEN_MAX) this.seen.delete(this.seen.keys().next().value!);
            this.seen.set(p.key, { name, count: 1, at: Date.now(), first: p.body.firstTimestamp });
          }
          this.stats.sent++;
        } catch {
          // An event is advice: a failed one is counted, not retried (the event may have expired, too).
          this.stats.errors++;
          this.seen.delete(p.key);
        }
      }
    } finally {
      this.sending = false;
    }
  }

  close(): void {
    this.closed = true;
    this.queue.length = 0;
  }
}
