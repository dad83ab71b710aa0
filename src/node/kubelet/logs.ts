/**
 * Container logs as `kubectl logs` asks for them: the CRI log file of the
 * container's current (or previous) instance, its lines decoded from the CRI
 * format (`<RFC3339Nano> <stdout|stderr> <P|F> <text>`, P = a partial line
 * continued by the next), with tailLines, limitBytes, sinceSeconds,
 * timestamps, and follow (new lines as they are written, until the
 * container is no longer running).
 */
import { closeSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KubeletError } from './errors.js';

export interface LogOptions {
  follow: boolean;
  tailLines: number | null;
  limitBytes: number | null;
  sinceSeconds: number | null;
  timestamps: boolean;
  previous: boolean;
}

/** The bytes read at most when looking for the last lines of a big file. */
const TAIL_WINDOW_BYTES = 8 << 20;
const CHUNK_BYTES = 64 << 10;
const FOLLOW_POLL_MS = 200;

/** `<dir>/<container>/<n>.log` files, newest instance last. */
export function logFiles(podLogDir: string, container: string): string[] {
  const dir = join(podLogDir, container);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map((n) => /^(\d+)\.log$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(a[1]) - Number(b[1]))
    .map((m) => join(dir, m[0]));
}

interface Decoded {
  time: string;
  text: string;
}

/** Decodes CRI log lines; partial lines are joined with the line that completes them. */
export class CriLogDecoder {
  private partial = '';
  private rest = '';

  push(chunk: string): Decoded[] {
    const out: Decoded[] = [];
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    for (const line of lines) {
      const m = /^(\S+) (stdout|stderr) ([PF]) ?(.*)$/.exec(line);
      if (!m) continue;
      if (m[3] === 'P') {
        this.partial += m[4];
        continue;
      }
      out.push({ time: m[1]!, text: this.partial + m[4]! });
      this.partial = '';
    }
    return out;
  }
}

function readRange(path: string, from: number, to: number): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(Math.max(0, to - from));
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, Math.min(CHUNK_BYTES, buf.length - off), from + off);
      if (n <= 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes the container's log to `write` (resolving when done: at once
 * without follow; with follow when `running()` turns false and the file is
 * drained, or `signal` aborts).
 */
export async function streamLogs(podLogDir: string, container: string, o: LogOptions, write: (s: string) => boolean | void, running: () => Promise<boolean>, signal: AbortSignal): Promise<void> {
  const files = logFiles(podLogDir, container);
  if (files.length === 0) throw new KubeletError('KUBELET_ERR_BAD_REQUEST', `container "${container}" has no logs yet`);
  const path = o.previous ? files[files.length - 2] : files[files.length - 1];
  if (!path) throw new KubeletError('KUBELET_ERR_BAD_REQUEST', `previous terminated container "${container}" not found`);
  const since = o.sinceSeconds !== null ? Date.now() - o.sinceSeconds * 1000 : null;
  let budget = o.limitBytes ?? Infinity;
  const emit = (lines: Decoded[]): boolean => {
    for (const l of lines) {
      if (since !== null && Date.parse(l.time) < since) continue;
      let s = `${o.timestamps ? `${l.time} ` : ''}${l.text}\n`;
      if (Buffer.byteLength(s) > budget) s = Buffer.from(s).subarray(0, budget).toString('utf8');
      budget -= Buffer.byteLength(s);
      write(s);
      if (budget <= 0) return false;
    }
    return true;
  };
  const size = statSync(path).size;
  let pos = 0;
  const dec = new CriLogDecoder();
  if (o.tailLines !== null) {
    const start = Math.max(0, size - TAIL_WINDOW_BYTES);
    const lines = dec.push(readRange(path, start, size));
    if (start > 0) lines.shift();
    if (!emit(o.tailLines === 0 ? [] : lines.slice(-o.tailLines))) return;
    pos = size;
  } else {
    for (; pos < size; ) {
      const end = Math.min(size, pos + CHUNK_BYTES);
      if (!emit(dec.push(readRange(path, pos, end)))) return;
      pos = end;
    }
  }
  if (!o.follow || o.previous) return;
  let checks = 0;
  while (!signal.aborted) {
    const now = statSync(path, { throwIfNoEntry: false })?.size ?? pos;
    if (now > pos) {
      if (!emit(dec.push(readRange(path, pos, now)))) return;
      pos = now;
      continue;
    }
    if (++checks % 5 === 0 && !(await running())) return;
    await new Promise((r) => setTimeout(r, FOLLOW_POLL_MS));
  }
}
