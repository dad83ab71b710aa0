/**
 * The etcd v3 API (KV, Watch, Lease, Cluster, Maintenance) served over a
 * StoreServer with @grpc/grpc-js. Errors leave as etcd's gRPC statuses and
 * messages (src/store/errors.ts), so etcdctl and etcd client libraries
 * recognise them.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { isRaftError } from '../../raft/index.js';
import { GrpcCode, StoreError, isStoreError } from '../errors.js';
import type { MemberInfo } from '../members.js';
import type { Watcher } from '../mvcc/index.js';
import type { LeaderForwarder, LeaseTimeToLive, StoreServer } from '../server.js';
import {
  type HeaderContext,
  bytesFromWire,
  bytesToWire,
  compactionRequestFromWire,
  compactionResponseToWire,
  deleteRangeRequestFromWire,
  deleteRangeResponseToWire,
  eventToWire,
  int64FromWire,
  int64ToWire,
  leaseGrantRequestFromWire,
  leaseGrantResponseToWire,
  leaseRevokeResponseToWire,
  putRequestFromWire,
  putResponseToWire,
  rangeRequestFromWire,
  rangeResponseToWire,
  responseHeader,
  txnRequestFromWire,
  txnResponseToWire,
  uint64FromWire,
  uint64ToWire,
} from './convert.js';
import {
  type ClusterHandlers,
  ClusterService,
  type EtcdClients,
  type KVHandlers,
  KVService,
  type LeaseHandlers,
  LeaseService,
  type MaintenanceHandlers,
  MaintenanceService,
  type WatchHandlers,
  WatchService,
  type WireMember,
  type WireWatchCreateRequest,
  type WireWatchRequest,
  type WireWatchResponse,
  WireAlarmType,
  loadEtcdClients,
} from './proto.js';

/** The etcd version we report (the API level we implement). */
export const ETCD_API_VERSION = '3.5.0';

/** Bytes gRPC accepts above the request limit, as etcd does (the store then says "request is too large"). */
const GRPC_OVERHEAD_BYTES = 512 * 1024;
/** Upper bound on one watch response; a larger batch is split across responses. */
const MAX_WATCH_RESPONSE_BYTES = 4 * 1024 * 1024;
/** Watchers one client stream may hold. */
const MAX_WATCHERS_PER_STREAM = 10_000;

export interface ClientTls {
  certFile: string;
  keyFile: string;
  /** The CA that signs members' and clients' certificates (etcd's --trusted-ca-file). */
  caFile?: string;
  /** Require clients to present a certificate signed by caFile (etcd's --client-cert-auth). */
  clientCertAuth?: boolean;
}

export interface EtcdApiOptions {
  listen: string;
  maxRequestBytes: number;
  tls?: ClientTls;
  /** Interval of progress notifications for watchers that ask for them. */
  progressNotifyMs?: number;
  logger: { warn(obj: object, msg: string): void; debug(obj: object, msg: string): void };
}

/** Maps anything thrown inside a handler to a gRPC status etcd clients understand. */
export function toGrpcError(e: unknown): Partial<grpc.StatusObject> {
  if (isStoreError(e)) return { code: e.grpcCode as number as grpc.status, details: e.message };
  if (isRaftError(e, 'RAFT_ERR_STOPPED')) return { code: grpc.status.UNAVAILABLE, details: 'etcdserver: server stopped' };
  return { code: grpc.status.UNKNOWN, details: (e as Error)?.message ?? String(e) };
}

function unary<Req, Res>(f: (req: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, cb) => {
    f(call.request).then(
      (res) => cb(null, res),
      (e: unknown) => cb(toGrpcError(e) as grpc.ServiceError),
    );
  };
}

function memberToWire(m: MemberInfo): WireMember {
  return { ID: uint64ToWire(m.id), name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, isLearner: m.isLearner };
}

export class EtcdApiServer {
  private readonly server: grpc.Server;
  port = 0;
  private readonly streams = new Set<grpc.ServerDuplexStream<unknown, unknown>>();

  constructor(
    private readonly store: StoreServer,
    private readonly o: EtcdApiOptions,
  ) {
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': o.maxRequestBytes + GRPC_OVERHEAD_BYTES,
      'grpc.max_send_message_length': 2 ** 31 - 1,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.http2.min_ping_interval_without_data_ms': 5000,
    });
    this.server.addService(KVService, this.kv());
    this.server.addService(WatchService, this.watchService());
    this.server.addService(LeaseService, this.lease());
    this.server.addService(ClusterService, this.cluster());
    this.server.addService(MaintenanceService, this.maintenance());
  }

  async start(): Promise<void> {
    const t = this.o.tls;
    const creds = t
      ? grpc.ServerCredentials.createSsl(
          t.caFile ? readFileSync(t.caFile) : null,
          [{ cert_chain: readFileSync(t.certFile), private_key: readFileSync(t.keyFile) }],
          Boolean(t.clientCertAuth && t.caFile),
        )
      : grpc.ServerCredentials.createInsecure();
    this.port = await new Promise<number>((resolve, reject) => this.server.bindAsync(this.o.listen, creds, (e, p) => (e ? reject(e) : resolve(p))));
  }

  async close(): Promise<void> {
    for (const s of this.streams) s.end();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 1000);
      this.server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private header(revision = this.store.revision): HeaderContext & { revision: number } {
    return { clusterId: this.store.clusterId, memberId: this.store.memberId, raftTerm: this.store.term, revision };
  }

  private hctx(): HeaderContext {
    return { clusterId: this.store.clusterId, memberId: this.store.memberId, raftTerm: this.store.term };
  }

  // ------------------------------------------------------------------ KV

  private kv(): KVHandlers {
    const s = this.store;
    return {
      Range: unary(async (req) => rangeResponseToWire(await s.range(rangeRequestFromWire(req)), this.hctx())),
      Put: unary(async (req) => putResponseToWire(await s.put(putRequestFromWire(req)), this.hctx())),
      DeleteRange: unary(async (req) => deleteRangeResponseToWire(await s.deleteRange(deleteRangeRequestFromWire(req)), this.hctx())),
      Txn: unary(async (req) => txnResponseToWire(await s.txn(txnRequestFromWire(req)), this.hctx())),
      Compact: unary(async (req) => compactionResponseToWire(await s.compact(compactionRequestFromWire(req)), this.hctx())),
    };
  }

  // ------------------------------------------------------------------ Watch

  private watchService(): WatchHandlers {
    return {
      Watch: (call) => new WatchStream(this.store, call as unknown as grpc.ServerDuplexStream<WireWatchRequest, Partial<WireWatchResponse>>, this.o, () => this.header()).run(this.streams),
    };
  }

  // ------------------------------------------------------------------ Lease

  private lease(): LeaseHandlers {
    const s = this.store;
    return {
      LeaseGrant: unary(async (req) => leaseGrantResponseToWire(await s.leaseGrant(leaseGrantRequestFromWire(req)), this.hctx())),
      LeaseRevoke: unary(async (req) => leaseRevokeResponseToWire(await s.leaseRevoke(int64FromWire(req.ID, 'ID')), this.hctx())),
      LeaseKeepAlive: (call) => {
        this.streams.add(call as never);
        call.on('data', (req: { ID: string }) => {
          let id: number;
          try {
            id = int64FromWire(req.ID, 'ID');
          } catch (e) {
            call.destroy(toGrpcError(e) as Error);
            return;
          }
          s.leaseKeepAlive(id).then(
            (ttl) => call.write({ header: responseHeader(this.header()), ID: int64ToWire(id), TTL: int64ToWire(ttl) }),
            (e: unknown) => {
              // etcd answers an unknown or expired lease with TTL 0.
              if (isStoreError(e, 'STORE_ERR_LEASE_NOT_FOUND')) call.write({ header: responseHeader(this.header()), ID: int64ToWire(id), TTL: '0' });
              else call.destroy(toGrpcError(e) as Error);
            },
          );
        });
        const done = () => {
          this.streams.delete(call as never);
          call.end();
        };
        call.on('end', done);
        call.on('error', done);
      },
      LeaseTimeToLive: unary(async (req) => {
        const id = int64FromWire(req.ID, 'ID');
        const r = await s.leaseTimeToLive(id, req.keys);
        return { header: responseHeader(this.header()), ID: int64ToWire(id), TTL: int64ToWire(r.ttl), grantedTTL: int64ToWire(r.grantedTtl), keys: r.keys.map(bytesToWire) };
      }),
      LeaseLeases: unary(async () => ({ header: responseHeader(this.header()), leases: (await s.leases()).map((l) => ({ ID: int64ToWire(l.id) })) })),
    };
  }

  // ------------------------------------------------------------------ Cluster

  private cluster(): ClusterHandlers {
    const s = this.store;
    const members = () => s.members().map(memberToWire);
    return {
      MemberAdd: unary(async (req) => {
        const m = await s.memberAdd(req.peerURLs, req.isLearner);
        return { header: responseHeader(this.header()), member: memberToWire(m), members: members() };
      }),
      MemberRemove: unary(async (req) => {
        await s.memberRemove(uint64FromWire(req.ID, 'ID'));
        return { header: responseHeader(this.header()), members: members() };
      }),
      MemberUpdate: unary(async (req) => {
        await s.memberUpdate(uint64FromWire(req.ID, 'ID'), req.peerURLs);
        return { header: responseHeader(this.header()), members: members() };
      }),
      MemberList: unary(async () => ({ header: responseHeader(this.header()), members: members() })),
      MemberPromote: unary(async (req) => {
        await s.memberPromote(uint64FromWire(req.ID, 'ID'));
        return { header: responseHeader(this.header()), members: members() };
      }),
    };
  }

  // ------------------------------------------------------------------ Maintenance

  private maintenance(): MaintenanceHandlers {
    const s = this.store;
    const quotaExceeded = () => s.status().dbSize > s.quotaBytes;
    return {
      Alarm: unary(async () => ({
        header: responseHeader(this.header()),
        alarms: quotaExceeded() ? [{ memberID: uint64ToWire(s.memberId), alarm: WireAlarmType.NOSPACE }] : [],
      })),
      Status: unary(async () => {
        const st = s.status();
        return {
          header: responseHeader(this.header(st.revision)),
          version: ETCD_API_VERSION,
          dbSize: int64ToWire(st.dbSize),
          dbSizeInUse: int64ToWire(st.dbSize),
          leader: uint64ToWire(st.leader),
          raftIndex: uint64ToWire(st.raftIndex),
          raftTerm: uint64ToWire(st.raftTerm),
          raftAppliedIndex: uint64ToWire(st.raftAppliedIndex),
          errors: st.errors,
          isLearner: st.isLearner,
        };
      }),
      // LevelDB compacts its own files; there is nothing to defragment.
      Defragment: unary(async () => ({ header: responseHeader(this.header()) })),
      Hash: unary(async () => ({ header: responseHeader(this.header()), hash: (await s.hashKV(0)).hash })),
      HashKV: unary(async (req) => {
        const r = await s.hashKV(int64FromWire(req.revision, 'revision'));
        return { header: responseHeader(this.header()), hash: r.hash, compact_revision: int64ToWire(r.compactRevision) };
      }),
      Snapshot: (call) => void this.streamSnapshot(call),
      MoveLeader: unary(async (req) => {
        await s.moveLeader(uint64FromWire(req.targetID, 'targetID'));
        return { header: responseHeader(this.header()) };
      }),
    };
  }

  /**
   * The state as one stream of blobs, framed as etcd frames its bolt file:
   * the data, zero padding to a multiple of 512 bytes, then the sha256 of
   * all that (etcdctl 3.4 refuses a snapshot whose length is not 512k + 32).
   * skiff's own data starts with a length header, so the padding is inert.
   */
  private async streamSnapshot(call: grpc.ServerWritableStream<unknown, unknown>): Promise<void> {
    try {
      const snap = await this.store.snapshot();
      const hash = createHash('sha256');
      const header = responseHeader(this.header(snap.revision));
      let size = 0;
      const send = async (blob: Uint8Array): Promise<void> => {
        hash.update(blob);
        size += blob.length;
        if (!call.write({ header, remaining_bytes: '1', blob: bytesToWire(blob) })) await new Promise((r) => call.once('drain', r));
      };
      for await (const chunk of snap.chunks) {
        await send(chunk);
        if (call.cancelled) return;
      }
      const pad = (512 - (size % 512)) % 512;
      if (pad > 0) await send(new Uint8Array(pad));
      call.write({ header, remaining_bytes: '0', blob: hash.digest() });
      call.end();
    } catch (e) {
      call.destroy(toGrpcError(e) as Error);
    }
  }
}

/** One client's Watch stream: many watchers multiplexed, with backpressure. */
class WatchStream {
  private readonly watchers = new Map<number, Watcher>();
  private nextId = 1;
  private ended = false;
  private progressTimer: NodeJS.Timeout | null = null;
  private readonly progressWanted = new Set<number>();

  constructor(
    private readonly store: StoreServer,
    private readonly call: grpc.ServerDuplexStream<WireWatchRequest, Partial<WireWatchResponse>>,
    private readonly o: EtcdApiOptions,
    private readonly header: () => HeaderContext & { revision: number },
  ) {}

  run(streams: Set<grpc.ServerDuplexStream<unknown, unknown>>): void {
    streams.add(this.call as never);
    this.call.on('data', (req: WireWatchRequest) => this.onRequest(req));
    const done = () => {
      streams.delete(this.call as never);
      this.end();
    };
    this.call.on('end', done);
    this.call.on('error', done);
    this.call.on('cancelled', done);
    this.progressTimer = setInterval(() => {
      for (const id of this.progressWanted) this.watchers.get(id)?.progress();
    }, this.o.progressNotifyMs ?? 600_000);
    this.progressTimer.unref();
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.progressTimer) clearInterval(this.progressTimer);
    for (const w of this.watchers.values()) w.cancel();
    this.watchers.clear();
    this.call.end();
  }

  private async send(r: Partial<WireWatchResponse>): Promise<void> {
    if (this.ended) return;
    if (!this.call.write({ header: responseHeader(this.header()), ...r })) await new Promise((res) => this.call.once('drain', res));
  }

  private onRequest(req: WireWatchRequest): void {
    if (req.request_union === 'create_request') void this.create(req.create_request);
    else if (req.request_union === 'cancel_request') {
      const id = Number(req.cancel_request.watch_id);
      const w = this.watchers.get(id);
      if (w) {
        w.cancel();
        this.watchers.delete(id);
        this.progressWanted.delete(id);
        void this.send({ watch_id: String(id), canceled: true });
      }
    } else if (req.request_union === 'progress_request') {
      for (const w of this.watchers.values()) w.progress();
    }
  }

  private async create(cr: WireWatchCreateRequest): Promise<void> {
    let id = 0;
    try {
      const asked = int64FromWire(cr.watch_id, 'watch_id');
      if (asked !== 0 && this.watchers.has(asked)) throw new StoreError('STORE_ERR_TOO_MANY_REQUESTS', 'watch id already in use');
      if (this.watchers.size >= MAX_WATCHERS_PER_STREAM) throw new StoreError('STORE_ERR_TOO_MANY_REQUESTS', 'too many watchers on one stream');
      id = asked !== 0 ? asked : this.freshId();
      const filters = cr.filters ?? [];
      const w = this.store.watch({
        key: bytesFromWire(cr.key),
        rangeEnd: bytesFromWire(cr.range_end),
        startRevision: int64FromWire(cr.start_revision, 'start_revision'),
        prevKv: cr.prev_kv,
        noPut: filters.includes(0),
        noDelete: filters.includes(1),
      });
      this.watchers.set(id, w);
      if (cr.progress_notify) this.progressWanted.add(id);
      await this.send({ watch_id: String(id), created: true });
      await this.pump(id, w);
    } catch (e) {
      const reason = isStoreError(e) ? e.message : (e as Error).message;
      await this.send({ watch_id: String(id), created: true, canceled: true, cancel_reason: reason });
    }
  }

  private freshId(): number {
    while (this.watchers.has(this.nextId)) this.nextId++;
    return this.nextId++;
  }

  /** Delivers a watcher's batches until it ends; waiting on the socket slows only this watcher. */
  private async pump(id: number, w: Watcher): Promise<void> {
    for (;;) {
      const batch = await w.next();
      if (!batch || this.ended) return;
      if (batch.compactRevision > 0) {
        await this.send({ watch_id: String(id), canceled: true, compact_revision: int64ToWire(batch.compactRevision), cancel_reason: new StoreError('STORE_ERR_COMPACTED').message });
        this.watchers.delete(id);
        return;
      }
      let events: ReturnType<typeof eventToWire>[] = [];
      let bytes = 0;
      for (const ev of batch.events) {
        const e = eventToWire(ev);
        const size = ev.kv.key.length + ev.kv.value.length + (ev.prevKv ? ev.prevKv.key.length + ev.prevKv.value.length : 0) + 64;
        if (events.length > 0 && bytes + size > MAX_WATCH_RESPONSE_BYTES) {
          await this.send({ watch_id: String(id), events });
          events = [];
          bytes = 0;
        }
        events.push(e);
        bytes += size;
      }
      await this.send({ header: responseHeader({ ...this.header(), revision: batch.revision }), watch_id: String(id), events });
    }
  }
}

/**
 * How a follower reaches the leader for what only the leader's clock can
 * answer (lease keep-alive and time-to-live) and for learner promotion: the
 * leader's own etcd API, one channel per leader, one keep-alive stream.
 */
export class EtcdLeaderForwarder implements LeaderForwarder {
  private clients = new Map<string, EtcdClients>();
  private keepAlives = new Map<string, KeepAliveStream>();

  constructor(private readonly credentials: () => grpc.ChannelCredentials = () => grpc.credentials.createInsecure()) {}

  private client(url: string): EtcdClients {
    let c = this.clients.get(url);
    if (!c) {
      c = loadEtcdClients(new URL(url).host, this.credentials());
      this.clients.set(url, c);
    }
    return c;
  }

  keepAlive(url: string, id: number): Promise<number> {
    let s = this.keepAlives.get(url);
    if (!s || s.broken) {
      s = new KeepAliveStream(this.client(url));
      this.keepAlives.set(url, s);
    }
    return s.keepAlive(id);
  }

  timeToLive(url: string, id: number, keys: boolean): Promise<LeaseTimeToLive> {
    return new Promise((resolve, reject) => {
      this.client(url).lease.LeaseTimeToLive({ ID: int64ToWire(id), keys }, (e, r) => {
        if (e || !r) return reject(fromGrpcError(e));
        resolve({ id, ttl: int64FromWire(r.TTL), grantedTtl: int64FromWire(r.grantedTTL), keys: r.keys.map((k) => bytesFromWire(k)) });
      });
    });
  }

  promote(url: string, id: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client(url).cluster.MemberPromote({ ID: uint64ToWire(id) }, (e) => (e ? reject(fromGrpcError(e)) : resolve()));
    });
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
    this.keepAlives.clear();
  }
}

/** Keep-alives on one stream; answers come back in order. */
class KeepAliveStream {
  broken = false;
  private readonly pending: { resolve: (ttl: number) => void; reject: (e: Error) => void }[] = [];
  private readonly stream;

  constructor(c: EtcdClients) {
    this.stream = c.lease.LeaseKeepAlive();
    this.stream.on('data', (r: { TTL: string; ID: string }) => {
      const p = this.pending.shift();
      const ttl = Number(r.TTL);
      if (!p) return;
      if (ttl <= 0) p.reject(new StoreError('STORE_ERR_LEASE_NOT_FOUND'));
      else p.resolve(ttl);
    });
    const fail = (e?: Error) => {
      this.broken = true;
      for (const p of this.pending.splice(0)) p.reject(fromGrpcError(e ?? null));
    };
    this.stream.on('error', fail);
    this.stream.on('end', () => fail());
  }

  keepAlive(id: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.stream.write({ ID: int64ToWire(id) });
    });
  }
}

/** A gRPC error from another member, back to a StoreError when it is one of etcd's. */
function fromGrpcError(e: grpc.ServiceError | Error | null): Error {
  const details = (e as grpc.ServiceError | null)?.details ?? e?.message ?? 'etcdserver: leader unreachable';
  if (((e as grpc.ServiceError | null)?.code as number | undefined) === GrpcCode.NotFound && /lease not found/.test(details)) return new StoreError('STORE_ERR_LEASE_NOT_FOUND');
  return new StoreError('STORE_ERR_TIMEOUT', details);
}
