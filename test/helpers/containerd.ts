/**
 * Test side of the private containerd (src/node/containerd): network
 * namespaces for simulated hosts, and waiting on files containers write.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

export { type Containerd, type ContainerdOptions, startContainerd } from '../../src/node/containerd/index.js';

const run = promisify(execFile);

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Creates a network namespace `skiff-t-<random>` with lo up; returns its name and a remover. */
export async function createTestNetns(): Promise<{ name: string; remove: () => Promise<void> }> {
  const name = `skiff-t-${Math.random().toString(36).slice(2, 10)}`;
  await run('ip', ['netns', 'add', name]);
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return { name, remove: () => run('ip', ['netns', 'del', name]).then(() => undefined, () => undefined) };
}

/** Reads a file written by a container (e.g. its CRI log) once it has at least `minBytes`. */
export async function readWhen(path: string, minBytes: number, timeoutMs = 5_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const text = await readFile(path, 'utf8').catch(() => '');
    if (Buffer.byteLength(text) >= minBytes || Date.now() > end) return text;
    await sleep(50);
  }
}
