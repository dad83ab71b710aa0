/**
 * IP and CIDR validation as upstream does it (pkg/util/validation/ip.go).
 *
 * Upstream parses twice: once with the permissive pre-Go-1.17 parser
 * (netutils.ParseIPSloppy: IPv4 octets may carry leading zeros, IPv6 groups
 * may be longer than four digits) to decide whether the value is an address
 * at all, then with the strict net/netip parser to reject the ambiguous
 * forms. One parser here computes both verdicts in a single pass.
 */
import type { FieldPath } from './field-path.js';
import { type FieldError, invalid } from './field-errors.js';
import { goQuote } from './go-format.js';

const IPV4_BYTES = 4;
const IPV6_BYTES = 16;
const GROUP_MAX = 0xffff;

interface ParsedIP {
  /** Always 16 bytes; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d), as Go's net.IP does. */
  readonly bytes: readonly number[];
  /** The text was IPv6 (so ::ffff:1.2.3.4 is "4-in-6", not plain IPv4). */
  readonly v6Text: boolean;
  /** The strict (net/netip) parser would also accept the text. */
  readonly strict: boolean;
}

const V4_IN_V6_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

function v4Mapped(octets: readonly number[]): number[] {
  return [...V4_IN_V6_PREFIX, ...octets];
}

function hasV4Prefix(bytes: readonly number[]): boolean {
  return V4_IN_V6_PREFIX.every((b, i) => bytes[i] === b);
}

/** Dotted quad; `strict` is false when an octet has a leading zero (octal in libc). */
function parseIPv4(s: string): { octets: number[]; strict: boolean } | null {
  const fields = s.split('.');
  if (fields.length !== IPV4_BYTES) return null;
  let strict = true;
  const octets: number[] = [];
  for (const f of fields) {
    if (!/^[0-9]+$/.test(f)) return null;
    const n = Number.parseInt(f, 10);
    if (n > 0xff) return null;
    if (f.length > 1 && f.startsWith('0')) strict = false;
    octets.push(n);
  }
  return { octets, strict };
}

/** One hex group, or an embedded dotted quad at the tail; null on a syntax error. */
function parseGroups(s: string): { groups: number[]; strict: boolean } | null {
  if (s.length === 0) return { groups: [], strict: true };
  const parts = s.split(':');
  const groups: number[] = [];
  let strict = true;
  for (const [i, part] of parts.entries()) {
    if (part.includes('.') && i === parts.length - 1) {
      const v4 = parseIPv4(part);
      if (v4 === null) return null;
      groups.push((v4.octets[0]! << 8) | v4.octets[1]!, (v4.octets[2]! << 8) | v4.octets[3]!);
      strict &&= v4.strict;
      continue;
    }
    if (!/^[0-9a-fA-F]+$/.test(part)) return null;
    const n = Number.parseInt(part, 16);
    // Any number of leading zeros parses (as Go's old parser did); netip allows four digits.
    if (n > GROUP_MAX) return null;
    if (part.length > 4) strict = false;
    groups.push(n);
  }
  return { groups, strict };
}

function parseIPv6(s: string): ParsedIP | null {
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const head = parseGroups(halves[0]!);
  const tail = halves.length === 2 ? parseGroups(halves[1]!) : { groups: [], strict: true };
  if (head === null || tail === null) return null;
  // A dotted quad may only end the address.
  if (halves.length === 2 && halves[0]!.includes('.')) return null;
  const total = head.groups.length + tail.groups.length;
  const groupsMax = IPV6_BYTES / 2;
  if (halves.length === 1 && total !== groupsMax) return null;
  // "::" must stand for at least one zero group.
  if (halves.length === 2 && total >= groupsMax) return null;
  const zeros = new Array<number>(groupsMax - total).fill(0);
  const groups = [...head.groups, ...zeros, ...tail.groups];
  const bytes = groups.flatMap((g) => [g >> 8, g & 0xff]);
  return { bytes, v6Text: true, strict: head.strict && tail.strict };
}

/** Parse an IP the sloppy way, noting whether the strict parser agrees. Zones are not accepted. */
function parseIP(s: string): ParsedIP | null {
  const sep = /[.:]/.exec(s);
  if (sep === null) return null;
  if (sep[0] === ':') return parseIPv6(s);
  const v4 = parseIPv4(s);
  return v4 === null ? null : { bytes: v4Mapped(v4.octets), v6Text: false, strict: v4.strict };
}

/** Go's net.IP.String(): dotted quad for IPv4 (mapped or not), RFC 5952 for IPv6. */
function formatIP(bytes: readonly number[]): string {
  if (hasV4Prefix(bytes)) return bytes.slice(12).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  const run = longestZeroRun(groups);
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (run.length < 2) return hex(groups);
  return `${hex(groups.slice(0, run.start))}::${hex(groups.slice(run.start + run.length))}`;
}

/** The first longest run of zero groups (RFC 5952 §4.2.3). */
function longestZeroRun(groups: readonly number[]): { start: number; length: number } {
  let best = { start: -1, length: 0 };
  let start = -1;
  for (let i = 0; i <= groups.length; i++) {
    if (i < groups.length && groups[i] === 0) {
      if (start < 0) start = i;
      continue;
    }
    if (start >= 0 && i - start > best.length) best = { start, length: i - start };
    start = -1;
  }
  return best;
}

const IP_FORMAT = 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)';
const CIDR_FORMAT = 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)';

function strictIPErrors(path: FieldPath | null, value: string, ip: ParsedIP): FieldError[] {
  const errs: FieldError[] = [];
  if (!ip.strict) errs.push(invalid(path, value, 'must not have leading 0s'));
  else if (ip.v6Text && hasV4Prefix(ip.bytes)) errs.push(invalid(path, value, 'must not be an IPv4-mapped IPv6 address'));
  return errs;
}

/**
 * An IP in any form the strict parser accepts and in canonical form (so
 * `fe80::abc`, never `FE80:0:0::0abc`). For new fields.
 */
export function isValidIP(path: FieldPath | null, value: string): FieldError[] {
  const ip = parseIP(value);
  if (ip === null) return [invalid(path, value, IP_FORMAT)];
  const errs = strictIPErrors(path, value, ip);
  if (errs.length > 0) return errs;
  const canonical = formatIP(ip.bytes);
  return value === canonical ? [] : [invalid(path, value, `must be in canonical form (${goQuote(canonical)})`)];
}

/**
 * An IP for a field that predates strict validation (pod IPs, cluster IPs):
 * non-canonical forms pass; with `strictValidation` leading zeros and
 * IPv4-mapped IPv6 do not. Values already stored (`validOldIPs`) always pass.
 */
export function isValidIPForLegacyField(path: FieldPath | null, value: string, strictValidation = true, validOldIPs: readonly string[] = []): FieldError[] {
  if (validOldIPs.includes(value)) return [];
  const ip = parseIP(value);
  if (ip === null) return [invalid(path, value, IP_FORMAT)];
  return strictValidation ? strictIPErrors(path, value, ip) : [];
}

interface ParsedCIDR {
  readonly ip: ParsedIP;
  readonly prefixBits: number;
  /** 4 for an IPv4 text address, 16 otherwise (Go's iplen). */
  readonly addrBytes: number;
  readonly strictBits: boolean;
}

function parseCIDR(s: string): ParsedCIDR | null {
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const addr = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  const v4 = parseIPv4(addr);
  const ip = v4 !== null ? { bytes: v4Mapped(v4.octets), v6Text: false, strict: v4.strict } : parseIPv6(addr);
  if (ip === null || !/^[0-9]+$/.test(bits)) return null;
  const addrBytes = v4 !== null ? IPV4_BYTES : IPV6_BYTES;
  const prefixBits = Number.parseInt(bits, 10);
  if (prefixBits > 8 * addrBytes) return null;
  return { ip, prefixBits, addrBytes, strictBits: !(bits.length > 1 && bits.startsWith('0')) };
}

/** The address with every bit past the prefix cleared, on the 16-byte form. */
function maskBytes(c: ParsedCIDR): number[] {
  const bits16 = c.prefixBits + 8 * (IPV6_BYTES - c.addrBytes);
  return c.ip.bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, bits16 - 8 * i));
    return b & ((0xff << (8 - keep)) & 0xff);
  });
}

/** Go's IPNet.String(): an IPv4-mapped network prints as IPv4 with the IPv4 prefix length. */
function formatCIDR(c: ParsedCIDR): string {
  const net = maskBytes(c);
  const bits = hasV4Prefix(net) && c.addrBytes === IPV6_BYTES ? c.prefixBits - 96 : c.prefixBits;
  return `${formatIP(net)}/${bits}`;
}

function strictCIDRErrors(path: FieldPath | null, value: string, c: ParsedCIDR): FieldError[] {
  if (!c.ip.strict || !c.strictBits) return [invalid(path, value, 'must not have leading 0s in IP or prefix length')];
  if (c.ip.v6Text && hasV4Prefix(c.ip.bytes)) return [invalid(path, value, 'must not have an IPv4-mapped IPv6 address')];
  const masked = maskBytes(c);
  if (masked.some((b, i) => b !== c.ip.bytes[i])) return [invalid(path, value, 'must not have bits set beyond the prefix length')];
  return [];
}

/** A subnet (`10.0.0.0/8`, no host bits set) in canonical form. For new fields. */
export function isValidCIDR(path: FieldPath | null, value: string): FieldError[] {
  const c = parseCIDR(value);
  if (c === null) return [invalid(path, value, CIDR_FORMAT)];
  const errs = strictCIDRErrors(path, value, c);
  if (errs.length > 0) return errs;
  const canonical = formatCIDR(c);
  return value === canonical ? [] : [invalid(path, value, `must be in canonical form (${goQuote(canonical)})`)];
}

/** A CIDR for a field that predates strict validation (see isValidIPForLegacyField). */
export function isValidCIDRForLegacyField(path: FieldPath | null, value: string, strictValidation = true, validOldCIDRs: readonly string[] = []): FieldError[] {
  if (validOldCIDRs.includes(value)) return [];
  const c = parseCIDR(value);
  if (c === null) return [invalid(path, value, CIDR_FORMAT)];
  return strictValidation ? strictCIDRErrors(path, value, c) : [];
}
