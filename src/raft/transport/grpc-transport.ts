/**
 * Raft messages between masters over gRPC (@grpc/grpc-js).
 *
 * Each sender keeps one long-lived client stream per peer and writes
 * batches of messages on it. A peer's queue is bounded in messages and
 * bytes; past a bound new messages are dropped — Raft retries what matters —
 * so a slow or dead peer can never grow our memory. A broken stream is
 * reopened with exponential backoff, and the core hears that the peer was
 * unreachable so that it stops streaming optimistically to it.
 *
 * Snapshots (MsgSnap) do not travel on the message stream: they go on their
 * own call, as the message followed by the state machine's data in bounded
 * chunks, and the outcome is reported back to the core.
 */
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { RaftError } from '../errors.js';
import { type Message, MessageType, type NodeId, SnapshotStatus } from '../types.js';
import {
  type MessageBatch,
  RAFT_PEER_SERVICE,
  type SnapshotChunk,
  MembersRequestType,
  MembersResponseType,
  SnapshotAckType,
  StreamSummaryType,
  num,
  decodeBatch,
  decodeChunk,
  encodeBatch,
  encodeChunk,
} from './codec.js';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** Trusted CA; with it the server also requires and checks client certificates (mTLS). */
  caFile: string;
}

export interface TransportHandler {
  /** Messages received from a peer (already checked to be for this member and cluster). */
  onMessages(messages: Message[]): void;
  /**
   * A snapshot arrives: store the chunks, then resolve; the transport acknowledges
   * and the handler steps the message into Raft once the data is safely stored.
   */
  onSnapshot(message: Message, chunks: AsyncIterable<Uint8Array>): Promise<void>;
  /** The data to stream for an outgoing MsgSnap, in chunks of at most maxChunkBytes. */
  snapshotData(message: Message, maxChunkBytes: number): AsyncIterable<Uint8Array>;
  reportUnreachable(peer: NodeId): void;
  reportSnapshot(peer: NodeId, status: SnapshotStatus): void;
  /** The member table to give a joining member (opaque bytes). */
  members(): Uint8Array;
  /** Whether `id` was removed from the cluster (its messages are then refused, telling it so). */
  isRemoved?(id: NodeId): boolean;
  /** A peer told us that we were removed from the cluster. */
  onRemovedByPeer?(): void;
}

/** The status detail a peer answers a removed member with (as etcd's "member removed"). */
export const MEMBER_REMOVED_DETAIL = 'skiff: the sending member was removed from the cluster';

export interface TransportOptions {
  id: NodeId;
  clusterId: number;
  /** host:port to listen on for peers. */
  listen: string;
  handler: TransportHandler;
  tls?: TlsFiles;
  maxQueueMessages?: number;
  maxQueueBytes?: number;
  maxBatchBytes?: number;
  snapshotChunkBytes?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  logger?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void; debug(obj: object, msg: string): void };
}

export const TRANSPORT_DEFAULTS = Object.freeze({
  maxQueueMessages: 8192,
  maxQueueBytes: 64 * 1024 * 1024,
  maxBatchBytes: 4 * 1024 * 1024,
  snapshotChunkBytes: 1024 * 1024,
  backoffInitialMs: 50,
  backoffMaxMs: 2000,
});

/** While a peer stays unreachable, how often that is logged as a warning. */
const WARN_EVERY_MS = 30_000;

/** gRPC's own cap on a received message; above our largest batch or chunk. */
const MAX_GRPC_MESSAGE_BYTES = 64 * 1024 * 1024;

const noop = () => {};
const silent = { warn: noop, info: noop, debug: noop };

function serviceDefinition(): grpc.ServiceDefinition {
  const buf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  return {
    Send: {
      path: `/${RAFT_PEER_SERVICE}/Send`,
      requestStream: true,
      responseStream: false,
      requestSerialize: (b: MessageBatch) => buf(encodeBatch(b)),
      requestDeserialize: (b: Buffer) => decodeBatch(b),
      responseSerialize: (s: { batches: number }) => buf(StreamSummaryType.encode(s).finish()),
      responseDeserialize: (b: Buffer) => StreamSummaryType.decode(b),
    },
    SendSnapshot: {
      path: `/${RAFT_PEER_SERVICE}/SendSnapshot`,
      requestStream: true,
      responseStream: false,
      requestSerialize: (c: SnapshotChunk) => buf(encodeChunk(c)),
      requestDeserialize: (b: Buffer) => decodeChunk(b),
      responseSerialize: (a: { ok: boolean; error: string }) => buf(SnapshotAckType.encode(a).finish()),
      responseDeserialize: (b: Buffer) => SnapshotAckType.decode(b) as unknown as { ok: boolean; error: string },
    },
    Members: {
      path: `/${RAFT_PEER_SERVICE}/Members`,
      requestStream: false,
      responseStream: false,
      requestSerialize: () => Buffer.alloc(0),
      requestDeserialize: (b: Buffer) => MembersRequestType.decode(b),
      responseSerialize: (r: { clusterId: number; members: Uint8Array }) => buf(MembersResponseType.encode(r).finish()),
      responseDeserialize: (b: Buffer) => {
        const r = MembersResponseType.decode(b) as unknown as { clusterId: number; members: Uint8Array };
        return { clusterId: num(r.clusterId), members: r.members };
      },
    },
  };
}

/**
 * Asks the member listening at peer `url` for its cluster id and member
 * table (for a member joining an existing cluster). Rejects after timeoutMs.
 */
export async function fetchMembers(url: string, timeoutMs: number, tls?: TlsFiles): Promise<{ clusterId: number; members: Uint8Array }> {
  const Client = grpc.makeGenericClientConstructor(serviceDefinition(), 'RaftPeer');
  const creds = tls
    ? grpc.credentials.createSsl(readFileSync(tls.caFile), readFileSync(tls.keyFile), readFileSync(tls.certFile))
    : grpc.credentials.createInsecure();
  const client = new Client(peerTarget(url), creds);
  try {
    return await new Promise((resolve, reject) => {
      (client as unknown as { Members(req: object, opts: object, cb: (e: Error | null, r?: { clusterId: number; members: Uint8Array }) => void): void }).Members(
        {},
        { deadline: Date.now() + timeoutMs },
        (e, r) => (e || !r ? reject(e ?? new Error('no answer')) : resolve(r)),
      );
    });
  } finally {
    client.close();
  }
}

/** "http://host:port" or "https://host:port" or "host:port" → host:port. */
export function peerTarget(url: string): string {
  const m = /^(?:https?:\/\/)?([^/]+)\/?$/.exec(url.trim());
  if (!m) throw new RaftError('RAFT_ERR_INVALID_CONFIG', `not a peer URL: ${url}`);
  return m[1]!;
}

function messageBytes(m: Message): number {
  let n = 64;
  for (const e of m.entries) n += e.data.length + 24;
  return n;
}

export interface TransportStats {
  sentBatches: number;
  sentMessages: number;
  droppedMessages: number;
  receivedMessages: number;
  snapshotsSent: number;
  snapshotsReceived: number;
}

export class GrpcTransport {
  readonly stats: TransportStats = { sentBatches: 0, sentMessages: 0, droppedMessages: 0, receivedMessages: 0, snapshotsSent: 0, snapshotsReceived: 0 };
  private readonly server = new grpc.Server({ 'grpc.max_receive_message_length': MAX_GRPC_MESSAGE_BYTES });
  private readonly peers = new Map<NodeId, PeerSender>();
  private readonly opts: Required<Omit<TransportOptions, 'tls'>> & { tls?: TlsFiles };
  private readonly Client: grpc.ServiceClientConstructor;
  private closed = false;
  /** The port actually bound (useful with port 0). */
  port = 0;

  constructor(options: TransportOptions) {
    this.opts = { ...TRANSPORT_DEFAULTS, logger: silent, ...options };
    const def = serviceDefinition();
    this.Client = grpc.makeGenericClientConstructor(def, 'RaftPeer');
    this.server.addService(def, {
      Send: (call: grpc.ServerReadableStream<MessageBatch, unknown>, cb: grpc.sendUnaryData<unknown>) => this.serveStream(call, cb),
      SendSnapshot: (call: grpc.ServerReadableStream<SnapshotChunk, unknown>, cb: grpc.sendUnaryData<unknown>) => void this.serveSnapshot(call, cb),
      Members: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) =>
        cb(null, { clusterId: this.opts.clusterId, members: this.opts.handler.members() }),
    });
  }

  async start(): Promise<void> {
    const creds = this.opts.tls
      ? grpc.ServerCredentials.createSsl(
          readFileSync(this.opts.tls.caFile),
          [{ cert_chain: readFileSync(this.opts.tls.certFile), private_key: readFileSync(this.opts.tls.keyFile) }],
          true,
        )
      : grpc.ServerCredentials.createInsecure();
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(this.opts.listen, creds, (err, port) => (err ? reject(err) : resolve(port))),
    );
  }

  addPeer(id: NodeId, url: string): void {
    if (id === this.opts.id || this.peers.has(id)) return;
    const creds = this.opts.tls
      ? grpc.credentials.createSsl(readFileSync(this.opts.tls.caFile), readFileSync(this.opts.tls.keyFile), readFileSync(this.opts.tls.certFile))
      : grpc.credentials.createInsecure();
    const client = new this.Client(peerTarget(url), creds, {
      'grpc.max_receive_message_length': MAX_GRPC_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_GRPC_MESSAGE_BYTES,
      'grpc.keepalive_time_ms': 10_000,
      'grpc.initial_reconnect_backoff_ms': this.opts.backoffInitialMs,
      'grpc.max_reconnect_backoff_ms': this.opts.backoffMaxMs,
    });
    this.peers.set(id, new PeerSender(id, client, this.opts, this.stats));
  }

  removePeer(id: NodeId): void {
    const p = this.peers.get(id);
    if (!p) return;
    this.peers.delete(id);
    p.close();
  }

  hasPeer(id: NodeId): boolean {
    return this.peers.has(id);
  }

  peerIds(): NodeId[] {
    return [...this.peers.keys()];
  }

  /** Queues messages for their peers; never blocks, may drop (see the file comment). */
  send(messages: readonly Message[]): void {
    if (this.closed) return;
    for (const m of messages) {
      const p = this.peers.get(m.to);
      if (!p) {
        this.stats.droppedMessages++;
        continue;
      }
      if (m.type === MessageType.Snap) p.sendSnapshot(m);
      else p.enqueue(m);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.peers.values()) p.close();
    this.peers.clear();
    // Peers hold long-lived streams to us; waiting for them to end would
    // take as long as their keepalive. Raft messages need no drain.
    this.server.forceShutdown();
  }

  private serveStream(call: grpc.ServerReadableStream<MessageBatch, unknown>, cb: grpc.sendUnaryData<unknown>): void {
    let batches = 0;
    call.on('data', (b: MessageBatch) => {
      batches++;
      if (b.clusterId !== this.opts.clusterId) {
        this.opts.logger.warn({ from: b.from, clusterId: b.clusterId }, 'refused messages from another cluster');
        call.destroy(new Error('cluster id mismatch'));
        return;
      }
      if (this.opts.handler.isRemoved?.(b.from)) {
        cb({ code: grpc.status.FAILED_PRECONDITION, details: MEMBER_REMOVED_DETAIL });
        return;
      }
      const mine = b.messages.filter((m) => m.to === this.opts.id);
      this.stats.receivedMessages += mine.length;
      if (mine.length > 0) this.opts.handler.onMessages(mine);
    });
    call.on('end', () => cb(null, { batches }));
    call.on('error', () => {
      /* the sender went away; it will reconnect */
    });
  }

  private async serveSnapshot(call: grpc.ServerReadableStream<SnapshotChunk, unknown>, cb: grpc.sendUnaryData<unknown>): Promise<void> {
    const iter = call[Symbol.asyncIterator]() as AsyncIterator<SnapshotChunk>;
    try {
      const first = await iter.next();
      if (first.done || !first.value.message || first.value.message.type !== MessageType.Snap) throw new Error('snapshot stream must start with the MsgSnap');
      if (first.value.clusterId !== this.opts.clusterId) throw new Error('cluster id mismatch');
      const message = first.value.message;
      if (message.to !== this.opts.id) throw new Error(`snapshot addressed to ${message.to}, not ${this.opts.id}`);
      let last = first.value.last;
      async function* data(): AsyncIterable<Uint8Array> {
        if (first.value.data.length > 0) yield first.value.data;
        while (!last) {
          const n = await iter.next();
          if (n.done) throw new Error('snapshot stream ended before its last chunk');
          last = n.value.last;
          if (n.value.data.length > 0) yield n.value.data;
        }
      }
      await this.opts.handler.onSnapshot(message, data());
      this.stats.snapshotsReceived++;
      cb(null, { ok: true, error: '' });
    } catch (e) {
      this.opts.logger.warn({ err: (e as Error).message }, 'refused a snapshot');
      cb(null, { ok: false, error: (e as Error).message });
    }
  }
}

/** The send side towards one peer: a bounded queue drained onto a client stream. */
class PeerSender {
  private queue: Message[] = [];
  /** messageBytes() of each queued message, computed once. */
  private sizes: number[] = [];
  private queueBytes = 0;
  private stream: grpc.ClientWritableStream<MessageBatch> | null = null;
  private flushing = false;
  private waitingDrain = false;
  private backoffMs: number;
  private retryTimer: NodeJS.Timeout | null = null;
  private snapshotInFlight = false;
  private closed = false;
  /** Consecutive stream failures (reset by a successful write). */
  private failures = 0;
  private lastWarnAt = 0;

  constructor(
    readonly id: NodeId,
    private readonly client: grpc.Client,
    private readonly opts: Required<Omit<TransportOptions, 'tls'>>,
    private readonly stats: TransportStats,
  ) {
    this.backoffMs = opts.backoffInitialMs;
  }

  enqueue(m: Message): void {
    const bytes = messageBytes(m);
    if (this.queue.length >= this.opts.maxQueueMessages || this.queueBytes + bytes > this.opts.maxQueueBytes) {
      this.stats.droppedMessages++;
      return;
    }
    this.queue.push(m);
    this.sizes.push(bytes);
    this.queueBytes += bytes;
    this.flush();
  }

  private openStream(): grpc.ClientWritableStream<MessageBatch> {
    const stream = (this.client as unknown as { Send(cb: (err: grpc.ServiceError | null) => void): grpc.ClientWritableStream<MessageBatch> }).Send(
      (err) => {
        if (err?.details === MEMBER_REMOVED_DETAIL) this.opts.handler.onRemovedByPeer?.();
        if (err && !this.closed) this.broken(err);
      },
    );
    stream.on('error', (err: Error) => {
      if (!this.closed) this.broken(err);
    });
    return stream;
  }

  /** Writes queued messages in batches until the queue is empty or the stream pushes back. */
  private flush(): void {
    if (this.flushing || this.closed || this.retryTimer || this.waitingDrain) return;
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        this.stream ??= this.openStream();
        const batch = this.takeBatch();
        this.stats.sentBatches++;
        this.stats.sentMessages += batch.length;
        const more = this.stream.write({ clusterId: this.opts.clusterId, from: this.opts.id, messages: batch }, () => {
          // grpc-js calls back once the message is buffered; only a connected
          // channel says the peer is reachable again.
          if (this.client.getChannel().getConnectivityState(false) === grpc.connectivityState.READY) {
            this.failures = 0;
            this.backoffMs = this.opts.backoffInitialMs;
          }
        });
        if (!more) {
          this.waitingDrain = true;
          this.stream.once('drain', () => {
            this.waitingDrain = false;
            this.flush();
          });
          return;
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private takeBatch(): Message[] {
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length) {
      const b = this.sizes[n]!;
      if (n > 0 && bytes + b > this.opts.maxBatchBytes) break;
      bytes += b;
      n++;
    }
    const all = n === this.queue.length;
    const batch = all ? this.queue : this.queue.slice(0, n);
    this.queue = all ? [] : this.queue.slice(n);
    this.sizes = all ? [] : this.sizes.slice(n);
    this.queueBytes -= bytes;
    if (this.queue.length === 0) this.queueBytes = 0;
    return batch;
  }

  /** The stream failed: forget it, tell Raft, and retry after a backoff. */
  private broken(err: Error): void {
    if (this.stream) {
      this.stream.removeAllListeners('drain');
      this.stream = null;
    }
    this.waitingDrain = false;
    this.opts.handler.reportUnreachable(this.id);
    this.failures++;
    // A warning when a peer becomes unreachable (down, or refusing our
    // certificate), then at most one every WARN_EVERY_MS while it stays so.
    const now = Date.now();
    const warn = this.failures === 1 || now - this.lastWarnAt >= WARN_EVERY_MS;
    if (warn) this.lastWarnAt = now;
    this.opts.logger[warn ? 'warn' : 'debug']({ peer: this.id, err: err.message, failures: this.failures, backoffMs: this.backoffMs }, 'cannot reach peer');
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.flush();
    }, this.backoffMs);
    this.retryTimer.unref();
    this.backoffMs = Math.min(this.backoffMs * 2, this.opts.backoffMaxMs);
  }

  sendSnapshot(m: Message): void {
    if (this.snapshotInFlight) {
      // One at a time; Raft asks again after a failure report.
      this.opts.handler.reportSnapshot(this.id, SnapshotStatus.Failure);
      return;
    }
    this.snapshotInFlight = true;
    void this.streamSnapshot(m).then(
      (ok) => {
        this.snapshotInFlight = false;
        if (ok) this.stats.snapshotsSent++;
        this.opts.handler.reportSnapshot(this.id, ok ? SnapshotStatus.Finish : SnapshotStatus.Failure);
      },
      (err: Error) => {
        this.snapshotInFlight = false;
        this.opts.logger.warn({ peer: this.id, err: err.message }, 'snapshot send failed');
        this.opts.handler.reportSnapshot(this.id, SnapshotStatus.Failure);
      },
    );
  }

  private async streamSnapshot(m: Message): Promise<boolean> {
    let done!: (ok: boolean) => void;
    const result = new Promise<boolean>((resolve) => (done = resolve));
    const call = (this.client as unknown as {
      SendSnapshot(cb: (err: grpc.ServiceError | null, ack?: { ok: boolean; error: string }) => void): grpc.ClientWritableStream<SnapshotChunk>;
    }).SendSnapshot((err, ack) => done(!err && ack?.ok === true));
    call.on('error', () => done(false));
    const write = async (c: SnapshotChunk) => {
      if (!call.write(c)) await new Promise((r) => call.once('drain', r));
    };
    await write({ clusterId: this.opts.clusterId, message: m, data: new Uint8Array(0), last: false });
    const max = this.opts.snapshotChunkBytes;
    for await (const chunk of this.opts.handler.snapshotData(m, max)) {
      // Chunk boundaries carry no meaning: a larger one (one big record) is split.
      for (let at = 0; at < chunk.length; at += max) {
        await write({ clusterId: this.opts.clusterId, message: null, data: chunk.subarray(at, at + max), last: false });
      }
    }
    await write({ clusterId: this.opts.clusterId, message: null, data: new Uint8Array(0), last: true });
    call.end();
    return result;
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.stream?.end();
    this.stream = null;
    this.queue = [];
    this.sizes = [];
    this.client.close();
  }
}
