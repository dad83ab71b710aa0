import { spawnSync } from 'node:child_process';
import test from 'ava';

const skiff = (...args: string[]) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8', timeout: 120_000 });
  const lines = r.stdout.trim().split('\n');
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, last: lines[lines.length - 1] ?? '' };
};

test('skiff sim: the last line is a JSON summary; no violation exits 0', (t) => {
  const r = skiff('sim', '--seeds', '3', '--nodes', '5');
  t.is(r.code, 0, r.stderr);
  const s = JSON.parse(r.last) as Record<string, number>;
  t.is(s.seeds, 3);
  t.is(s.violations, 0);
  for (const k of ['steps', 'ops', 'elapsed_ms']) t.true(typeof s[k] === 'number' && s[k]! > 0, k);
});

test('skiff sim: a violation prints the seed, the invariant, a trace and the replay command, and exits 1', (t) => {
  const r = skiff('sim', '--seeds', '20', '--bug', 'vote-ignores-log');
  t.is(r.code, 1);
  t.regex(r.stderr, /VIOLATION seed=\d+ invariant=[a-z-]+/);
  t.regex(r.stderr, /last \d+ events:/);
  t.regex(r.stderr, /replay: npm run sim -- --seed \d+ --nodes 3 --bug vote-ignores-log/);
  const s = JSON.parse(r.last) as { violations: number; first_violation: { seed: number } };
  t.is(s.violations, 1);
  // --seed S replays exactly that seed, with the same outcome.
  const again = skiff('sim', '--seed', String(s.first_violation.seed), '--bug', 'vote-ignores-log');
  t.is(again.code, 1);
  t.deepEqual(JSON.parse(again.last).first_violation, s.first_violation);
});

test('skiff: usage errors exit 2 with a message', (t) => {
  for (const args of [['sim', '--nodes', '4'], ['sim', '--bug', 'nope'], ['sim', '--seeds', 'x'], ['sim', '--frobnicate'], ['nonsense']]) {
    const r = skiff(...args);
    t.is(r.code, 2, args.join(' '));
    t.true(r.stderr.length > 0);
  }
  t.is(skiff('version').code, 0);
});

test('skiff master: the Kubernetes API flags are parsed and checked', async (t) => {
  const { parseMasterArgs, parseDurationSeconds } = await import('../src/cli/master.js');
  const base = ['--name', 'm1', '--initial-cluster', 'm1=http://127.0.0.1:2380'];
  t.is(parseMasterArgs(base).api, null);
  const api = parseMasterArgs([...base, '--listen-api-url', 'https://127.0.0.1:6443', '--pki-dir', '/tmp/pki', '--event-ttl', '30m']).api!;
  t.like(api, { listen: '127.0.0.1:6443', insecureHttp: false, pkiDir: '/tmp/pki', eventTtlSeconds: 1800, nodeMonitorGraceSeconds: 40 });
  t.is(parseMasterArgs([...base, '--listen-api-url', 'https://127.0.0.1:6443', '--pki-dir', '/tmp/pki', '--node-monitor-grace-period', '10s']).api!.nodeMonitorGraceSeconds, 10);
  t.throws(() => parseMasterArgs([...base, '--listen-api-url', 'https://127.0.0.1:6443', '--pki-dir', '/tmp/pki', '--node-monitor-grace-period', 'soon']), { message: /node-monitor-grace-period/ });
  t.throws(() => parseMasterArgs([...base, '--listen-api-url', 'http://127.0.0.1:6443']), { message: /needs --insecure-http/ });
  t.throws(() => parseMasterArgs([...base, '--listen-api-url', 'https://127.0.0.1:6443']), { message: /needs --pki-dir or --tls-cert-file/ });
  t.throws(() => parseMasterArgs([...base, '--pki-dir', '/x']), { message: /needs --listen-api-url/ });
  t.is(parseDurationSeconds('event-ttl', '1h30m15s'), 5415);
  t.throws(() => parseDurationSeconds('event-ttl', '0s'));
  t.throws(() => parseDurationSeconds('event-ttl', '1d'));
});
