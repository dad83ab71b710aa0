/**
 * Validation and encoding of the names a certificate carries: subject
 * attributes, DNS names and IP addresses for subjectAltName. A caller's bad
 * input is a PkiError; nothing here touches I/O.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { PkiError } from './errors.js';

/** ub-common-name and ub-organization-name (RFC 5280 appendix A.1). */
export const MAX_COMMON_NAME_CHARS = 64;
export const MAX_ORGANIZATION_CHARS = 64;
/** A DNS name is at most 253 characters of labels of at most 63 (RFC 1035 2.3.4). */
const MAX_DNS_NAME_CHARS = 253;
const DNS_LABEL = /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$/;
/** C0 and C1 controls and DEL: no certificate or YAML consumer wants them. */
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /\p{Cs}/u;

/** A subject attribute value: non-empty, printable, within its upper bound. */
export function checkAttribute(value: string, what: string, maxChars: number): string {
  if (typeof value !== 'string' || value.length === 0) throw new PkiError('PKI_ERR_EMPTY_NAME', what);
  if (CONTROL_CHARS.test(value) || LONE_SURROGATE.test(value)) throw new PkiError('PKI_ERR_INVALID_NAME', `${what} ${JSON.stringify(value)}`);
  if ([...value].length > maxChars) throw new PkiError('PKI_ERR_NAME_TOO_LONG', `${what} has more than ${maxChars} characters`);
  return value;
}

/**
 * A dNSName (RFC 5280 4.2.1.6: IA5String in preferred name syntax). One
 * leading "*." wildcard label is allowed; underscores are tolerated because
 * real service names use them and verifiers accept them.
 */
export function checkDnsName(name: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_DNS_NAME_CHARS) {
    throw new PkiError('PKI_ERR_INVALID_DNS_NAME', JSON.stringify(name));
  }
  const labels = name.split('.');
  const rest = labels[0] === '*' && labels.length > 1 ? labels.slice(1) : labels;
  if (!rest.every((l) => DNS_LABEL.test(l))) throw new PkiError('PKI_ERR_INVALID_DNS_NAME', JSON.stringify(name));
  return name;
}

/**
 * The octets of an iPAddress GeneralName: 4 for IPv4, 16 for IPv6 in network
 * order (RFC 5280 4.2.1.6). Zone ids ("%eth0") have no place in a
 * certificate and are refused.
 */
export function ipAddressBytes(address: string): Buffer {
  if (typeof address === 'string' && isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  if (typeof address === 'string' && isIPv6(address) && !address.includes('%')) return ipv6Bytes(address);
  throw new PkiError('PKI_ERR_INVALID_IP', JSON.stringify(address));
}

/** Expands "::" and a trailing dotted IPv4 part; the syntax is already checked by isIPv6. */
function ipv6Bytes(address: string): Buffer {
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const groups = (part: string | undefined): number[] => {
    if (!part) return [];
    return part.split(':').flatMap((g) => {
      if (!g.includes('.')) return [parseInt(g, 16)];
      const [a, b, c, d] = g.split('.').map(Number) as [number, number, number, number];
      return [(a << 8) | b, (c << 8) | d];
    });
  };
  const front = groups(head);
  const back = groups(tail);
  const zeros = tail === undefined ? 0 : 8 - front.length - back.length;
  const all = [...front, ...new Array<number>(zeros).fill(0), ...back];
  if (all.length !== 8 || all.some((g) => !(g >= 0 && g <= 0xffff))) throw new PkiError('PKI_ERR_INVALID_IP', JSON.stringify(address));
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/** Removes repeats while keeping the caller's order. */
export function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}
