/**
 * A minimal DER (X.690) encoder and reader: just the universal types an
 * X.509 v3 certificate needs. Pure functions over bytes; no I/O, no clock.
 *
 * DER, unlike BER, has exactly one encoding per value (definite minimal
 * lengths, minimal integers, sorted SET OF, trimmed named bit strings); Go's
 * crypto/x509 rejects certificates that break these rules, so every encoder
 * here produces the canonical form.
 */
import { assert } from '../../util/assert.js';
import { PkiError } from './errors.js';

export const TAG = Object.freeze({
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
});

/** Context-specific tags ([n]); constructed for EXPLICIT, primitive for IMPLICIT primitives. */
const CONTEXT_PRIMITIVE = 0x80;
const CONTEXT_CONSTRUCTED = 0xa0;
/** Tag numbers 31 and above need the multi-byte form, which X.509 never uses. */
const MAX_LOW_TAG_NUMBER = 30;
/** Lengths are encoded in at most four bytes; a certificate is far smaller. */
const MAX_LENGTH_BYTES = 0xffff_ffff;

function encodeLength(length: number): Buffer {
  assert(Number.isInteger(length) && length >= 0 && length <= MAX_LENGTH_BYTES, `DER length ${length}`);
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One tag-length-value; `tag` is the whole identifier octet. */
export function tlv(tag: number, content: Uint8Array): Buffer {
  assert(Number.isInteger(tag) && tag >= 0 && tag <= 0xff && (tag & 0x1f) !== 0x1f, `DER tag ${tag}`);
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

export function sequence(items: readonly Uint8Array[]): Buffer {
  return tlv(TAG.SEQUENCE, Buffer.concat(items));
}

/** DER orders the elements of a SET OF by their encodings (X.690 11.6). */
export function setOf(items: readonly Uint8Array[]): Buffer {
  const sorted = [...items].sort((a, b) => Buffer.compare(a, b));
  return tlv(TAG.SET, Buffer.concat(sorted));
}

/** DER TRUE is 0xff (X.690 11.1). */
export function boolean(value: boolean): Buffer {
  return tlv(TAG.BOOLEAN, Buffer.from([value ? 0xff : 0x00]));
}

export function nullValue(): Buffer {
  return tlv(TAG.NULL, Buffer.alloc(0));
}

/**
 * A non-negative INTEGER from its big-endian magnitude, in the minimal two's
 * complement form: leading zero bytes dropped, one added back when the top
 * bit would otherwise read as a sign (X.690 8.3.2).
 */
export function unsignedInteger(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.length === 0 ? Buffer.from([0]) : Buffer.from(magnitude.subarray(start));
  const content = trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
  return tlv(TAG.INTEGER, content);
}

export function smallInteger(value: number): Buffer {
  assert(Number.isSafeInteger(value) && value >= 0, `small integer ${value}`);
  const bytes: number[] = [];
  for (let n = value; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return unsignedInteger(Buffer.from(bytes));
}

/** An OBJECT IDENTIFIER from dotted form: 40*a+b, then base-128 arcs (X.690 8.19). */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  assert(arcs.length >= 2 && arcs.every((a) => Number.isSafeInteger(a) && a >= 0), `OID ${dotted}`);
  assert(arcs[0]! <= 2 && (arcs[0] === 2 || arcs[1]! < 40), `OID ${dotted}`);
  const out: number[] = [];
  for (const arc of [arcs[0]! * 40 + arcs[1]!, ...arcs.slice(2)]) {
    const base128: number[] = [];
    for (let n = arc; ; n = Math.floor(n / 128)) {
      base128.unshift((n % 128) | (base128.length ? 0x80 : 0));
      if (n < 128) break;
    }
    out.push(...base128);
  }
  return tlv(TAG.OID, Buffer.from(out));
}

/** A BIT STRING whose first content octet counts the unused low bits of the last octet. */
export function bitString(bytes: Uint8Array, unusedBits = 0): Buffer {
  assert(unusedBits >= 0 && unusedBits <= 7 && (bytes.length > 0 || unusedBits === 0), 'BIT STRING padding');
  return tlv(TAG.BIT_STRING, Buffer.concat([Buffer.from([unusedBits]), bytes]));
}

/**
 * A named-bit BIT STRING (such as KeyUsage) with bit 0 the most significant
 * bit of the first octet; DER drops trailing zero bits (X.690 11.2.2).
 */
export function namedBits(bits: readonly number[]): Buffer {
  if (bits.length === 0) return bitString(Buffer.alloc(0));
  const highest = Math.max(...bits);
  assert(bits.every((b) => Number.isInteger(b) && b >= 0) && highest < 64, 'named bits');
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const b of bits) bytes[b >> 3]! |= 0x80 >> (b & 7);
  return bitString(bytes, 7 - (highest & 7));
}

export function octetString(bytes: Uint8Array): Buffer {
  return tlv(TAG.OCTET_STRING, bytes);
}

export function utf8String(value: string): Buffer {
  return tlv(TAG.UTF8_STRING, Buffer.from(value, 'utf8'));
}

/** [n] EXPLICIT: a constructed wrapper around one complete encoding. */
export function explicit(tagNumber: number, inner: Uint8Array): Buffer {
  assert(tagNumber >= 0 && tagNumber <= MAX_LOW_TAG_NUMBER, `context tag ${tagNumber}`);
  return tlv(CONTEXT_CONSTRUCTED | tagNumber, inner);
}

/** [n] IMPLICIT for a primitive type: the type's tag replaced, its content kept. */
export function implicitPrimitive(tagNumber: number, content: Uint8Array): Buffer {
  assert(tagNumber >= 0 && tagNumber <= MAX_LOW_TAG_NUMBER, `context tag ${tagNumber}`);
  return tlv(CONTEXT_PRIMITIVE | tagNumber, content);
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** Years RFC 5280 section 4.1.2.5 encodes as UTCTime; the rest are GeneralizedTime. */
const UTC_TIME_FIRST_YEAR = 1950;
const UTC_TIME_LAST_YEAR = 2049;
const GENERALIZED_TIME_LAST_YEAR = 9999;

/**
 * A certificate time: UTCTime (YYMMDDHHMMSSZ) for 1950 to 2049 and
 * GeneralizedTime (YYYYMMDDHHMMSSZ, no fractions) otherwise, always in UTC
 * with seconds (RFC 5280 sections 4.1.2.5.1 and 4.1.2.5.2). Milliseconds are
 * dropped, so callers should pass whole seconds.
 */
export function certificateTime(date: Date): Buffer {
  const year = date.getUTCFullYear();
  assert(Number.isFinite(date.getTime()) && year >= 0 && year <= GENERALIZED_TIME_LAST_YEAR, `time ${date.toISOString()}`);
  const rest =
    pad(date.getUTCMonth() + 1, 2) + pad(date.getUTCDate(), 2) + pad(date.getUTCHours(), 2) + pad(date.getUTCMinutes(), 2) + pad(date.getUTCSeconds(), 2) + 'Z';
  if (year >= UTC_TIME_FIRST_YEAR && year <= UTC_TIME_LAST_YEAR) return tlv(TAG.UTC_TIME, Buffer.from(pad(year % 100, 2) + rest, 'ascii'));
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(pad(year, 4) + rest, 'ascii'));
}

// ---------------------------------------------------------------------------
// Reading: just enough to walk a certificate someone else (or we) made.

/** One element: its tag, where it starts, and where its content begins and ends. */
export interface DerNode {
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

function malformed(detail: string): PkiError {
  return new PkiError('PKI_ERR_MALFORMED_CERT', detail);
}

/** The element at `offset`, checked to fit inside `limit` (default: the buffer). */
export function readNode(buf: Uint8Array, offset: number, limit = buf.length): DerNode {
  if (offset + 2 > limit) throw malformed(`truncated header at ${offset}`);
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw malformed(`high tag number at ${offset}`);
  let length = buf[offset + 1]!;
  let contentStart = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4 || contentStart + count > limit) throw malformed(`bad length at ${offset}`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[contentStart + i]!;
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > limit) throw malformed(`element at ${offset} overruns its parent`);
  return { tag, start: offset, contentStart, end };
}

/** The elements directly inside a constructed node. */
export function children(buf: Uint8Array, node: DerNode): DerNode[] {
  const out: DerNode[] = [];
  for (let at = node.contentStart; at < node.end; ) {
    const child = readNode(buf, at, node.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (node === undefined || node.tag !== tag) throw malformed(`expected ${what}`);
  return node;
}

export const rawBytes = (buf: Uint8Array, n: DerNode): Buffer => Buffer.from(buf.subarray(n.start, n.end));
export const contentBytes = (buf: Uint8Array, n: DerNode): Buffer => Buffer.from(buf.subarray(n.contentStart, n.end));

/** Decodes a UTCTime or GeneralizedTime in the forms certificateTime writes. */
export function readCertificateTime(buf: Uint8Array, node: DerNode | undefined): Date {
  if (node === undefined) throw malformed('missing time');
  const text = contentBytes(buf, node).toString('ascii');
  const utc = node.tag === TAG.UTC_TIME && /^(\d{2})(\d{10})Z$/.exec(text);
  const gen = node.tag === TAG.GENERALIZED_TIME && /^(\d{4})(\d{10})Z$/.exec(text);
  const m = utc || gen;
  if (!m) throw malformed(`unsupported time ${JSON.stringify(text)}`);
  const yy = Number(m[1]);
  const year = utc ? (yy >= 50 ? 1900 + yy : 2000 + yy) : yy;
  const [mo, d, h, mi, s] = m[2]!.match(/\d{2}/g)!.map(Number) as [number, number, number, number, number];
  // setUTCFullYear, unlike Date.UTC, does not read years 0-99 as 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(year, mo - 1, d);
  date.setUTCHours(h, mi, s, 0);
  return date;
}
