/**
 * The protobuf wire format, read-only: tags, varints and length-delimited
 * fields over one shared buffer. A reader is a window [pos, end) of that
 * buffer, so every error carries the absolute byte offset in the body.
 *
 * Strict where Go's generated unmarshallers are lenient: a varint longer than
 * 10 bytes or wider than 64 bits, an int32 outside its range and an int64
 * beyond ±(2^53 − 1) (a JavaScript number could not hold it exactly) are all
 * malformed rather than truncated.
 */
import { assert } from '../../../util/index.js';
import { KubeProtobufError } from './errors.js';

export const WireType = {
  Varint: 0,
  Fixed64: 1,
  LengthDelimited: 2,
  StartGroup: 3,
  EndGroup: 4,
  Fixed32: 5,
} as const;

export const WIRE_TYPE_NAMES = ['varint', 'fixed64', 'length-delimited', 'start-group', 'end-group', 'fixed32', 'invalid(6)', 'invalid(7)'] as const;

/**
 * What every Kubernetes protobuf body starts with: "k8s" and an encoding
 * byte, of which only 0x00 (a runtime.Unknown follows) is defined.
 */
export const KUBE_PROTOBUF_MAGIC: Readonly<Uint8Array> = Uint8Array.of(0x6b, 0x38, 0x73, 0x00);

/** The largest field number protobuf allows (2^29 − 1). */
const MAX_FIELD_NUMBER = 0x1fffffff;
/** High 32 bits of Number.MAX_SAFE_INTEGER (2^53 − 1). */
const MAX_SAFE_HI = 0x1fffff;
const TWO_POW_32 = 0x1_0000_0000;
const MAX_VARINT_BYTES = 10;

export interface Tag {
  readonly fieldNumber: number;
  readonly wireType: number;
  /** Offset of the tag's first byte. */
  readonly offset: number;
}

// Go decodes proto2 strings without validating UTF-8 and its JSON encoder
// then replaces invalid bytes with U+FFFD: the replacing decoder does the
// same. ignoreBOM keeps a leading U+FEFF, which is data here, not a mark.
const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/**
 * The int64 whose two's complement bits are hi:lo, or ±Infinity when its
 * magnitude exceeds Number.MAX_SAFE_INTEGER (it would lose precision).
 */
function int64ToNumber(lo: number, hi: number): number {
  if ((hi & 0x8000_0000) === 0) return hi > MAX_SAFE_HI ? Number.POSITIVE_INFINITY : hi * TWO_POW_32 + lo;
  const negLo = (~lo + 1) >>> 0;
  const negHi = (~hi + (negLo === 0 ? 1 : 0)) >>> 0;
  return negHi > MAX_SAFE_HI ? Number.NEGATIVE_INFINITY : -(negHi * TWO_POW_32 + negLo);
}

export class WireReader {
  private pos: number;

  constructor(
    private readonly buf: Uint8Array,
    start = 0,
    private readonly end = buf.length,
  ) {
    assert(start >= 0 && start <= end && end <= buf.length, `window [${start}, ${end}) outside a buffer of ${buf.length} bytes`);
    this.pos = start;
  }

  get offset(): number {
    return this.pos;
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  malformed(detail: string, offset = this.pos): KubeProtobufError {
    return new KubeProtobufError('KUBE_PROTOBUF_ERR_MALFORMED', detail, { offset });
  }

  readTag(): Tag {
    const offset = this.pos;
    const [lo, hi] = this.readRawVarint();
    const fieldNumber = lo >>> 3;
    if (hi !== 0 || fieldNumber > MAX_FIELD_NUMBER) throw this.malformed('field number out of range', offset);
    if (fieldNumber === 0) throw this.malformed('field number 0 is not allowed', offset);
    return { fieldNumber, wireType: lo & 7, offset };
  }

  /** A varint as a non-negative number below 2^32 (lengths). */
  readUint32(): number {
    const offset = this.pos;
    const [lo, hi] = this.readRawVarint();
    if (hi !== 0) throw this.malformed('length does not fit in 32 bits', offset);
    return lo;
  }

  /** An int64 varint (two's complement); refuses magnitudes beyond 2^53 − 1. */
  readInt64(): number {
    const offset = this.pos;
    const v = int64ToNumber(...this.readRawVarint());
    if (!Number.isFinite(v)) throw this.malformed('int64 value beyond ±(2^53 − 1) cannot be represented exactly', offset);
    return v;
  }

  /** An int32 varint: Go writes negative values sign-extended to 64 bits (10 bytes). */
  readInt32(): number {
    const offset = this.pos;
    const v = int64ToNumber(...this.readRawVarint());
    if (!(v >= -0x8000_0000 && v <= 0x7fff_ffff)) throw this.malformed(`int32 value ${v} out of range`, offset);
    return v;
  }

  /** Any non-zero varint is true, as in Go's unmarshallers. */
  readBool(): boolean {
    const [lo, hi] = this.readRawVarint();
    return lo !== 0 || hi !== 0;
  }

  /** A length-delimited field as a reader over its payload; advances past it. */
  readLengthDelimited(): WireReader {
    const offset = this.pos;
    const length = this.readUint32();
    if (length > this.end - this.pos) throw this.malformed(`length ${length} runs past the end of its message`, offset);
    const sub = new WireReader(this.buf, this.pos, this.pos + length);
    this.pos += length;
    return sub;
  }

  /** Whether the unread bytes begin with `prefix`. */
  startsWith(prefix: Readonly<Uint8Array>): boolean {
    if (this.end - this.pos < prefix.length) return false;
    for (let i = 0; i < prefix.length; i++) if (this.buf[this.pos + i] !== prefix[i]) return false;
    return true;
  }

  /** Advances past `count` bytes, which must be there. */
  skip(count: number): void {
    if (count > this.end - this.pos) throw this.malformed(`expected ${count} more bytes`);
    this.pos += count;
  }

  /** The rest of this reader's window as bytes (a view, not a copy); consumes it. */
  takeBytes(): Uint8Array {
    const bytes = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return bytes;
  }

  takeString(): string {
    return utf8.decode(this.takeBytes());
  }

  /** The 64 bits of a varint as [low 32, high 32], both unsigned. */
  private readRawVarint(): [number, number] {
    const start = this.pos;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (this.pos >= this.end) throw this.malformed('truncated varint', start);
      const b = this.buf[this.pos++]!;
      const bits = b & 0x7f;
      if (i < 4) lo |= bits << (7 * i);
      else if (i === 4) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (7 * i - 32);
      if (b < 0x80) {
        // The 10th byte holds only bit 63.
        if (i === MAX_VARINT_BYTES - 1 && b > 1) throw this.malformed('varint overflows 64 bits', start);
        return [lo >>> 0, hi >>> 0];
      }
    }
    throw this.malformed('varint longer than 10 bytes', start);
  }
}
