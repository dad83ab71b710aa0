/**
 * What a host needs to run a skiff node, checked before starting one: root,
 * containerd (with ctr), runc, the CNI plugins, iptables, iproute2, and
 * busybox-static (the local images `skiff up` builds). Each missing piece is
 * named with the Debian package that provides it.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { CNI_BIN_DIR } from './containerd/index.js';

/** Where the CNI plugins may be (Debian's package, then the upstream default). */
export const CNI_BIN_DIRS = [CNI_BIN_DIR, '/opt/cni/bin'];

interface Need {
  what: string;
  pkg: string;
  ok: () => boolean;
}

/** Whether `bin` is an executable on PATH (or in the sbin dirs root's PATH may lack). */
export function onPath(bin: string): boolean {
  const dirs = (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin']);
  return dirs.some((d) => {
    try {
      accessSync(join(d, bin), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export function readable(p: string): boolean {
  try {
    accessSync(p, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

const NEEDS: Need[] = [
  { what: 'root (the node daemon sets up networks, mounts and iptables)', pkg: '', ok: () => process.getuid?.() === 0 },
  { what: 'containerd', pkg: 'containerd', ok: () => onPath('containerd') && onPath('ctr') },
  { what: 'runc', pkg: 'runc', ok: () => onPath('runc') },
  { what: 'the CNI plugins (bridge, host-local, portmap, loopback)', pkg: 'containernetworking-plugins', ok: () => CNI_BIN_DIRS.some((d) => readable(join(d, 'bridge'))) },
  { what: 'iptables', pkg: 'iptables', ok: () => onPath('iptables') && onPath('iptables-restore') },
  { what: 'conntrack', pkg: 'conntrack', ok: () => onPath('conntrack') },
  { what: 'ip (iproute2)', pkg: 'iproute2', ok: () => onPath('ip') },
  { what: 'busybox-static (the local images are built from it)', pkg: 'busybox-static', ok: () => readable('/bin/busybox') },
];

/** What is missing, and the apt command that installs it; empty when the host has everything. */
export function nodePrerequisites(): { missing: string[]; install: string } {
  const missing = NEEDS.filter((n) => !n.ok());
  const pkgs = [...new Set(missing.map((n) => n.pkg).filter(Boolean))];
  return { missing: missing.map((n) => n.what), install: pkgs.length ? `apt-get install ${pkgs.join(' ')}` : '' };
}

/** The first CNI plugin dir that has the bridge plugin. */
export function cniBinDir(): string {
  return CNI_BIN_DIRS.find((d) => readable(join(d, 'bridge'))) ?? CNI_BIN_DIRS[0]!;
}
