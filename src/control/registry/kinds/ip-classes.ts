/**
 * The address ranges an endpoint or external IP may not point into
 * (upstream's ValidateNonSpecialIP): an unspecified, loopback or link-local
 * address would send traffic back to whichever node reads it. Callers check
 * that the text is a valid IP first.
 */
import { BlockList, isIPv6 } from 'node:net';
import { type FieldError, type FieldPath, invalid } from '../validation/index.js';

function blockList(ranges: readonly [string, number][]): BlockList {
  const list = new BlockList();
  for (const [net, bits] of ranges) list.addSubnet(net, bits, net.includes(':') ? 'ipv6' : 'ipv4');
  return list;
}

const UNSPECIFIED = blockList([['0.0.0.0', 32], ['::', 128]]);
const LOOPBACK = blockList([['127.0.0.0', 8], ['::1', 128]]);
const LINK_LOCAL = blockList([['169.254.0.0', 16], ['fe80::', 10]]);
/** Go's IsLinkLocalMulticast: 224.0.0.0/24, and ffX2::/16 for every scope flag X. */
const LINK_LOCAL_MULTICAST = blockList([['224.0.0.0', 24], ...Array.from({ length: 16 }, (_, x): [string, number] => [`ff${x.toString(16)}2::`, 16])]);

export function validateNonSpecialIP(ip: string, path: FieldPath): FieldError[] {
  const family = isIPv6(ip) ? 'ipv6' : 'ipv4';
  const errs: FieldError[] = [];
  try {
    if (UNSPECIFIED.check(ip, family)) errs.push(invalid(path, ip, `may not be unspecified (${ip})`));
    if (LOOPBACK.check(ip, family)) errs.push(invalid(path, ip, 'may not be in the loopback range (127.0.0.0/8, ::1/128)'));
    if (LINK_LOCAL.check(ip, family)) errs.push(invalid(path, ip, 'may not be in the link-local range (169.254.0.0/16, fe80::/10)'));
    if (LINK_LOCAL_MULTICAST.check(ip, family)) errs.push(invalid(path, ip, 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'));
  } catch {
    // Not an address Node can read: the caller's IP check has reported it.
  }
  return errs;
}
