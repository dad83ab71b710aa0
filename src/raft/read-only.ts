/**
 * Bookkeeping for linearizable reads by ReadIndex (Raft thesis §6.4): the
 * leader records its commit index with each request, and releases the request
 * once a quorum has answered a heartbeat sent after the request arrived —
 * proof that it was still the leader when the index was taken.
 */
import type { Message, NodeId } from './types.js';

export interface ReadIndexStatus {
  req: Message;
  index: number;
  acks: Set<NodeId>;
}

/** A string key for a byte context (request ids are short). */
export function contextKey(ctx: Uint8Array | null): string {
  if (!ctx || ctx.length === 0) return '';
  let s = '';
  for (let i = 0; i < ctx.length; i += 4096) {
    s += String.fromCharCode.apply(null, ctx.subarray(i, i + 4096) as unknown as number[]);
  }
  return s;
}

export class ReadOnly {
  private readonly pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  get size(): number {
    return this.queue.length;
  }

  /** Registers a request at commit index `index`. A duplicate context is ignored. */
  addRequest(index: number, m: Message): void {
    const key = contextKey(m.context);
    if (this.pending.has(key)) return;
    this.pending.set(key, { req: m, index, acks: new Set() });
    this.queue.push(key);
  }

  /** Records a heartbeat acknowledgement; returns the acks so far, or undefined for an unknown context. */
  recvAck(id: NodeId, ctx: Uint8Array | null): Set<NodeId> | undefined {
    const rs = this.pending.get(contextKey(ctx));
    if (!rs) return undefined;
    rs.acks.add(id);
    return rs.acks;
  }

  /**
   * Releases the request with this context and every request queued before it
   * (their heartbeat round is implied by the later one's). Returns them in order.
   */
  advance(ctx: Uint8Array | null): ReadIndexStatus[] {
    const key = contextKey(ctx);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const released = this.queue.slice(0, at + 1);
    this.queue = this.queue.slice(at + 1);
    const out: ReadIndexStatus[] = [];
    for (const k of released) {
      out.push(this.pending.get(k)!);
      this.pending.delete(k);
    }
    return out;
  }

  lastPendingContext(): Uint8Array | null {
    if (this.queue.length === 0) return null;
    return this.pending.get(this.queue[this.queue.length - 1]!)!.req.context;
  }
}
