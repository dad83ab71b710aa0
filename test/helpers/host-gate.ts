/**
 * The gate for tests that need the host itself: root, and real binaries
 * (containerd, runc, iptables, CNI plugins, busybox-static, ...). The rule is
 * the project's (see e2e-etcdctl.ts): present → the tests run; missing with
 * CI=true → a failing test says what is missing (CI installs it, so its
 * absence is a CI bug); missing elsewhere → every test is registered as
 * skipped and the reason is printed at load time.
 */
import { join } from 'node:path';
import { CNI_BIN_DIR } from '../../src/node/containerd/index.js';
import { onPath, readable } from '../../src/node/prerequisites.js';
import type { ImplementationFn, TestFn } from 'ava';


/** What a host test may need; each entry names a binary or a file, and the Debian package that provides it. */
export const HOST_NEEDS = {
  root: { check: () => (process.getuid?.() === 0 ? null : 'not running as root'), pkg: '' },
  containerd: { bin: 'containerd', pkg: 'containerd' },
  ctr: { bin: 'ctr', pkg: 'containerd' },
  runc: { bin: 'runc', pkg: 'runc' },
  iptables: { bin: 'iptables', pkg: 'iptables' },
  'iptables-restore': { bin: 'iptables-restore', pkg: 'iptables' },
  'iptables-save': { bin: 'iptables-save', pkg: 'iptables' },
  conntrack: { bin: 'conntrack', pkg: 'conntrack' },
  // A file, not a PATH lookup: under npx the PATH starts with node_modules/.bin, whose `nft` is @vercel/nft.
  nft: { file: '/usr/sbin/nft', pkg: 'nftables' },
  ip: { bin: 'ip', pkg: 'iproute2' },
  cni: { file: join(CNI_BIN_DIR, 'bridge'), pkg: 'containernetworking-plugins' },
  busybox: { file: '/bin/busybox', pkg: 'busybox-static' },
} as const;

export type HostNeed = keyof typeof HOST_NEEDS;

/** Why the host lacks what `needs` names, or null when it has everything. */
export function hostMissingReason(needs: readonly HostNeed[]): string | null {
  const missing: string[] = [];
  const pkgs = new Set<string>();
  for (const n of needs) {
    const need = HOST_NEEDS[n] as { check?: () => string | null; bin?: string; file?: string; pkg: string };
    let why: string | null = null;
    if (need.check) why = need.check();
    else if (need.bin && !onPath(need.bin)) why = `${need.bin} not found`;
    else if (need.file && !readable(need.file)) why = `${need.file} not found`;
    if (why) {
      missing.push(why);
      if (need.pkg) pkgs.add(need.pkg);
    }
  }
  if (missing.length === 0) return null;
  return `${missing.join('; ')}${pkgs.size ? ` (apt-get install ${[...pkgs].join(' ')})` : ''}`;
}

export type HostRegister = (title: string, impl: ImplementationFn<[], unknown>) => void;

/** Registers tests that need the host: run, fail in CI when something is missing, or skip with a printed reason. */
export function hostGate(test: TestFn, file: string, needs: readonly HostNeed[]): { test: HostRegister; serial: HostRegister; enabled: boolean } {
  const reason = hostMissingReason(needs);
  if (reason === null) return { test: (t, f) => test(t, f), serial: (t, f) => test.serial(t, f), enabled: true };
  if (process.env.CI === 'true') {
    test.serial('prerequisite: the host has what these tests need (required in CI)', (t) => {
      t.fail(`${reason} — CI must provide it (.ci/run installs the Debian packages and runs as root)`);
    });
    return { test: (t, f) => test(t, f), serial: (t, f) => test.serial(t, f), enabled: true };
  }
  console.log(`SKIP ${file}: ${reason} (with CI=true these tests fail instead)`);
  return { test: (t, f) => test.skip(t, f), serial: (t, f) => test.serial.skip(t, f), enabled: false };
}
