/**
 * Liveness, readiness and startup probes, as upstream's prober: one worker
 * per (container instance, probe kind) on its own timer, honouring
 * initialDelaySeconds, periodSeconds, timeoutSeconds, successThreshold and
 * failureThreshold. Exec probes run through the runtime's ExecSync; HTTP GET
 * and TCP probes connect to the pod's IP (or the node's, for hostNetwork).
 *
 * Until a startup probe succeeds the other two wait; a readiness probe
 * starts "not ready", a liveness probe "alive". A result change calls
 * `onChange` (the pod's worker then acts: restarts a dead container, writes
 * readiness into the status).
 */
import http from 'node:http';
import net from 'node:net';
import type { CriClient } from '../cri/index.js';
import type { Json } from '../api/index.js';

export type ProbeKind = 'liveness' | 'readiness' | 'startup';
export type ProbeResult = 'success' | 'failure';

/** Bounds on what a probe reads of an HTTP answer. */
const HTTP_BODY_BYTES_MAX = 10 << 10;

export interface ProbeTarget {
  podIP: string;
  containerId: string;
  ctr: Json;
}

function resolvePort(port: unknown, ctr: Json): number {
  if (typeof port === 'number') return port;
  const named = (ctr.ports ?? []).find((p: Json) => p.name === port);
  if (named) return named.containerPort;
  const n = Number(port);
  return Number.isInteger(n) ? n : -1;
}

/** Runs one probe once: success or failure, with a message for events. */
export async function probeOnce(probe: Json, t: ProbeTarget, cri: CriClient): Promise<{ result: ProbeResult; message: string }> {
  const timeoutMs = Math.max(1, probe.timeoutSeconds ?? 1) * 1000;
  if (probe.exec) {
    try {
      const r = await cri.execSync(t.containerId, probe.exec.command ?? [], Math.ceil(timeoutMs / 1000));
      if (r.exitCode === 0) return { result: 'success', message: '' };
      return { result: 'failure', message: `exec ${JSON.stringify(probe.exec.command)} exited ${r.exitCode}: ${(r.stdout.toString() + r.stderr.toString()).slice(0, 200)}` };
    } catch (e) {
      return { result: 'failure', message: `exec probe failed: ${e instanceof Error ? e.message : String(e)}` };
    }
  }
  if (probe.httpGet) {
    const g = probe.httpGet;
    const port = resolvePort(g.port, t.ctr);
    const host = g.host || t.podIP;
    if (port <= 0 || !host) return { result: 'failure', message: `httpGet probe: no address (${host}:${String(g.port)})` };
    if ((g.scheme ?? 'HTTP') !== 'HTTP') return { result: 'failure', message: `httpGet probe: scheme ${g.scheme} is not supported` };
    return new Promise((resolve) => {
      const headers: Record<string, string> = { 'User-Agent': 'kube-probe/1.32', Accept: '*/*' };
      for (const h of g.httpHeaders ?? []) headers[h.name] = h.value;
      const req = http.request({ host, port, path: g.path || '/', method: 'GET', headers, timeout: timeoutMs, agent: false }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => {
          n += c.length;
          if (n > HTTP_BODY_BYTES_MAX) res.destroy();
        });
        const code = res.statusCode ?? 0;
        const done = () => resolve(code >= 200 && code < 400 ? { result: 'success', message: '' } : { result: 'failure', message: `HTTP probe failed with statuscode: ${code}` });
        res.on('end', done);
        res.on('close', done);
      });
      req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs}ms`)));
      req.on('error', (e) => resolve({ result: 'failure', message: `Get "http://${host}:${port}${g.path || '/'}": ${e.message}` }));
      req.end();
    });
  }
  if (probe.tcpSocket) {
    const port = resolvePort(probe.tcpSocket.port, t.ctr);
    const host = probe.tcpSocket.host || t.podIP;
    return new Promise((resolve) => {
      const s = net.connect({ host, port, timeout: timeoutMs });
      s.on('connect', () => {
        s.destroy();
        resolve({ result: 'success', message: '' });
      });
      s.on('timeout', () => {
        s.destroy();
        resolve({ result: 'failure', message: `dial tcp ${host}:${port}: i/o timeout` });
      });
      s.on('error', (e) => resolve({ result: 'failure', message: `dial tcp ${host}:${port}: ${e.message}` }));
    });
  }
  if (probe.grpc) return { result: 'failure', message: 'grpc probes are not supported on skiff nodes' };
  return { result: 'success', message: '' };
}

interface Worker {
  kind: ProbeKind;
  probe: Json;
  target: ProbeTarget;
  timer: NodeJS.Timeout | null;
  result: ProbeResult;
  successes: number;
  failures: number;
  stopped: boolean;
}

export class ProbeManager {
  /** By `${containerId}/${kind}`. */
  private readonly workers = new Map<string, Worker>();

  constructor(
    private readonly cri: CriClient,
    private readonly onChange: (containerId: string, kind: ProbeKind, result: ProbeResult, message: string) => void,
  ) {}

  /** Starts the container instance's probes (once per instance; a new instance has a new id). */
  ensure(target: ProbeTarget): void {
    for (const kind of ['startup', 'liveness', 'readiness'] as const) {
      const probe = target.ctr[`${kind}Probe`];
      if (!probe) continue;
      const key = `${target.containerId}/${kind}`;
      if (this.workers.has(key)) continue;
      const w: Worker = { kind, probe, target, timer: null, result: kind === 'liveness' ? 'success' : 'failure', successes: 0, failures: 0, stopped: false };
      this.workers.set(key, w);
      this.schedule(w, Math.max(0, probe.initialDelaySeconds ?? 0) * 1000);
    }
  }

  /** The current result; `undefined` when the container has no such probe. */
  result(containerId: string, kind: ProbeKind): ProbeResult | undefined {
    return this.workers.get(`${containerId}/${kind}`)?.result;
  }

  /** Stops every probe of instances not in `live`. */
  retain(live: ReadonlySet<string>): void {
    for (const [key, w] of this.workers) {
      if (live.has(w.target.containerId)) continue;
      this.stopWorker(key, w);
    }
  }

  stopContainer(containerId: string): void {
    for (const [key, w] of this.workers) if (w.target.containerId === containerId) this.stopWorker(key, w);
  }

  close(): void {
    for (const [key, w] of this.workers) this.stopWorker(key, w);
  }

  private stopWorker(key: string, w: Worker): void {
    w.stopped = true;
    if (w.timer) clearTimeout(w.timer);
    this.workers.delete(key);
  }

  private schedule(w: Worker, ms: number): void {
    if (w.stopped) return;
    w.timer = setTimeout(() => void this.run(w), ms);
    w.timer.unref();
  }

  private async run(w: Worker): Promise<void> {
    const period = Math.max(1, w.probe.periodSeconds ?? 10) * 1000;
    // Liveness and readiness wait for the startup probe.
    if (w.kind !== 'startup' && this.workers.has(`${w.target.containerId}/startup`) && this.result(w.target.containerId, 'startup') !== 'success') {
      this.schedule(w, period);
      return;
    }
    const { result, message } = await probeOnce(w.probe, w.target, this.cri);
    if (w.stopped) return;
    const successThreshold = w.kind === 'readiness' ? Math.max(1, w.probe.successThreshold ?? 1) : 1;
    const failureThreshold = Math.max(1, w.probe.failureThreshold ?? 3);
    if (result === 'success') {
      w.failures = 0;
      w.successes++;
    } else {
      w.successes = 0;
      w.failures++;
    }
    let next: ProbeResult = w.result;
    if (w.successes >= successThreshold) next = 'success';
    if (w.failures >= failureThreshold) next = 'failure';
    if (next !== w.result) {
      w.result = next;
      this.onChange(w.target.containerId, w.kind, next, message);
    }
    // A startup probe that succeeded is done; a dead container's liveness worker stops with it.
    if (w.kind === 'startup' && w.result === 'success') return;
    this.schedule(w, period);
  }
}
