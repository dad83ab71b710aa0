/**
 * Where encoded keys and records get their bytes.
 *
 * An apply batch makes a few small arrays per change (latest-index key and
 * record, history key, event key, reclaim record) that only LevelDB reads,
 * and the binding copies them when they are added to its write batch. One
 * allocation each is most of their cost (V8 also moves a small array off its
 * heap when native code first asks for its address), so a batch carves them
 * out of a few shared chunks instead.
 *
 * Contract: whatever holds a view into an arena chunk keeps the whole chunk
 * alive, so arena bytes must not outlive the batch in anything long-lived
 * (events, the lease table, the key index): those get their own arrays.
 * Chunks are never reused, so a view that does outlive the batch (e.g. a txn
 * range answer read back from the overlay) stays correct, only larger.
 */
export interface ByteAllocator {
  /** n zeroed bytes, as a plain Uint8Array. */
  alloc(n: number): Uint8Array;
}

/** One allocation per array. */
export const HEAP: ByteAllocator = { alloc: (n) => new Uint8Array(n) };

/** The first chunk of a batch: enough for a single put of a few hundred bytes. */
const FIRST_CHUNK_BYTES = 2 * 1024;
/** Chunks double up to this size (a batch of 100 puts of 1 KiB fits in a few). */
const MAX_CHUNK_BYTES = 64 * 1024;

/** Bump allocation from chunks that live as long as their views. */
export class ByteArena implements ByteAllocator {
  private chunk: Uint8Array | null = null;
  private used = 0;
  private nextChunkBytes = FIRST_CHUNK_BYTES;

  alloc(n: number): Uint8Array {
    // An array larger than a quarter chunk gets its own allocation: little to save, much to waste.
    if (n > this.nextChunkBytes >>> 2) return new Uint8Array(n);
    if (this.chunk === null || this.used + n > this.chunk.length) {
      this.chunk = new Uint8Array(this.nextChunkBytes);
      this.used = 0;
      this.nextChunkBytes = Math.min(2 * this.nextChunkBytes, MAX_CHUNK_BYTES);
    }
    // Not subarray(): it looks up a species constructor on every call.
    const out = new Uint8Array(this.chunk.buffer, this.used, n);
    this.used += n;
    return out;
  }
}
