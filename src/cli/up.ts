/**
 * `skiff up`: a local cluster of `skiff master` processes in the foreground.
 * Prints `READY {json}` once the cluster has a leader; Ctrl-C (or SIGTERM)
 * stops every member cleanly. Each member logs to DIR/<name>.log.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError } from './sim.js';

export const UP_USAGE = `usage: skiff up [--masters 3|5] [--dir DIR] [--base-port P]

  --masters    members to start (default 3)
  --dir        where their data and logs go (default .data/cluster); an existing dir restarts that cluster
  --base-port  member i listens on P+3i (etcd API), P+3i+1 (peers), P+3i+2 (metrics) (default 23790)`;

interface Spawned {
  name: string;
  client: string;
  peer: string;
  metrics: string;
  dataDir: string;
  proc: ChildProcess;
}

export async function upCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: { masters: { type: 'string', default: '3' }, dir: { type: 'string', default: '.data/cluster' }, 'base-port': { type: 'string', default: '23790' } },
  });
  const n = Number(values.masters);
  if (n !== 1 && n !== 3 && n !== 5) throw new UsageError(`--masters must be 1, 3 or 5, got ${values.masters}`);
  const base = Number(values['base-port']);
  if (!Number.isSafeInteger(base) || base < 1024 || base + 3 * n > 65535) throw new UsageError(`--base-port must leave room for ${3 * n} ports below 65536`);
  const dir = resolve(values.dir!);
  mkdirSync(dir, { recursive: true });

  const specs = Array.from({ length: n }, (_, i) => ({
    name: `m${i + 1}`,
    client: `http://127.0.0.1:${base + 3 * i}`,
    peer: `http://127.0.0.1:${base + 3 * i + 1}`,
    metrics: `http://127.0.0.1:${base + 3 * i + 2}`,
    dataDir: `${dir}/m${i + 1}`,
  }));
  const initialCluster = specs.map((s) => `${s.name}=${s.peer}`).join(',');
  const members: Spawned[] = specs.map((s) => ({ ...s, proc: spawnMaster(s, initialCluster, `${dir}/${s.name}.log`) }));

  let stopping = false;
  const stopAll = async (): Promise<void> => {
    stopping = true;
    await Promise.all(members.map((m) => stopChild(m.proc)));
  };
  const exited = new Promise<number>((resolveExit) => {
    for (const m of members) {
      m.proc.on('exit', (code, signal) => {
        if (stopping) return;
        out(`member ${m.name} exited (${signal ?? `code ${code}`}); see ${dir}/${m.name}.log — stopping the others`);
        void stopAll().then(() => resolveExit(1));
      });
    }
  });
  const signalled = new Promise<number>((resolveSig) => {
    const onSig = () => {
      if (stopping) return;
      out('stopping the cluster...');
      void stopAll().then(() => resolveSig(0));
    };
    process.once('SIGINT', onSig);
    process.once('SIGTERM', onSig);
  });

  const ready = await Promise.race([waitForLeader(members), exited.then(() => false), signalled.then(() => false)]);
  if (ready) {
    out(
      `READY ${JSON.stringify({
        etcd_endpoints: members.map((m) => m.client).join(','),
        dir,
        metrics_endpoints: members.map((m) => m.metrics).join(','),
        members: members.map((m) => ({ name: m.name, client: m.client, peer: m.peer, metrics: m.metrics, pid: m.proc.pid, log: `${dir}/${m.name}.log` })),
      })}`,
    );
  }
  return Promise.race([exited, signalled]);
}

function spawnMaster(s: Omit<Spawned, 'proc'>, initialCluster: string, logFile: string): ChildProcess {
  const log = createWriteStream(logFile, { flags: 'a' });
  // The same Node and entry point as this process (tsx in a source checkout).
  const args = [
    ...process.execArgv,
    process.argv[1]!,
    'master',
    '--name', s.name,
    '--data-dir', s.dataDir,
    '--listen-client-urls', s.client,
    '--advertise-client-urls', s.client,
    '--listen-peer-urls', s.peer,
    '--initial-advertise-peer-urls', s.peer,
    '--listen-metrics-urls', s.metrics,
    '--initial-cluster', initialCluster,
  ];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: false });
  proc.stdout!.pipe(log);
  proc.stderr!.pipe(log);
  return proc;
}

function stopChild(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolveStop) => {
    const kill = setTimeout(() => p.kill('SIGKILL'), 10_000);
    p.once('exit', () => {
      clearTimeout(kill);
      resolveStop();
    });
    p.kill('SIGTERM');
  });
}

/** Polls the members' /healthz until one reports a leader. */
async function waitForLeader(members: Spawned[], timeoutMs = 60_000): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    for (const m of members) {
      try {
        const r = await fetch(`${m.metrics}/healthz`, { signal: AbortSignal.timeout(500) });
        if (r.ok) return true;
      } catch {
        /* not up yet */
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
