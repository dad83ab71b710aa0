/**
 * `npm run bench:raft`: the Raft core's throughput ceiling. Three members in
 * one process, in-memory storage and an in-memory transport, no faults; the
 * leader proposes batches while earlier ones are in flight. Every Ready is
 * handled as the contract says (persist, send, apply, advance), so this is
 * the cost of the protocol itself — the number the durable store is later
 * measured against.
 *
 * Last line: JSON with entries_per_s and p50_us / p99_us commit latency
 * (propose → the leader hands the entry out as committed).
 */
import { parseArgs } from 'node:util';
import { MemoryStorage, type Message, RawNode, StateType } from '../src/raft/index.js';
import { Prng } from '../src/util/prng.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    batch: { type: 'string', default: '256' },
    'entry-bytes': { type: 'string', default: '128' },
    'inflight-batches': { type: 'string', default: '8' },
  },
});
const SECONDS = Number(values.seconds);
const BATCH = Number(values.batch);
const ENTRY_BYTES = Number(values['entry-bytes']);
const INFLIGHT_BATCHES = Number(values['inflight-batches']);
const WARMUP_MS = 1000;
const COMPACT_EVERY_ENTRIES = 50_000;

interface Member {
  rn: RawNode;
  storage: MemoryStorage;
  inbox: Message[];
  applied: number;
}

const voters = [1, 2, 3];
const rng = new Prng(42);
const members = new Map<number, Member>();
for (const id of voters) {
  const storage = MemoryStorage.bootstrap(voters);
  const rn = new RawNode({ id, random: rng.fork(), maxInflightMsgs: 1024, maxMsgBytes: 4 << 20 }, storage);
  members.set(id, { rn, storage, inbox: [], applied: 0 });
}

/** One pass over every member: step its inbox, handle one Ready. Returns whether anything happened. */
function pass(onCommitted: (lastIndex: number) => void, leaderId: number): boolean {
  let busy = false;
  for (const [id, m] of members) {
    if (m.inbox.length > 0) {
      const msgs = m.inbox;
      m.inbox = [];
      for (const msg of msgs) m.rn.step(msg);
      busy = true;
    }
    if (!m.rn.hasReady()) continue;
    busy = true;
    const rd = m.rn.ready();
    if (rd.snapshot) m.storage.applySnapshot(rd.snapshot);
    if (rd.entries.length > 0) m.storage.append(rd.entries);
    if (rd.hardState) m.storage.setHardState(rd.hardState);
    for (const msg of rd.messages) members.get(msg.to)!.inbox.push(msg);
    const ce = rd.committedEntries;
    if (ce.length > 0) {
      m.applied = ce[ce.length - 1]!.index;
      if (id === leaderId) onCommitted(m.applied);
    }
    m.rn.advance(rd);
    if (m.applied - m.storage.firstIndex() > COMPACT_EVERY_ENTRIES) m.storage.compact(m.applied - 1000);
  }
  return busy;
}

// Elect member 1.
members.get(1)!.rn.campaign();
while (pass(() => {}, 1)) {
  /* settle */
}
const leader = members.get(1)!;
if (leader.rn.raft.state !== StateType.Leader) throw new Error('bench: member 1 did not become leader');

const payload = new Uint8Array(ENTRY_BYTES).fill(7);
const batch: Uint8Array[] = Array.from({ length: BATCH }, () => payload);
/** Batches in flight: [last index, propose time in ns]. */
const pending: [number, bigint][] = [];
const latenciesUs: number[] = [];
let measuring = false;
let committedEntries = 0;
let lastCommitted = leader.rn.raft.log.committed;

const onCommitted = (index: number): void => {
  const now = process.hrtime.bigint();
  if (measuring) committedEntries += index - lastCommitted;
  lastCommitted = index;
  while (pending.length > 0 && pending[0]![0] <= index) {
    const [, t0] = pending.shift()!;
    if (measuring) latenciesUs.push(Number(now - t0) / 1000);
  }
};

const start = Date.now();
let measureStart = 0n;
for (;;) {
  const elapsed = Date.now() - start;
  if (!measuring && elapsed >= WARMUP_MS) {
    measuring = true;
    measureStart = process.hrtime.bigint();
    latenciesUs.length = 0;
  }
  if (elapsed >= WARMUP_MS + SECONDS * 1000) break;
  while (pending.length < INFLIGHT_BATCHES) {
    leader.rn.proposeBatch(batch);
    pending.push([leader.rn.raft.log.lastIndex(), process.hrtime.bigint()]);
  }
  pass(onCommitted, 1);
}
const seconds = Number(process.hrtime.bigint() - measureStart) / 1e9;
// Let the followers catch up, then check that they hold what the leader committed.
while (pass(onCommitted, 1)) {
  /* drain */
}
for (const [id, m] of members) {
  if (m.applied !== leader.applied) throw new Error(`bench: member ${id} applied ${m.applied}, leader ${leader.applied}`);
  const i = m.applied - 10;
  if (m.storage.term(i) !== leader.storage.term(i)) throw new Error(`bench: member ${id} disagrees with the leader at ${i}`);
}
latenciesUs.sort((a, b) => a - b);
const pct = (p: number): number => Math.round(latenciesUs[Math.min(latenciesUs.length - 1, Math.floor(p * latenciesUs.length))] ?? 0);
const result = {
  bench: 'raft',
  nodes: 3,
  batch: BATCH,
  entry_bytes: ENTRY_BYTES,
  inflight_batches: INFLIGHT_BATCHES,
  seconds: Number(seconds.toFixed(2)),
  entries: committedEntries,
  entries_per_s: Math.round(committedEntries / seconds),
  p50_us: pct(0.5),
  p99_us: pct(0.99),
  heap_mb: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
  target_entries_per_s: 300_000,
};
console.log(`raft core, 3 members in one process: ${result.entries_per_s.toLocaleString('en')} entries/s, commit latency p50 ${result.p50_us} µs, p99 ${result.p99_us} µs`);
console.log(JSON.stringify(result));
