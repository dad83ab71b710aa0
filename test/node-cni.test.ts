/** The node's CNI conflist: its shape (RECIPES.md's working chain), input checks, the atomic write. Pure. */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { CONFLIST_FILE, CniError, cniConflist, parseCidr, writeCniConfig } from '../src/node/network/index.js';

test('the conflist chains bridge (gateway, masquerade, hairpin) with host-local on the pod CIDR, portmap, loopback', (t) => {
  const c = cniConflist({ podCidr: '10.244.3.0/24', bridge: 'skiff0', dataDir: '/var/lib/skiff/cni' }) as {
    cniVersion: string;
    name: string;
    plugins: Record<string, unknown>[];
  };
  t.is(c.name, 'skiff');
  t.is(c.cniVersion, '1.0.0');
  t.deepEqual(
    c.plugins.map((p) => p['type']),
    ['bridge', 'portmap', 'loopback'],
  );
  t.like(c.plugins[0], { bridge: 'skiff0', isGateway: true, ipMasq: true, hairpinMode: true });
  t.deepEqual(c.plugins[0]!['ipam'], {
    type: 'host-local',
    ranges: [[{ subnet: '10.244.3.0/24' }]],
    routes: [{ dst: '0.0.0.0/0' }],
    dataDir: '/var/lib/skiff/cni',
  });
  t.deepEqual(c.plugins[1]!['capabilities'], { portMappings: true });
  const noMasq = cniConflist({ podCidr: '10.244.3.0/24', dataDir: '/d', ipMasq: false, mtu: 1450 }) as { plugins: Record<string, unknown>[] };
  t.like(noMasq.plugins[0], { bridge: 'cni0', ipMasq: false, mtu: 1450 });
});

test('parseCidr: network, prefix, gateway; bad CIDRs are typed errors', (t) => {
  t.deepEqual(parseCidr('10.244.1.0/24'), { network: '10.244.1.0', prefix: 24, gateway: '10.244.1.1' });
  t.deepEqual(parseCidr('192.168.0.0/16'), { network: '192.168.0.0', prefix: 16, gateway: '192.168.0.1' });
  for (const bad of ['10.244.1.5/24', '10.244.1.0', '10.244.1.0/31', '10.244.1.0/33', '256.0.0.0/8', '10.244.01.0/24', 'fd00::/64', '', '10.244.1.0/24 x']) {
    const e = t.throws(() => parseCidr(bad));
    t.true(e instanceof CniError && e.code === 'CNI_ERR_BAD_CIDR', bad);
  }
});

test('other bad inputs are typed errors', (t) => {
  const cases: [Parameters<typeof cniConflist>[0], string][] = [
    [{ podCidr: '10.244.1.0/24', dataDir: 'relative' }, 'CNI_ERR_BAD_PATH'],
    [{ podCidr: '10.244.1.0/24', dataDir: '/d', bridge: 'a-very-long-bridge-name' }, 'CNI_ERR_BAD_BRIDGE_NAME'],
    [{ podCidr: '10.244.1.0/24', dataDir: '/d', bridge: 'br 0' }, 'CNI_ERR_BAD_BRIDGE_NAME'],
    [{ podCidr: '10.244.1.0/24', dataDir: '/d', networkName: 'a/b' }, 'CNI_ERR_BAD_NAME'],
    [{ podCidr: '10.244.1.0/24', dataDir: '/d', mtu: 100 }, 'CNI_ERR_BAD_MTU'],
  ];
  for (const [opts, code] of cases) {
    const e = t.throws(() => cniConflist(opts));
    t.true(e instanceof CniError && e.code === code, code);
  }
});

test('writeCniConfig writes one parseable conflist and no temp file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'skiff-cni-test-'));
  try {
    const conf = join(dir, 'net.d');
    const path = await writeCniConfig(conf, { podCidr: '10.244.9.0/24', dataDir: join(dir, 'ipam') });
    t.is(path, join(conf, CONFLIST_FILE));
    t.deepEqual(await readdir(conf), [CONFLIST_FILE]);
    t.is(JSON.parse(await readFile(path, 'utf8')).plugins[0].ipam.ranges[0][0].subnet, '10.244.9.0/24');
    await writeCniConfig(conf, { podCidr: '10.244.10.0/24', dataDir: join(dir, 'ipam') });
    t.is(JSON.parse(await readFile(path, 'utf8')).plugins[0].ipam.ranges[0][0].subnet, '10.244.10.0/24');
    await t.throwsAsync(() => writeCniConfig('net.d', { podCidr: '10.244.9.0/24', dataDir: '/d' }), { instanceOf: CniError });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
