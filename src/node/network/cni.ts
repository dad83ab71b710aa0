/**
 * The node's CNI network configuration (a .conflist read by containerd's CRI
 * plugin): a Linux bridge with the node as gateway, host-local IPAM over the
 * node's pod CIDR (its own data dir, so that several simulated hosts on one
 * machine never share allocations), portmap for hostPort, and loopback —
 * the chain RECIPES.md found to work with containernetworking-plugins 1.1.1.
 * Pure generation plus one atomic write.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';

export const CNI_ERRORS = {
  CNI_ERR_BAD_CIDR: 'invalid IPv4 CIDR',
  CNI_ERR_BAD_BRIDGE_NAME: 'invalid bridge name',
  CNI_ERR_BAD_PATH: 'invalid path',
  CNI_ERR_BAD_NAME: 'invalid network name',
  CNI_ERR_BAD_MTU: 'invalid MTU',
} as const;

export type CniErrorCode = keyof typeof CNI_ERRORS;

export class CniError extends Error {
  override readonly name = 'CniError';

  constructor(
    readonly code: CniErrorCode,
    readonly detail = '',
  ) {
    super(detail ? `${CNI_ERRORS[code]}: ${detail}` : CNI_ERRORS[code]);
  }
}

/** The CNI spec version written; the 1.1.1 plugins and containerd 1.6's libcni both speak it. */
export const CNI_VERSION = '1.0.0';
export const DEFAULT_NETWORK_NAME = 'skiff';
export const DEFAULT_BRIDGE_NAME = 'cni0';
/** File name in the conf dir; with containerd's max_conf_num = 1 the first name in sort order wins. */
export const CONFLIST_FILE = '10-skiff.conflist';
/** Linux IFNAMSIZ - 1. */
const IFNAME_BYTES_MAX = 15;

export interface CniConfigOptions {
  /** The node's pod CIDR, e.g. 10.244.1.0/24 (node.spec.podCIDR). */
  podCidr: string;
  bridge?: string;
  /** host-local's allocation state; must be private to this node. */
  dataDir: string;
  networkName?: string;
  /**
   * The bridge plugin's masquerade of pod traffic leaving the pod CIDR. true as
   * in RECIPES.md; a node that routes pod CIDRs between hosts without NAT
   * (host-gw) sets it false and masquerades only traffic leaving the cluster
   * CIDR itself.
   */
  ipMasq?: boolean;
  mtu?: number;
}

export interface ParsedCidr {
  /** The network address (host bits cleared). */
  network: string;
  prefix: number;
  /** The first usable address, which the bridge takes as the pods' gateway. */
  gateway: string;
}

function ipToInt(ip: string): number | null {
  const parts = ip.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    n = n * 256 + v;
  }
  return n;
}

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Parses an IPv4 CIDR; host bits must be zero and the range must leave room for a gateway and pods (prefix ≤ 30). */
export function parseCidr(cidr: string): ParsedCidr {
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(typeof cidr === 'string' ? cidr.trim() : '');
  const ip = m ? ipToInt(m[1] as string) : null;
  const prefix = m ? Number(m[2]) : NaN;
  if (ip === null || !(prefix >= 0 && prefix <= 30)) throw new CniError('CNI_ERR_BAD_CIDR', `${cidr} (want a.b.c.d/n with n ≤ 30)`);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  if ((ip & ~mask) >>> 0 !== 0) throw new CniError('CNI_ERR_BAD_CIDR', `${cidr} has host bits set (network is ${intToIp((ip & mask) >>> 0)}/${prefix})`);
  return { network: intToIp(ip), prefix, gateway: intToIp(ip + 1) };
}

function checkOptions(o: CniConfigOptions): Required<CniConfigOptions> {
  parseCidr(o.podCidr);
  const bridge = o.bridge ?? DEFAULT_BRIDGE_NAME;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(bridge) || bridge.length > IFNAME_BYTES_MAX) {
    throw new CniError('CNI_ERR_BAD_BRIDGE_NAME', `${bridge} (1..${IFNAME_BYTES_MAX} of [A-Za-z0-9_.-])`);
  }
  if (typeof o.dataDir !== 'string' || !isAbsolute(o.dataDir)) throw new CniError('CNI_ERR_BAD_PATH', `dataDir ${o.dataDir} must be absolute`);
  const networkName = o.networkName ?? DEFAULT_NETWORK_NAME;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(networkName)) throw new CniError('CNI_ERR_BAD_NAME', networkName);
  const mtu = o.mtu ?? 0;
  if (!Number.isInteger(mtu) || (mtu !== 0 && (mtu < 576 || mtu > 65535))) throw new CniError('CNI_ERR_BAD_MTU', String(mtu));
  return { podCidr: o.podCidr.trim(), bridge, dataDir: o.dataDir, networkName, ipMasq: o.ipMasq ?? true, mtu };
}

/** The conflist object (serialise with JSON.stringify). */
export function cniConflist(options: CniConfigOptions): Record<string, unknown> {
  const o = checkOptions(options);
  const bridge: Record<string, unknown> = {
    type: 'bridge',
    bridge: o.bridge,
    isGateway: true,
    ipMasq: o.ipMasq,
    hairpinMode: true,
    ipam: {
      type: 'host-local',
      ranges: [[{ subnet: o.podCidr }]],
      routes: [{ dst: '0.0.0.0/0' }],
      dataDir: o.dataDir,
    },
  };
  if (o.mtu) bridge['mtu'] = o.mtu;
  return {
    cniVersion: CNI_VERSION,
    name: o.networkName,
    plugins: [bridge, { type: 'portmap', capabilities: { portMappings: true }, snat: true }, { type: 'loopback' }],
  };
}

/**
 * Writes the conflist into `confDir` (created if needed) atomically (a reader
 * never sees half a file: containerd watches the dir) and returns its path.
 */
export async function writeCniConfig(confDir: string, options: CniConfigOptions): Promise<string> {
  if (typeof confDir !== 'string' || !isAbsolute(confDir)) throw new CniError('CNI_ERR_BAD_PATH', `confDir ${confDir} must be absolute`);
  const body = `${JSON.stringify(cniConflist(options), null, 2)}\n`;
  await mkdir(confDir, { recursive: true });
  const path = join(confDir, CONFLIST_FILE);
  const tmp = join(confDir, `.${CONFLIST_FILE}.${process.pid}.tmp`);
  await writeFile(tmp, body, { mode: 0o644 });
  await rename(tmp, path);
  return path;
}
