/**
 * The CRI client without a runtime: wire → public conversion (timestamps,
 * 64-bit integers, absent wrappers), the checks that refuse a request before
 * it leaves, and the typed errors of a missing socket, a peer that never
 * answers (deadline), an aborted call and a closed client. The runtime
 * itself is exercised in node-cri.test.ts.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { CriClient, CriError, criErrorFromGrpc, isCriError, type CriErrorCode } from '../src/node/cri/index.js';
import { checkContainerConfig, checkSandboxConfig, toContainerStats, toContainerStatus, toImage, toPodSandboxStatus } from '../src/node/cri/convert.js';

const SANDBOX = { metadata: { name: 'p', uid: 'u', namespace: 'default', attempt: 0 } };

test('wire → types: ns timestamps become exact ms, int64 strings numbers, absent wrappers null', (t) => {
  const s = toContainerStatus(
    {
      id: 'c1',
      metadata: { name: 'web', attempt: 2 },
      state: 'CONTAINER_EXITED',
      createdAt: '1795407976382123456',
      startedAt: '1795407976482999999',
      finishedAt: '0',
      exitCode: 137,
      image: { image: 'skiff.local/busybox:1.35' },
      imageRef: 'sha256:abc',
      reason: 'OOMKilled',
      message: '',
      labels: { a: 'b' },
      annotations: {},
      mounts: [{ containerPath: '/data', hostPath: '/h', readonly: true, propagation: 'PROPAGATION_PRIVATE' }],
      logPath: '/logs/web/2.log',
    },
    {},
  );
  t.is(s.createdAtMs, 1795407976382);
  t.is(s.startedAtMs, 1795407976482);
  t.is(s.finishedAtMs, 0);
  t.is(s.exitCode, 137);
  t.is(s.image, 'skiff.local/busybox:1.35');
  t.deepEqual(s.metadata, { name: 'web', attempt: 2 });
  t.is(s.mounts[0]!.readonly, true);

  const st = toContainerStats({
    attributes: { id: 'c1', metadata: { name: 'web', attempt: 0 }, labels: {}, annotations: {} },
    cpu: { timestamp: '1795407976382000000', usageCoreNanoSeconds: { value: '123456789012' }, usageNanoCores: null },
    memory: { timestamp: '1795407976382000000', workingSetBytes: { value: '4096' }, usageBytes: { value: '8192' } },
    writableLayer: null,
  });
  t.is(st.cpu!.usageCoreNanoSeconds, 123456789012);
  t.is(st.cpu!.usageNanoCores, null);
  t.is(st.memory!.workingSetBytes, 4096);
  t.is(st.memory!.rssBytes, null);
  t.is(st.writableLayer, null);

  const p = toPodSandboxStatus(
    { id: 'p1', metadata: { name: 'p', uid: 'u', namespace: 'ns', attempt: 1 }, state: 'SANDBOX_READY', createdAt: '1000000', network: { ip: '10.244.1.5', additionalIps: [{ ip: 'fd00::5' }] }, linux: null },
    { k: 'v' },
  );
  t.is(p.ip, '10.244.1.5');
  t.deepEqual(p.additionalIps, ['fd00::5']);
  t.is(p.namespaceOptions, null);
  t.is(p.createdAtMs, 1);
  t.deepEqual(p.info, { k: 'v' });

  const img = toImage({ id: 'sha256:x', repoTags: ['a:1'], repoDigests: [], size: '2012378', uid: { value: '0' }, username: '' });
  t.is(img.sizeBytes, 2012378);
  t.is(img.uid, 0);
});

test('requests are checked before they leave', (t) => {
  const bad: [() => void, RegExp][] = [
    [() => checkSandboxConfig({ metadata: { name: '', uid: 'u', namespace: 'n', attempt: 0 } }), /name/],
    [() => checkSandboxConfig({ ...SANDBOX, logDirectory: 'relative' }), /logDirectory/],
    [() => checkSandboxConfig({ ...SANDBOX, portMappings: [{ containerPort: 0 }] }), /containerPort/],
    [() => checkSandboxConfig({ ...SANDBOX, portMappings: [{ containerPort: 80, hostPort: 70000 }] }), /hostPort/],
    [() => checkContainerConfig({ metadata: { name: 'c', attempt: 0 }, image: '' }), /image/],
    [() => checkContainerConfig({ metadata: { name: 'c', attempt: 0 }, image: 'i', logPath: '/abs.log' }), /logPath/],
    [() => checkContainerConfig({ metadata: { name: 'c', attempt: 0 }, image: 'i', linux: { resources: { oomScoreAdj: -1 } } }), /oomScoreAdj/],
    [() => checkContainerConfig({ metadata: { name: 'c', attempt: 0 }, image: 'i', linux: { resources: { oomScoreAdj: 1001 } } }), /oomScoreAdj/],
    [() => checkContainerConfig({ metadata: { name: 'c', attempt: 0 }, image: 'i', linux: { resources: { memoryLimitInBytes: 1.5 } } }), /memoryLimit/],
    [() => checkContainerConfig({ metadata: { name: 'c', attempt: 0 }, image: 'i', mounts: [{ containerPath: 'rel', hostPath: '/h' }] }), /mount/],
    [() => checkContainerConfig({ metadata: { name: 'c', attempt: 0 }, image: 'i', envs: [{ key: '', value: 'x' }] }), /environment/],
  ];
  for (const [f, re] of bad) {
    const e = t.throws(f);
    t.true(e instanceof CriError && e.code === 'CRI_ERR_BAD_REQUEST', String(e));
    t.regex(e!.message, re);
  }
  t.notThrows(() => checkContainerConfig({ metadata: { name: 'c', attempt: 0 }, image: 'i', linux: { resources: { oomScoreAdj: 0, cpuShares: 2 } } }));
});

test('gRPC statuses map to stable codes and keep the status', (t) => {
  const cases: [number, CriErrorCode][] = [
    [14, 'CRI_ERR_UNAVAILABLE'],
    [4, 'CRI_ERR_DEADLINE'],
    [5, 'CRI_ERR_NOT_FOUND'],
    [3, 'CRI_ERR_INVALID_ARGUMENT'],
    [12, 'CRI_ERR_UNIMPLEMENTED'],
    [8, 'CRI_ERR_RESOURCE_EXHAUSTED'],
    [2, 'CRI_ERR_RUNTIME'],
    [13, 'CRI_ERR_RUNTIME'],
  ];
  for (const [code, want] of cases) {
    const e = criErrorFromGrpc('StartContainer', { code, details: 'why' });
    t.is(e.code, want);
    t.is(e.grpcCode, code);
    t.is(e.grpcDetails, 'why');
    t.true(isCriError(e, want));
  }
});

test('a missing socket is CRI_ERR_UNAVAILABLE; a silent peer is CRI_ERR_DEADLINE; abort and close are typed', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'skiff-cri-test-'));
  const conns: Socket[] = [];
  let server: Server | null = null;
  try {
    const absent = new CriClient({ socket: join(dir, 'absent.sock') });
    const e1 = await t.throwsAsync(() => absent.version({ timeoutMs: 2_000 }));
    t.true(e1 instanceof CriError && e1.code === 'CRI_ERR_UNAVAILABLE', String(e1));
    absent.close();
    const e2 = await t.throwsAsync(() => absent.version());
    t.true(e2 instanceof CriError && e2.code === 'CRI_ERR_CLOSED', String(e2));

    // A peer that accepts the connection and never says a word.
    const silent = join(dir, 'silent.sock');
    server = createServer((s) => conns.push(s));
    await new Promise<void>((r) => server!.listen(silent, r));
    const c = new CriClient({ socket: silent, requestTimeoutMs: 300 });
    const t0 = Date.now();
    const e3 = await t.throwsAsync(() => c.listPodSandbox());
    t.true(e3 instanceof CriError && e3.code === 'CRI_ERR_DEADLINE', String(e3));
    t.true(Date.now() - t0 < 5_000);
    const ac = new AbortController();
    const pending = c.listContainers(undefined, { signal: ac.signal, timeoutMs: 10_000 });
    setTimeout(() => ac.abort(), 50);
    const e4 = await t.throwsAsync(() => pending);
    t.true(e4 instanceof CriError && e4.code === 'CRI_ERR_CANCELLED', String(e4));
    const e5 = await t.throwsAsync(() => c.execSync('id', [], 1));
    t.true(e5 instanceof CriError && e5.code === 'CRI_ERR_BAD_REQUEST', String(e5));
    c.close();
  } finally {
    for (const s of conns) s.destroy();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    await rm(dir, { recursive: true, force: true });
  }
});
