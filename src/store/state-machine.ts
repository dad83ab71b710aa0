/**
 * The replicated state machine as the Raft driver sees it: the MVCC store
 * plus the member table. Committed entries become MVCC apply batches; conf
 * changes and member attributes update the member table; every result is
 * handed to whoever waits for that request id on this member.
 *
 * Snapshot format (what a lagging follower receives): one header chunk
 * ("SKIFFST1" | u32 length | member table JSON), then the MVCC store's own
 * snapshot chunks. The transport keeps chunk boundaries.
 */
import { rename, rm } from 'node:fs/promises';
import { type Entry, EntryType, type Snapshot, decodeConfChange } from '../raft/index.js';
import type { StateMachine } from '../raft/node.js';
import { assert } from '../util/assert.js';
import { decodeCommand } from './command-codec.js';
import { StoreError } from './errors.js';
import { MemberTable, type MemberTableData } from './members.js';
import { type ApplyEntry, type ApplyResult, MvccStore, type MvccStoreOptions } from './mvcc/index.js';
import type { StoreCommand, StoreResult } from './types.js';

const MAGIC = new TextEncoder().encode('SKIFFST1');
const MAX_HEADER_BYTES = 64 * 1024 * 1024;

export interface AppliedCommand {
  index: number;
  command: StoreCommand;
  result: StoreResult | StoreError;
}

export interface StoreStateMachineOptions {
  stateDir: string;
  membersFile: string;
  mvcc: Omit<MvccStoreOptions, 'dir'>;
  /** Every applied command with its result, in log order (waiters, lessor, metrics). */
  onApplied: (applied: AppliedCommand[]) => void;
  /** The member table changed (conf change or attributes). */
  onMembersChanged: (members: MemberTable) => void;
}

export class StoreStateMachine implements StateMachine {
  private staged: MemberTableData | null = null;

  private constructor(
    private readonly o: StoreStateMachineOptions,
    public mvcc: MvccStore,
    public members: MemberTable,
  ) {}

  static async open(o: StoreStateMachineOptions): Promise<StoreStateMachine> {
    const mvcc = await MvccStore.open({ ...o.mvcc, dir: o.stateDir });
    const members = await MemberTable.load(o.membersFile);
    return new StoreStateMachine(o, mvcc, members);
  }

  appliedIndex(): number {
    return this.mvcc.appliedIndex;
  }

  async apply(entries: readonly Entry[]): Promise<void> {
    const batch: ApplyEntry[] = [];
    /** Fenced writes refused here (their entry is not of their term): answered without touching the MVCC. */
    const fenced: AppliedCommand[] = [];
    let membersChanged = false;
    for (const e of entries) {
      if (e.type === EntryType.ConfChange) {
        // Raft already applied it; the table follows (idempotent on replay).
        this.members.apply(decodeConfChange(e.data));
        membersChanged = true;
        batch.push({ index: e.index, command: null });
        continue;
      }
      if (e.data.length === 0) {
        batch.push({ index: e.index, command: null });
        continue;
      }
      const command = decodeCommand(e.data);
      if ('fencedTxn' in command) {
        // The entry's term is the same on every member: all refuse, or all apply.
        if (e.term === command.fencedTxn.term) batch.push({ index: e.index, command: { id: command.id, txn: command.fencedTxn.txn } });
        else {
          batch.push({ index: e.index, command: null });
          fenced.push({ index: e.index, command, result: new StoreError('STORE_ERR_FENCED') });
        }
        continue;
      }
      if ('memberAttributes' in command) {
        const a = command.memberAttributes;
        const m = this.members.get(a.memberId);
        if (m) {
          this.members.set({ ...m, name: a.name, clientURLs: [...a.clientURLs] });
          membersChanged = true;
        }
        batch.push({ index: e.index, command: null });
        continue;
      }
      batch.push({ index: e.index, command });
    }
    const results = await this.mvcc.apply(batch);
    if (membersChanged) {
      await this.members.save(this.o.membersFile);
      this.o.onMembersChanged(this.members);
    }
    const applied: AppliedCommand[] = [];
    for (let i = 0; i < batch.length; i++) {
      const b = batch[i]!;
      const r: ApplyResult = results[i]!;
      if (b.command && r) applied.push({ index: b.index, command: b.command, result: r });
    }
    applied.push(...fenced);
    if (applied.length > 0) this.o.onApplied(applied);
  }

  sync(): Promise<number> {
    return this.mvcc.sync();
  }

  async *snapshotData(_maxChunkBytes: number): AsyncIterable<Uint8Array> {
    const json = new TextEncoder().encode(JSON.stringify(this.members.data()));
    const header = new Uint8Array(MAGIC.length + 4 + json.length);
    header.set(MAGIC, 0);
    new DataView(header.buffer).setUint32(MAGIC.length, json.length);
    header.set(json, MAGIC.length + 4);
    yield header;
    const snap = await this.mvcc.snapshot();
    yield* snap.chunks;
  }

  async receiveSnapshot(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    // Chunk boundaries carry no meaning (the transport may split): read the
    // header from the byte stream, and hand what follows it to the MVCC store.
    const it = chunks[Symbol.asyncIterator]();
    let buf: Uint8Array = new Uint8Array(0);
    const need = async (n: number): Promise<void> => {
      while (buf.length < n) {
        const next = await it.next();
        if (next.done) throw new StoreError('STORE_ERR_UNHEALTHY', 'snapshot stream ended inside its header');
        buf = buf.length === 0 ? next.value : Buffer.concat([buf, next.value]);
      }
    };
    await need(MAGIC.length + 4);
    if (!MAGIC.every((b, i) => buf[i] === b)) throw new StoreError('STORE_ERR_UNHEALTHY', 'snapshot stream has no valid header');
    const len = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(MAGIC.length);
    if (len > MAX_HEADER_BYTES) throw new StoreError('STORE_ERR_UNHEALTHY', `snapshot header of ${len} bytes`);
    const start = MAGIC.length + 4;
    await need(start + len);
    const members = JSON.parse(new TextDecoder().decode(buf.subarray(start, start + len))) as MemberTableData;
    const rest = buf.subarray(start + len);
    async function* remaining(): AsyncIterable<Uint8Array> {
      if (rest.length > 0) yield rest;
      for (let n = await it.next(); !n.done; n = await it.next()) yield n.value;
    }
    await MvccStore.restore(this.incomingDir(), remaining());
    this.staged = members;
  }

  /** Swaps the received state in: Raft has accepted the snapshot. */
  async restore(snapshot: Snapshot): Promise<void> {
    assert(this.staged !== null, `restore of snapshot ${snapshot.metadata.index} without received data`);
    await this.mvcc.close();
    await rm(this.o.stateDir, { recursive: true, force: true });
    await rename(this.incomingDir(), this.o.stateDir);
    this.mvcc = await MvccStore.open({ ...this.o.mvcc, dir: this.o.stateDir });
    this.members = new MemberTable(this.staged);
    this.staged = null;
    await this.members.save(this.o.membersFile);
    this.o.onMembersChanged(this.members);
  }

  async close(): Promise<void> {
    await this.mvcc.close();
  }

  private incomingDir(): string {
    return `${this.o.stateDir}.incoming`;
  }
}
