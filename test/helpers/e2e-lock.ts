/**
 * A machine-wide mutex between e2e test files, which ava runs in separate
 * processes side by side. Held by the tests that must not overlap: the
 * latency-sensitive `etcdctl check perf` (its verdict fails on one request
 * slower than 500 ms) and the fault-injection tests (kill -9, restarts,
 * snapshot installs), whose CPU bursts on a small machine would otherwise
 * decide that verdict and blur the failover times they measure.
 *
 * The lock is a file created with O_EXCL holding the owner's pid; a lock
 * whose owner is gone (a worker killed mid-test) is taken over.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const POLL_MS = 200;
const held = new Set<string>();
process.on('exit', () => {
  for (const path of held) {
    try {
      unlinkSync(path);
    } catch {
      /* already gone */
    }
  }
});

function ownerAlive(path: string): boolean {
  let pid = 0;
  try {
    pid = Number(readFileSync(path, 'utf8').trim());
  } catch {
    return true; // being written or just released: look again
  }
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryAcquire(path: string): boolean {
  try {
    const fd = openSync(path, 'wx');
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    if (!ownerAlive(path)) {
      try {
        unlinkSync(path);
      } catch {
        /* someone else took it over first */
      }
    }
    return false;
  }
}

/** Runs `fn` while holding the machine-wide lock `name`; waits for it at most waitMs. */
export async function exclusive<T>(name: string, fn: () => Promise<T>, waitMs = 240_000): Promise<T> {
  const path = join(tmpdir(), `skiff-e2e-${name}.lock`);
  const deadline = Date.now() + waitMs;
  while (!tryAcquire(path)) {
    if (Date.now() > deadline) throw new Error(`e2e lock ${path} still held after ${waitMs} ms`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  held.add(path);
  try {
    return await fn();
  } finally {
    held.delete(path);
    unlinkSync(path);
  }
}
