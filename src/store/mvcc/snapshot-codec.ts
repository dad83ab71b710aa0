/**
 * The snapshot stream: a byte-for-byte copy of every LevelDB entry at one
 * point in time. Chunk boundaries carry no meaning (a transport may re-chunk).
 *
 *   header   "SKFSNAP1" appliedIndex(8) revision(8)
 *   records  keyLength(4) key valueLength(4) value      (LevelDB key order)
 *   trailer  0xFFFFFFFF count(8) crc32c(4)              (crc over the record bytes)
 */
import { CRC32C_INIT, crc32cFinish, crc32cUpdate } from './crc32c.js';
import { readU32, readU64, writeU32, writeU64 } from './keys.js';
import type { KvReader } from './kv-reader.js';

const MAGIC = new TextEncoder().encode('SKFSNAP1');
const HEADER_BYTES = MAGIC.length + 16;
const TRAILER_MARK = 0xffffffff;
const TRAILER_BYTES = 4 + 8 + 4;
/** A record longer than this is corruption, not data (LevelDB keys and values are far smaller). */
const MAX_RECORD_PART_BYTES = 1 << 30;

export interface SnapshotHeader {
  appliedIndex: number;
  revision: number;
}

/** A malformed or truncated snapshot stream. */
export class SnapshotFormatError extends Error {
  override readonly name = 'SnapshotFormatError';
  readonly code = 'STORE_ERR_SNAPSHOT_CORRUPT';
}

function encodeHeader(h: SnapshotHeader): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES);
  out.set(MAGIC, 0);
  writeU64(out, MAGIC.length, h.appliedIndex);
  writeU64(out, MAGIC.length + 8, h.revision);
  return out;
}

function encodeRecord(k: Uint8Array, v: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + k.length + v.length);
  writeU32(out, 0, k.length);
  out.set(k, 4);
  writeU32(out, 4 + k.length, v.length);
  out.set(v, 8 + k.length);
  return out;
}

/**
 * Streams every entry of `reader` (which must read from one snapshot), then
 * calls `release` — also when the consumer stops early via return().
 */
export async function* encodeSnapshot(
  reader: KvReader,
  header: SnapshotHeader,
  chunkBytes: number,
  release: () => Promise<void>,
): AsyncGenerator<Uint8Array> {
  try {
    yield encodeHeader(header);
    let parts: Uint8Array[] = [];
    let size = 0;
    let crc = CRC32C_INIT;
    let count = 0;
    for await (const [k, v] of reader.iterate({})) {
      const rec = encodeRecord(k, v);
      crc = crc32cUpdate(crc, rec);
      count++;
      parts.push(rec);
      size += rec.length;
      if (size >= chunkBytes) {
        yield Buffer.concat(parts);
        parts = [];
        size = 0;
      }
    }
    const trailer = new Uint8Array(TRAILER_BYTES);
    writeU32(trailer, 0, TRAILER_MARK);
    writeU64(trailer, 4, count);
    writeU32(trailer, 12, crc32cFinish(crc));
    parts.push(trailer);
    yield Buffer.concat(parts);
  } finally {
    await release();
  }
}

/** Incremental parser: push chunks, take the complete records, then end(). */
export class SnapshotParser {
  private pending: Buffer = Buffer.alloc(0);
  private header: SnapshotHeader | null = null;
  private crc = CRC32C_INIT;
  private count = 0;
  private done = false;

  get snapshotHeader(): SnapshotHeader | null {
    return this.header;
  }

  push(chunk: Uint8Array): [Uint8Array, Uint8Array][] {
    if (this.done && chunk.length > 0) throw new SnapshotFormatError('data after the snapshot trailer');
    this.pending = this.pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.pending, chunk]);
    const out: [Uint8Array, Uint8Array][] = [];
    let off = this.header === null ? this.parseHeader() : 0;
    for (;;) {
      const r = this.parseOne(off);
      if (r === null) break;
      off = r.next;
      if (r.record !== null) out.push(r.record);
    }
    this.pending = this.pending.subarray(off);
    return out;
  }

  end(): SnapshotHeader {
    if (!this.done || this.header === null || this.pending.length > 0) {
      throw new SnapshotFormatError('truncated snapshot');
    }
    return this.header;
  }

  private parseHeader(): number {
    const p = this.pending;
    if (p.length < HEADER_BYTES) return 0;
    if (!p.subarray(0, MAGIC.length).equals(MAGIC)) throw new SnapshotFormatError('not a skiff store snapshot');
    this.header = { appliedIndex: readU64(p, MAGIC.length), revision: readU64(p, MAGIC.length + 8) };
    return HEADER_BYTES;
  }

  /** One record or the trailer at `off`; null when more bytes are needed. */
  private parseOne(off: number): { next: number; record: [Uint8Array, Uint8Array] | null } | null {
    const p = this.pending;
    if (this.header === null || this.done || p.length - off < 4) return null;
    const keyLength = readU32(p, off);
    if (keyLength === TRAILER_MARK) return this.parseTrailer(off);
    if (keyLength > MAX_RECORD_PART_BYTES) throw new SnapshotFormatError('record key too long');
    if (p.length - off < 8 + keyLength) return null;
    const valueLength = readU32(p, off + 4 + keyLength);
    if (valueLength > MAX_RECORD_PART_BYTES) throw new SnapshotFormatError('record value too long');
    const end = off + 8 + keyLength + valueLength;
    if (p.length < end) return null;
    this.crc = crc32cUpdate(this.crc, p.subarray(off, end));
    this.count++;
    const key = new Uint8Array(p.subarray(off + 4, off + 4 + keyLength));
    const value = new Uint8Array(p.subarray(off + 8 + keyLength, end));
    return { next: end, record: [key, value] };
  }

  private parseTrailer(off: number): { next: number; record: null } | null {
    const p = this.pending;
    if (p.length - off < TRAILER_BYTES) return null;
    if (readU64(p, off + 4) !== this.count) throw new SnapshotFormatError('snapshot record count mismatch');
    if (readU32(p, off + 12) !== crc32cFinish(this.crc)) throw new SnapshotFormatError('snapshot checksum mismatch');
    this.done = true;
    return { next: off + TRAILER_BYTES, record: null };
  }
}
