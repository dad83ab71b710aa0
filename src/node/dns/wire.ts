/**
 * Our own DNS message codec, from RFC 1035 (§4 messages, §4.1.4 compression),
 * RFC 2782 (SRV), RFC 3596 (AAAA) and RFC 6891 (EDNS0 OPT). Pure: bytes in,
 * objects out and back, no I/O.
 *
 * Names are text in presentation form without the trailing dot ("" is the
 * root); a label byte that is a dot, a backslash or not printable is written
 * `\.`, `\\` or `\DDD`, so every wire name survives a round trip. Case is
 * kept (a response echoes the question as asked); comparisons are the
 * caller's (see `canonicalName`).
 *
 * Decoding is defensive: every read is bounds-checked, compression pointers
 * must point strictly backwards (so a pointer chain always ends), names are at
 * most 255 octets and labels at most 63, rdata must fill exactly its length.
 * Any violation throws a DnsError with a stable code.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { DnsError } from './errors.js';
import { assert } from '../../util/assert.js';

export const MAX_MESSAGE_BYTES = 65535;
export const MAX_NAME_WIRE_BYTES = 255;
export const MAX_LABEL_BYTES = 63;
/** Classic UDP limit without EDNS0 (RFC 1035 §4.2.1). */
export const UDP_CLASSIC_BYTES = 512;
/** Upper bound of compression pointers followed in one name (backwards-only already bounds it). */
const MAX_POINTERS_PER_NAME = 127;

export enum RRType {
  A = 1,
  NS = 2,
  CNAME = 5,
  SOA = 6,
  PTR = 12,
  TXT = 16,
  AAAA = 28,
  SRV = 33,
  OPT = 41,
  ANY = 255,
}

export enum RCode {
  NOERROR = 0,
  FORMERR = 1,
  SERVFAIL = 2,
  NXDOMAIN = 3,
  NOTIMP = 4,
  REFUSED = 5,
  /** Extended (needs OPT): the EDNS version is not supported (RFC 6891 §6.1.3). */
  BADVERS = 16,
}

export enum Opcode {
  QUERY = 0,
}

export const CLASS_IN = 1;

export interface Question {
  name: string;
  type: number;
  class: number;
}

export interface SoaData {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

/** Typed rdata; `raw` keeps any type we do not interpret, byte for byte. */
export type RecordData =
  | { kind: 'A'; address: string }
  | { kind: 'AAAA'; address: string }
  | { kind: 'NAME'; target: string } // CNAME, NS, PTR
  | { kind: 'SRV'; priority: number; weight: number; port: number; target: string }
  | { kind: 'SOA'; soa: SoaData }
  | { kind: 'TXT'; texts: string[] }
  | { kind: 'raw'; bytes: Uint8Array };

export interface ResourceRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  data: RecordData;
}

/** The OPT pseudo-record of EDNS0, lifted out of the additional section. */
export interface Edns {
  /** The sender's UDP payload size (the OPT record's CLASS). */
  udpSize: number;
  version: number;
  dnssecOk: boolean;
}

export interface DnsMessage {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  ad: boolean;
  cd: boolean;
  /** The full response code: the header's 4 bits plus, with EDNS, the OPT's upper 8. */
  rcode: number;
  questions: Question[];
  answers: ResourceRecord[];
  authority: ResourceRecord[];
  additional: ResourceRecord[];
  edns: Edns | null;
}

export function emptyMessage(id: number): DnsMessage {
  return { id, qr: false, opcode: Opcode.QUERY, aa: false, tc: false, rd: false, ra: false, ad: false, cd: false, rcode: RCode.NOERROR, questions: [], answers: [], authority: [], additional: [], edns: null };
}

// ---------------------------------------------------------------- names

/** Lower-cases ASCII letters only (DNS case-insensitivity, RFC 4343) and drops a trailing dot. */
export function canonicalName(name: string): string {
  const n = name.endsWith('.') && !name.endsWith('\\.') ? name.slice(0, -1) : name;
  return n.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** Splits a presentation-form name into wire labels; validates label and name lengths. */
export function nameToLabels(name: string): Buffer[] {
  if (name === '' || name === '.') return [];
  const labels: Buffer[] = [];
  let cur: number[] = [];
  let i = 0;
  const end = () => {
    if (cur.length === 0 || cur.length > MAX_LABEL_BYTES) throw new DnsError('DNS_ERR_BAD_LABEL', JSON.stringify(name));
    labels.push(Buffer.from(cur));
    cur = [];
  };
  while (i < name.length) {
    const c = name.charCodeAt(i);
    if (c === 0x2e) {
      end();
      i++;
      if (i === name.length) break; // trailing dot: fully qualified
      continue;
    }
    if (c === 0x5c) {
      const d = name.slice(i + 1, i + 4);
      if (/^[0-9]{3}$/.test(d) && Number(d) <= 255) {
        cur.push(Number(d));
        i += 4;
      } else if (i + 1 < name.length) {
        cur.push(name.charCodeAt(i + 1) & 0xff);
        i += 2;
      } else {
        throw new DnsError('DNS_ERR_BAD_LABEL', `dangling escape in ${JSON.stringify(name)}`);
      }
      continue;
    }
    if (c > 0xff) throw new DnsError('DNS_ERR_BAD_LABEL', `non-latin1 character in ${JSON.stringify(name)}`);
    cur.push(c);
    i++;
  }
  if (cur.length > 0 || !name.endsWith('.')) end();
  let wire = 1;
  for (const l of labels) wire += l.length + 1;
  if (wire > MAX_NAME_WIRE_BYTES) throw new DnsError('DNS_ERR_NAME_TOO_LONG', `${wire} octets`);
  return labels;
}

function labelToText(b: Uint8Array): string {
  let s = '';
  for (const c of b) {
    if (c === 0x2e || c === 0x5c) s += `\\${String.fromCharCode(c)}`;
    else if (c > 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += `\\${String(c).padStart(3, '0')}`;
  }
  return s;
}

// ---------------------------------------------------------------- addresses

export function ipv4ToBytes(s: string): Buffer {
  if (!isIPv4(s)) throw new DnsError('DNS_ERR_BAD_ADDRESS', s);
  return Buffer.from(s.split('.').map(Number));
}

export function ipv6ToBytes(s: string): Buffer {
  if (!isIPv6(s) || s.includes('%')) throw new DnsError('DNS_ERR_BAD_ADDRESS', s);
  let text = s;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    // An embedded IPv4 tail ("::ffff:10.0.0.1") becomes two hex groups.
    const v4 = ipv4ToBytes(text.slice(lastColon + 1));
    text = `${text.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const [head, rest] = text.includes('::') ? text.split('::') as [string, string] : [text, null];
  const parse = (p: string) => (p === '' ? [] : p.split(':').map((g) => parseInt(g, 16)));
  const h = parse(head);
  const r = rest === null ? [] : parse(rest);
  const fill = 8 - h.length - r.length;
  if (fill < 0) throw new DnsError('DNS_ERR_BAD_ADDRESS', s);
  const groups = rest === null ? h : [...h, ...new Array<number>(fill).fill(0), ...r];
  if (groups.length !== 8 || groups.some((g) => !(g >= 0 && g <= 0xffff))) throw new DnsError('DNS_ERR_BAD_ADDRESS', s);
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/** RFC 5952 text: lower case, no leading zeros, the longest run (≥ 2) of zero groups as "::". */
export function bytesToIpv6(b: Uint8Array): string {
  assert(b.length === 16, 'IPv6 address is 16 bytes');
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [bestAt, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  if (bestAt < 0) return hex(g);
  return `${hex(g.slice(0, bestAt))}::${hex(g.slice(bestAt + bestLen))}`;
}

// ---------------------------------------------------------------- encoding

class Writer {
  private buf = Buffer.alloc(512);
  len = 0;
  /** Wire form of a name suffix → its offset (only offsets a pointer can reach). Exact bytes, so case survives a round trip. */
  private readonly names = new Map<string, number>();

  private room(n: number): void {
    if (this.len + n > MAX_MESSAGE_BYTES) throw new DnsError('DNS_ERR_MESSAGE_TOO_LARGE', `${this.len + n} octets`);
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.min(MAX_MESSAGE_BYTES, Math.max(this.buf.length * 2, this.len + n)));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  u8(v: number): void {
    this.room(1);
    this.buf.writeUInt8(v, this.len);
    this.len += 1;
  }
  u16(v: number): void {
    this.room(2);
    this.buf.writeUInt16BE(v, this.len);
    this.len += 2;
  }
  u32(v: number): void {
    this.room(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  setU16(at: number, v: number): void {
    this.buf.writeUInt16BE(v, at);
  }
  /** Writes a name, pointing at an earlier copy of its longest known suffix when `compress`. */
  name(name: string, compress: boolean): void {
    const labels = nameToLabels(name);
    const keys: string[] = new Array<string>(labels.length);
    let key = '';
    for (let i = labels.length - 1; i >= 0; i--) {
      key = String.fromCharCode(labels[i]!.length) + labels[i]!.toString('latin1') + key;
      keys[i] = key;
    }
    for (let i = 0; i < labels.length; i++) {
      const at = compress ? this.names.get(keys[i]!) : undefined;
      if (at !== undefined) {
        this.u16(0xc000 | at);
        return;
      }
      if (this.len < 0x3fff && !this.names.has(keys[i]!)) this.names.set(keys[i]!, this.len);
      this.u8(labels[i]!.length);
      this.bytes(labels[i]!);
    }
    this.u8(0);
  }
  done(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}

function writeRdata(w: Writer, rr: ResourceRecord): void {
  const d = rr.data;
  switch (d.kind) {
    case 'A':
      return w.bytes(ipv4ToBytes(d.address));
    case 'AAAA':
      return w.bytes(ipv6ToBytes(d.address));
    case 'NAME':
      return w.name(d.target, true); // RFC 3597 §4: CNAME, NS, PTR may be compressed
    case 'SRV':
      w.u16(d.priority);
      w.u16(d.weight);
      w.u16(d.port);
      return w.name(d.target, false); // RFC 2782: no compression of the target
    case 'SOA':
      w.name(d.soa.mname, true);
      w.name(d.soa.rname, true);
      for (const v of [d.soa.serial, d.soa.refresh, d.soa.retry, d.soa.expire, d.soa.minimum]) w.u32(v);
      return;
    case 'TXT':
      for (const t of d.texts.length === 0 ? [''] : d.texts) {
        const b = Buffer.from(t, 'latin1');
        if (b.length > 255) throw new DnsError('DNS_ERR_BAD_RDATA', 'TXT string longer than 255 octets');
        w.u8(b.length);
        w.bytes(b);
      }
      return;
    case 'raw':
      return w.bytes(d.bytes);
  }
}

function writeRecord(w: Writer, rr: ResourceRecord): void {
  w.name(rr.name, true);
  w.u16(rr.type);
  w.u16(rr.class);
  w.u32(rr.ttl);
  const lenAt = w.len;
  w.u16(0);
  writeRdata(w, rr);
  const rdlen = w.len - lenAt - 2;
  if (rdlen > 0xffff) throw new DnsError('DNS_ERR_BAD_RDATA', 'rdata longer than 65535 octets');
  w.setU16(lenAt, rdlen);
}

/** Encodes a message; names are compressed. Throws DNS_ERR_MESSAGE_TOO_LARGE past 65,535 octets. */
export function encodeMessage(m: DnsMessage): Buffer {
  assert(m.edns !== null || m.rcode < 16, 'an extended rcode needs an OPT record');
  const w = new Writer();
  w.u16(m.id);
  const flags =
    (m.qr ? 0x8000 : 0) | ((m.opcode & 0xf) << 11) | (m.aa ? 0x400 : 0) | (m.tc ? 0x200 : 0) | (m.rd ? 0x100 : 0) |
    (m.ra ? 0x80 : 0) | (m.ad ? 0x20 : 0) | (m.cd ? 0x10 : 0) | (m.rcode & 0xf);
  w.u16(flags);
  w.u16(m.questions.length);
  w.u16(m.answers.length);
  w.u16(m.authority.length);
  w.u16(m.additional.length + (m.edns ? 1 : 0));
  for (const q of m.questions) {
    w.name(q.name, true);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const rr of m.answers) writeRecord(w, rr);
  for (const rr of m.authority) writeRecord(w, rr);
  for (const rr of m.additional) writeRecord(w, rr);
  if (m.edns) {
    w.u8(0); // root
    w.u16(RRType.OPT);
    w.u16(m.edns.udpSize);
    w.u32(((m.rcode >> 4) << 24) | ((m.edns.version & 0xff) << 16) | (m.edns.dnssecOk ? 0x8000 : 0));
    w.u16(0); // no options
  }
  return w.done();
}

// ---------------------------------------------------------------- decoding

class Reader {
  off = 0;
  constructor(readonly buf: Buffer) {}
  need(n: number): void {
    if (this.off + n > this.buf.length) throw new DnsError('DNS_ERR_TRUNCATED', `at offset ${this.off}, ${n} more octets`);
  }
  u8(): number {
    this.need(1);
    return this.buf[this.off++]!;
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.off);
    this.off += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return b;
  }
  /** Reads a possibly compressed name; pointers must point before where the current run of labels began. */
  name(): string {
    const parts: string[] = [];
    let pos = this.off;
    let runStart = pos;
    let jumped = false;
    let wire = 1;
    for (let pointers = 0; ; ) {
      if (pos >= this.buf.length) throw new DnsError('DNS_ERR_TRUNCATED', `name at offset ${pos}`);
      const b = this.buf[pos]!;
      if (b === 0) {
        if (!jumped) this.off = pos + 1;
        return parts.join('.');
      }
      const type = b & 0xc0;
      if (type === 0xc0) {
        if (pos + 2 > this.buf.length) throw new DnsError('DNS_ERR_TRUNCATED', `pointer at offset ${pos}`);
        const target = ((b & 0x3f) << 8) | this.buf[pos + 1]!;
        if (target >= runStart || ++pointers > MAX_POINTERS_PER_NAME) throw new DnsError('DNS_ERR_POINTER_LOOP', `pointer at ${pos} to ${target}`);
        if (!jumped) this.off = pos + 2;
        jumped = true;
        pos = runStart = target;
        continue;
      }
      if (type !== 0) throw new DnsError('DNS_ERR_BAD_LABEL_TYPE', `0x${b.toString(16)} at offset ${pos}`);
      if (pos + 1 + b > this.buf.length) throw new DnsError('DNS_ERR_TRUNCATED', `label at offset ${pos}`);
      wire += b + 1;
      if (wire > MAX_NAME_WIRE_BYTES) throw new DnsError('DNS_ERR_NAME_TOO_LONG', `at offset ${pos}`);
      parts.push(labelToText(this.buf.subarray(pos + 1, pos + 1 + b)));
      pos += 1 + b;
    }
  }
}

function readRdata(r: Reader, type: number, rdlen: number): RecordData {
  const end = r.off + rdlen;
  r.need(rdlen);
  let data: RecordData;
  switch (type) {
    case RRType.A:
      if (rdlen !== 4) throw new DnsError('DNS_ERR_BAD_RDATA', `A of ${rdlen} octets`);
      data = { kind: 'A', address: Array.from(r.bytes(4)).join('.') };
      break;
    case RRType.AAAA:
      if (rdlen !== 16) throw new DnsError('DNS_ERR_BAD_RDATA', `AAAA of ${rdlen} octets`);
      data = { kind: 'AAAA', address: bytesToIpv6(r.bytes(16)) };
      break;
    case RRType.CNAME:
    case RRType.NS:
    case RRType.PTR:
      data = { kind: 'NAME', target: r.name() };
      break;
    case RRType.SRV:
      data = { kind: 'SRV', priority: r.u16(), weight: r.u16(), port: r.u16(), target: r.name() };
      break;
    case RRType.SOA:
      data = { kind: 'SOA', soa: { mname: r.name(), rname: r.name(), serial: r.u32(), refresh: r.u32(), retry: r.u32(), expire: r.u32(), minimum: r.u32() } };
      break;
    case RRType.TXT: {
      const texts: string[] = [];
      while (r.off < end) {
        const n = r.u8();
        if (r.off + n > end) throw new DnsError('DNS_ERR_BAD_RDATA', 'TXT string past rdata');
        texts.push(r.bytes(n).toString('latin1'));
      }
      data = { kind: 'TXT', texts };
      break;
    }
    default:
      data = { kind: 'raw', bytes: Uint8Array.from(r.bytes(rdlen)) };
  }
  if (r.off !== end) throw new DnsError('DNS_ERR_BAD_RDATA', `type ${type}: rdata of ${rdlen} octets, read ${r.off - (end - rdlen)}`);
  return data;
}

/** The 12-octet header alone: enough to answer FORMERR to a message that does not decode. */
export interface Header {
  id: number;
  qr: boolean;
  opcode: number;
  rd: boolean;
}

export function decodeHeader(buf: Buffer): Header {
  if (buf.length < 12) throw new DnsError('DNS_ERR_TRUNCATED', `header of ${buf.length} octets`);
  const flags = buf.readUInt16BE(2);
  return { id: buf.readUInt16BE(0), qr: (flags & 0x8000) !== 0, opcode: (flags >> 11) & 0xf, rd: (flags & 0x100) !== 0 };
}

/** Decodes a whole message; throws a DnsError on any malformation (see the module comment). */
export function decodeMessage(buf: Buffer): DnsMessage {
  if (buf.length > MAX_MESSAGE_BYTES) throw new DnsError('DNS_ERR_MESSAGE_TOO_LARGE', `${buf.length} octets`);
  const r = new Reader(buf);
  const h = decodeHeader(buf);
  r.off = 2;
  const flags = r.u16();
  const counts = [r.u16(), r.u16(), r.u16(), r.u16()] as const;
  const m = emptyMessage(h.id);
  Object.assign(m, {
    qr: h.qr, opcode: h.opcode, aa: (flags & 0x400) !== 0, tc: (flags & 0x200) !== 0, rd: h.rd,
    ra: (flags & 0x80) !== 0, ad: (flags & 0x20) !== 0, cd: (flags & 0x10) !== 0, rcode: flags & 0xf,
  });
  for (let i = 0; i < counts[0]; i++) m.questions.push({ name: r.name(), type: r.u16(), class: r.u16() });
  const sections = [m.answers, m.authority, m.additional];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]!; i++) {
      const name = r.name();
      const type = r.u16();
      const klass = r.u16();
      const ttl = r.u32();
      const rdlen = r.u16();
      if (type === RRType.OPT) {
        if (s !== 2 || name !== '' || m.edns) throw new DnsError('DNS_ERR_BAD_OPT', `in section ${s + 1}`);
        r.bytes(rdlen); // options: none interpreted
        m.edns = { udpSize: klass, version: (ttl >>> 16) & 0xff, dnssecOk: (ttl & 0x8000) !== 0 };
        m.rcode |= (ttl >>> 24) << 4;
        continue;
      }
      sections[s]!.push({ name, type, class: klass, ttl, data: readRdata(r, type, rdlen) });
    }
  }
  if (r.off !== buf.length) throw new DnsError('DNS_ERR_TRAILING_BYTES', `${buf.length - r.off} octets`);
  return m;
}
