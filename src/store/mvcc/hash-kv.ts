/**
 * hashKV: a CRC-32C over the logical MVCC state at a revision, for comparing
 * members (etcd's HashKV). It covers, key by key in key order, the version
 * each key had at the compact revision (unless deleted) and every change
 * after it up to the revision. It depends only on logical state — never on
 * how far the background physical compaction has got — so equal stores give
 * equal hashes.
 */
import { CRC32C_INIT, crc32cFinish, crc32cUpdate } from './crc32c.js';
import { PREFIX_HISTORY, decodeHistoryKey, equalBytes, eventKey, prefixBounds } from './keys.js';
import type { KvReader } from './kv-reader.js';
import { isTombstone } from './records.js';

interface Pick {
  historyKey: Uint8Array;
  rev: number;
  sub: number;
}

/** History entries fetched per getMany of their events. */
const HASH_BATCH_ENTRIES = 256;

export async function hashKv(reader: KvReader, atRev: number, compactRevision: number): Promise<number> {
  let crc = CRC32C_INIT;
  let batch: Pick[] = [];
  const flush = async (): Promise<void> => {
    const values = await reader.getMany(batch.map((p) => eventKey(p.rev, p.sub)));
    values.forEach((v, i) => {
      crc = crc32cUpdate(crc, batch[i]!.historyKey);
      if (v !== undefined) crc = crc32cUpdate(crc, v);
    });
    batch = [];
  };
  let currentKey: Uint8Array | null = null;
  let atCompact: (Pick & { tombstone: boolean }) | null = null;
  let after: Pick[] = [];
  const endKey = async (): Promise<void> => {
    if (atCompact !== null && !atCompact.tombstone) batch.push(atCompact);
    batch.push(...after);
    atCompact = null;
    after = [];
    if (batch.length >= HASH_BATCH_ENTRIES) await flush();
  };
  for await (const [hk, hv] of reader.iterate(prefixBounds(PREFIX_HISTORY))) {
    const parts = decodeHistoryKey(hk);
    if (currentKey === null || !equalBytes(currentKey, parts.key)) {
      await endKey();
      currentKey = parts.key;
    }
    const pick = { historyKey: hk, rev: parts.rev, sub: parts.sub };
    if (parts.rev <= compactRevision) atCompact = { ...pick, tombstone: isTombstone(hv) };
    else if (parts.rev <= atRev) after.push(pick);
  }
  await endKey();
  await flush();
  return crc32cFinish(crc);
}
