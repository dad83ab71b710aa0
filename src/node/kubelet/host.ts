/**
 * What the kubelet reports of its host: capacity (CPUs, memory, pods,
 * ephemeral storage), the figures behind the pressure conditions, and the
 * node info (machine and boot ids, kernel, OS image). Read from /proc, /etc
 * and statfs; every read is bounded and a missing file yields a fallback,
 * never a crash (containers and VMs lack some of them).
 */
import { readFileSync, statfsSync } from 'node:fs';
import os from 'node:os';

export interface HostSample {
  /** Bytes the kernel says are available (MemAvailable). */
  memoryAvailableBytes: number;
  memoryTotalBytes: number;
  /** Of the filesystem holding the kubelet's root dir. */
  diskAvailableBytes: number;
  diskTotalBytes: number;
  /** Processes (threads) running now, and the kernel's limit. */
  pids: number;
  pidMax: number;
}

export interface HostInfo {
  cpus: number;
  memoryBytes: number;
  machineID: string;
  systemUUID: string;
  bootID: string;
  kernelVersion: string;
  osImage: string;
  architecture: string;
}

/** Reads a small file, or '' when it is missing or unreadable. */
function readSmall(path: string): string {
  try {
    return readFileSync(path, 'utf8').slice(0, 64 << 10);
  } catch {
    return '';
  }
}

function goArch(arch: string): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[arch] ?? arch;
}

export function hostInfo(): HostInfo {
  const osRelease = readSmall('/etc/os-release');
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1] ?? `${os.type()} ${os.release()}`;
  const machineID = readSmall('/etc/machine-id').trim() || readSmall('/var/lib/dbus/machine-id').trim();
  return {
    cpus: typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length,
    memoryBytes: os.totalmem(),
    machineID,
    systemUUID: readSmall('/sys/class/dmi/id/product_uuid').trim() || machineID,
    bootID: readSmall('/proc/sys/kernel/random/boot_id').trim(),
    kernelVersion: os.release(),
    osImage: pretty,
    architecture: goArch(os.arch()),
  };
}

/** One sample of the figures the pressure conditions are computed from. */
export function sampleHost(rootDir: string): HostSample {
  const meminfo = readSmall('/proc/meminfo');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(meminfo)?.[1] ?? NaN) * 1024;
  const total = kib('MemTotal');
  const available = kib('MemAvailable');
  let diskAvailable = 0;
  let diskTotal = 0;
  try {
    const s = statfsSync(rootDir);
    diskAvailable = s.bavail * s.bsize;
    diskTotal = s.blocks * s.bsize;
  } catch {
    /* no such dir yet: reported as unknown (0/0), which is not pressure */
  }
  const loadavg = readSmall('/proc/loadavg').split(' ')[3] ?? '';
  const pids = Number(loadavg.split('/')[1] ?? NaN);
  const pidMax = Number(readSmall('/proc/sys/kernel/pid_max').trim());
  return {
    memoryTotalBytes: Number.isFinite(total) ? total : os.totalmem(),
    memoryAvailableBytes: Number.isFinite(available) ? available : os.freemem(),
    diskAvailableBytes: diskAvailable,
    diskTotalBytes: diskTotal,
    pids: Number.isFinite(pids) ? pids : 0,
    pidMax: Number.isFinite(pidMax) && pidMax > 0 ? pidMax : 32768,
  };
}

/** The kubelet's default hard eviction thresholds, which also set the pressure conditions. */
export const EVICTION_HARD = {
  memoryAvailableBytes: 100 << 20,
  diskAvailableFraction: 0.1,
  pidAvailableFraction: 0.1,
} as const;

export interface Pressure {
  memory: boolean;
  disk: boolean;
  pid: boolean;
}

export function pressureOf(s: HostSample): Pressure {
  return {
    memory: s.memoryAvailableBytes < EVICTION_HARD.memoryAvailableBytes,
    disk: s.diskTotalBytes > 0 && s.diskAvailableBytes / s.diskTotalBytes < EVICTION_HARD.diskAvailableFraction,
    pid: s.pidMax > 0 && (s.pidMax - s.pids) / s.pidMax < EVICTION_HARD.pidAvailableFraction,
  };
}

/** A byte count as the API writes memory quantities: whole Ki. */
export function kibQuantity(bytes: number): string {
  return `${Math.floor(Math.max(0, bytes) / 1024)}Ki`;
}
