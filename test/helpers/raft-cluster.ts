/**
 * A cluster of RaftNodes in one process over real LevelDB logs and real gRPC
 * on loopback, with a small state machine that records applied entries in a
 * JSON file (the MVCC store has its own tests; this one exercises Raft's
 * durability, transport and snapshot streaming).
 */
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GrpcTransport } from '../../src/raft/transport/grpc-transport.js';
import { LevelLogStorage } from '../../src/raft/level-storage.js';
import { RaftNode, type StateMachine } from '../../src/raft/node.js';
import { type Entry, EntryType, type Snapshot, StateType } from '../../src/raft/index.js';
import { Prng } from '../../src/util/prng.js';

const dec = new TextDecoder();

/** Applied entries (normal, non-empty) as text, persisted to state.json on sync(). */
export class ListStateMachine implements StateMachine {
  items: string[] = [];
  applied = 0;
  private staged: Uint8Array[] | null = null;

  constructor(private readonly file: string) {
    if (existsSync(file)) {
      const s = JSON.parse(readFileSync(file, 'utf8')) as { items: string[]; applied: number };
      this.items = s.items;
      this.applied = s.applied;
    }
  }

  async apply(entries: readonly Entry[]): Promise<void> {
    for (const e of entries) {
      if (e.index <= this.applied) continue;
      if (e.type === EntryType.Normal && e.data.length > 0) this.items.push(dec.decode(e.data));
      this.applied = e.index;
    }
  }

  appliedIndex(): number {
    return this.applied;
  }

  async sync(): Promise<number> {
    writeFileSync(this.file, JSON.stringify({ items: this.items, applied: this.applied }));
    return this.applied;
  }

  async *snapshotData(maxChunkBytes: number): AsyncIterable<Uint8Array> {
    const all = new TextEncoder().encode(JSON.stringify({ items: this.items, applied: this.applied }));
    for (let i = 0; i < all.length; i += maxChunkBytes) yield all.subarray(i, i + maxChunkBytes);
  }

  async receiveSnapshot(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const parts: Uint8Array[] = [];
    for await (const c of chunks) parts.push(Uint8Array.from(c));
    this.staged = parts;
  }

  async restore(_snapshot: Snapshot): Promise<void> {
    if (!this.staged) throw new Error('restore without received data');
    const s = JSON.parse(dec.decode(Buffer.concat(this.staged))) as { items: string[]; applied: number };
    this.staged = null;
    this.items = s.items;
    this.applied = s.applied;
    await this.sync();
  }
}

export interface Member {
  id: number;
  dir: string;
  url: string;
  node: RaftNode;
  transport: GrpcTransport;
  storage: LevelLogStorage;
  sm: ListStateMachine;
}

const silent = { debug() {}, info() {}, warn() {} };

export class RaftTestCluster {
  readonly root = mkdtempSync(join(tmpdir(), 'skiff-raft-'));
  readonly members = new Map<number, Member>();
  readonly urls = new Map<number, string>();
  private readonly rng = new Prng(7);

  constructor(
    readonly opts: { snapshotEntries?: number; snapshotCatchUpEntries?: number; snapshotChunkBytes?: number } = {},
  ) {}

  /** Starts member `id` (bootstrapping it with `voters` if its log is empty and voters are given). */
  async start(id: number, voters: number[] | null): Promise<Member> {
    const dir = join(this.root, `m${id}`);
    const storage = await LevelLogStorage.open(join(dir, 'raft'));
    if (storage.isEmpty() && voters) await storage.bootstrap(voters);
    const sm = new ListStateMachine(join(this.root, `m${id}.state.json`));
    let node!: RaftNode;
    const transport = new GrpcTransport({
      id,
      clusterId: 1,
      // A restarted member comes back where the others expect it.
      listen: this.urls.has(id) ? new URL(this.urls.get(id)!).host : '127.0.0.1:0',
      snapshotChunkBytes: this.opts.snapshotChunkBytes ?? 1024,
      handler: {
        onMessages: (msgs) => node.receive(msgs),
        onSnapshot: async (m, chunks) => {
          await sm.receiveSnapshot(chunks);
          node.receive([m]);
        },
        snapshotData: (_m, max) => sm.snapshotData(max),
        reportUnreachable: (p) => node.reportUnreachable(p),
        reportSnapshot: (p, s) => node.reportSnapshot(p, s),
        members: () => new Uint8Array(0),
      },
    });
    await transport.start();
    const url = `http://127.0.0.1:${transport.port}`;
    this.urls.set(id, url);
    node = new RaftNode({
      id,
      storage,
      stateMachine: sm,
      transport,
      raft: { random: this.rng.fork(), electionTimeoutTicks: 10, heartbeatIntervalTicks: 1 },
      tickMs: 10,
      snapshotEntries: this.opts.snapshotEntries ?? 10_000,
      snapshotCatchUpEntries: this.opts.snapshotCatchUpEntries ?? 100,
      maxPendingReads: 1000,
      logger: silent,
    });
    const m: Member = { id, dir, url, node, transport, storage, sm };
    this.members.set(id, m);
    return m;
  }

  /** Tells every running member where every other one listens. */
  connectAll(): void {
    for (const m of this.members.values()) for (const [id, url] of this.urls) if (id !== m.id) m.transport.addPeer(id, url);
  }

  run(): void {
    for (const m of this.members.values()) m.node.start();
  }

  /** Stops a member abruptly (no final sync of the state machine) and closes its files. */
  async kill(id: number): Promise<void> {
    const m = this.members.get(id)!;
    this.members.delete(id);
    await m.node.stop();
    await m.transport.close();
    await m.storage.close();
  }

  async waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const t0 = Date.now();
    while (!cond()) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  leader(): Member | undefined {
    const ls = [...this.members.values()].filter((m) => m.node.rn.raft.state === StateType.Leader);
    return ls.sort((a, b) => b.node.term - a.node.term)[0];
  }

  async waitLeader(): Promise<Member> {
    await this.waitFor(() => this.leader() !== undefined, 'a leader');
    return this.leader()!;
  }

  /** Proposes on the leader, retrying while leadership moves. */
  async propose(text: string, timeoutMs = 10_000): Promise<void> {
    const t0 = Date.now();
    for (;;) {
      const l = this.leader();
      try {
        if (l) {
          l.node.propose(new TextEncoder().encode(text));
          return;
        }
      } catch {
        /* dropped: retry */
      }
      if (Date.now() - t0 > timeoutMs) throw new Error(`could not propose ${text}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    for (const id of [...this.members.keys()]) await this.kill(id);
    rmSync(this.root, { recursive: true, force: true });
  }
}
