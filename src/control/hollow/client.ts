/**
 * A small Kubernetes API client over HTTP(S), for hollow nodes: a base URL,
 * a bearer token or a client certificate, the cluster CA, JSON bodies, and
 * newline-delimited JSON watches. It talks to the API server the way a real
 * node's agent does (never in-process), so hollow nodes load the same paths.
 *
 * Requests share a keep-alive agent; an optional limiter bounds how many are
 * in flight at once (many hollow nodes in one process share both). Watches
 * are long-lived, so they use their own agent and are not counted.
 */
import http from 'node:http';
import https from 'node:https';
import { assert } from '../../util/assert.js';

export interface ApiClientOptions {
  /** e.g. `https://127.0.0.1:6443` */
  baseUrl: string;
  token?: string;
  caPem?: string;
  certPem?: string;
  keyPem?: string;
  /** Agent for ordinary requests (keep-alive); made per client when absent. */
  agent?: http.Agent;
  /** Agent for watches; made per client when absent. */
  watchAgent?: http.Agent;
  /** Bounds the requests in flight (shared by a fleet). */
  limiter?: Limiter;
  requestTimeoutMs?: number;
}

export const REQUEST_TIMEOUT_MS_DEFAULT = 30_000;
/** A watch line longer than this is a broken stream, not an object. */
export const WATCH_LINE_BYTES_MAX = 16 << 20;

/** An error answer of the API (a Kubernetes Status), or a transport failure (status 0). */
export class HollowApiError extends Error {
  override readonly name = 'HollowApiError';
  readonly code = 'HOLLOW_ERR_API';
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export function isHollowApiError(e: unknown, status?: number): e is HollowApiError {
  return e instanceof HollowApiError && (status === undefined || e.status === status);
}

/** A counting semaphore: at most `max` tasks run at once; the others wait in order. */
export class Limiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly max: number) {
    assert(Number.isInteger(max) && max > 0, 'a limiter needs a positive bound');
  }

  async run<T>(f: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await f();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = Record<string, any>;

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: Json;
}

export class ApiClient {
  private readonly url: URL;
  private readonly secure: boolean;
  private readonly agent: http.Agent;
  private readonly watchAgent: http.Agent;
  private readonly ownAgents: http.Agent[] = [];

  constructor(private readonly o: ApiClientOptions) {
    this.url = new URL(o.baseUrl);
    this.secure = this.url.protocol === 'https:';
    assert(this.secure || this.url.protocol === 'http:', 'the API base URL must be http or https');
    this.agent = o.agent ?? this.own(newAgent(this.secure, 64));
    this.watchAgent = o.watchAgent ?? this.own(newAgent(this.secure, Infinity));
  }

  private own(a: http.Agent): http.Agent {
    this.ownAgents.push(a);
    return a;
  }

  get<T = Json>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T = Json>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  put<T = Json>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }

  /** A JSON merge patch (RFC 7386). */
  mergePatch<T = Json>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body, 'application/merge-patch+json');
  }

  delete<T = Json>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('DELETE', path, body);
  }

  async request<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const send = () => this.once(method, path, body === undefined ? undefined : JSON.stringify(body), contentType);
    const text = await (this.o.limiter ? this.o.limiter.run(send) : send());
    return (text ? JSON.parse(text) : null) as T;
  }

  private once(method: string, path: string, body: string | undefined, contentType: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { Accept: 'application/json' };
      if (body !== undefined) {
        headers['Content-Type'] = contentType;
        headers['Content-Length'] = String(Buffer.byteLength(body));
      }
      const req = this.open(method, path, headers, this.agent, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve(text);
          else reject(statusError(status, text));
        });
      });
      req.setTimeout(this.o.requestTimeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT, () => req.destroy(new HollowApiError(0, 'Timeout', `${method} ${path} timed out`)));
      req.on('error', (e) => reject(e instanceof HollowApiError ? e : new HollowApiError(0, 'Transport', `${method} ${path}: ${e.message}`)));
      req.end(body);
    });
  }

  /**
   * Streams a watch (`path` must carry `watch=true`): calls `onEvent` for
   * every event, in order; resolves when the server ends the stream (its
   * timeout) or `signal` aborts; rejects on an error answer or a broken stream.
   */
  watch(path: string, onEvent: (ev: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return resolve();
      const req = this.open('GET', path, { Accept: 'application/json' }, this.watchAgent, (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => reject(statusError(status, Buffer.concat(chunks).toString('utf8'))));
          return;
        }
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line) onEvent(JSON.parse(line) as WatchEvent);
          }
          if (buf.length > WATCH_LINE_BYTES_MAX) req.destroy(new HollowApiError(0, 'Transport', 'a watch line exceeded its bound'));
        });
        res.on('end', () => resolve());
        res.on('error', (e) => (signal.aborted ? resolve() : reject(e)));
      });
      const abort = () => {
        req.destroy();
        resolve();
      };
      signal.addEventListener('abort', abort, { once: true });
      req.on('close', () => signal.removeEventListener('abort', abort));
      req.on('error', (e) => (signal.aborted ? resolve() : reject(e instanceof HollowApiError ? e : new HollowApiError(0, 'Transport', `watch ${path}: ${e.message}`))));
      req.end();
    });
  }

  private open(method: string, path: string, headers: Record<string, string>, agent: http.Agent, onResponse: (res: http.IncomingMessage) => void): http.ClientRequest {
    if (this.o.token) headers.Authorization = `Bearer ${this.o.token}`;
    const base = { method, host: this.url.hostname, port: this.url.port || (this.secure ? 443 : 80), path, headers, agent };
    if (!this.secure) return http.request(base, onResponse);
    return https.request({ ...base, ca: this.o.caPem, cert: this.o.certPem, key: this.o.keyPem, agent: agent as https.Agent }, onResponse);
  }

  /** Closes the agents this client made (shared ones belong to their owner). */
  close(): void {
    for (const a of this.ownAgents) a.destroy();
  }
}

/** A keep-alive agent for `startHollowNodes` to share. */
export function newAgent(secure: boolean, maxSockets: number): http.Agent {
  const o = { keepAlive: true, maxSockets, maxFreeSockets: Number.isFinite(maxSockets) ? maxSockets : 256 };
  return secure ? new https.Agent(o) : new http.Agent(o);
}

function statusError(status: number, text: string): HollowApiError {
  let reason = '';
  let message = text.slice(0, 500);
  try {
    const s = JSON.parse(text) as { reason?: string; message?: string };
    reason = s.reason ?? '';
    message = s.message ?? message;
  } catch {
    /* not a Status */
  }
  return new HollowApiError(status, reason, `HTTP ${status}: ${message}`);
}
