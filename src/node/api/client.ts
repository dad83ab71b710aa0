/**
 * A Kubernetes API client over HTTP(S), for what runs outside the masters:
 * the node daemon (kubelet, proxy, DNS) and the hollow nodes. The masters'
 * API URLs, a bearer token or a client certificate, the cluster CA, JSON
 * bodies, and newline-delimited JSON watches.
 *
 * Failover: requests go to one master until it fails; a request that never
 * reached it (connection refused or reset before an answer) or that it
 * refused to serve (429, 503) is tried on the next, with a short back-off,
 * up to a bound. An answer is final: a 409 on a retried create means an
 * earlier try landed, which the caller reads like any 409.
 *
 * Requests share a keep-alive agent; an optional limiter bounds how many are
 * in flight at once (many hollow nodes in one process share both). Watches
 * are long-lived, so they use their own agent and are not counted.
 */
import http from 'node:http';
import https from 'node:https';
import { assert } from '../../util/assert.js';

export interface ApiClientOptions {
  /** The masters' API URLs, e.g. `https://127.0.0.1:6443` (one, or several to fail over between). */
  baseUrl: string | readonly string[];
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
/** How many times one request is tried across the masters before its error is final. */
export const REQUEST_TRIES_MAX = 6;
const RETRY_BACKOFF_MS = [0, 50, 200, 500, 1000, 2000];
/** A watch line longer than this is a broken stream, not an object. */
export const WATCH_LINE_BYTES_MAX = 16 << 20;

/** An error answer of the API (a Kubernetes Status), or a transport failure (status 0). */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  readonly code = 'KUBE_CLIENT_ERR_API';
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export function isKubeApiError(e: unknown, status?: number): e is KubeApiError {
  return e instanceof KubeApiError && (status === undefined || e.status === status);
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
  private readonly urls: URL[];
  /** The master requests go to now (moves on when it fails). */
  private current = 0;
  private readonly secure: boolean;
  private readonly agent: http.Agent;
  private readonly watchAgent: http.Agent;
  private readonly ownAgents: http.Agent[] = [];

  constructor(private readonly o: ApiClientOptions) {
    const bases = typeof o.baseUrl === 'string' ? [o.baseUrl] : [...o.baseUrl];
    assert(bases.length > 0, 'the API client needs at least one master URL');
    this.urls = bases.map((b) => new URL(b));
    this.secure = this.urls[0]!.protocol === 'https:';
    for (const u of this.urls) assert(u.protocol === (this.secure ? 'https:' : 'http:'), 'the API URLs must all be http or all https');
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

  /** The master requests go to now. */
  get server(): string {
    return this.urls[this.current]!.origin;
  }

  async request<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const data = body === undefined ? undefined : JSON.stringify(body);
    for (let attempt = 0; ; attempt++) {
      const at = this.current;
      const send = () => this.once(at, method, path, data, contentType);
      try {
        const text = await (this.o.limiter ? this.o.limiter.run(send) : send());
        return (text ? JSON.parse(text) : null) as T;
      } catch (e) {
        if (!(e instanceof KubeApiError) || !retryable(e, method) || attempt + 1 >= REQUEST_TRIES_MAX) throw e;
        this.failedOver(at);
        await new Promise((r) => setTimeout(r, RETRY_BACKOFF_MS[Math.min(attempt, RETRY_BACKOFF_MS.length - 1)]));
      }
    }
  }

  /** The master at `at` failed: the next request goes to the next one (once per failure, however many requests saw it). */
  failedOver(at: number): void {
    if (this.current === at) this.current = (at + 1) % this.urls.length;
  }

  private once(at: number, method: string, path: string, body: string | undefined, contentType: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { Accept: 'application/json' };
      if (body !== undefined) {
        headers['Content-Type'] = contentType;
        headers['Content-Length'] = String(Buffer.byteLength(body));
      }
      const req = this.open(at, method, path, headers, this.agent, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > RESPONSE_BYTES_MAX) req.destroy(new KubeApiError(0, 'TooLarge', `${method} ${path}: the answer exceeded ${RESPONSE_BYTES_MAX} bytes`));
          else chunks.push(c);
        });
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve(text);
          else reject(statusError(status, text));
        });
      });
      req.setTimeout(this.o.requestTimeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT, () => req.destroy(new KubeApiError(0, 'Timeout', `${method} ${path} timed out`)));
      req.on('error', (e) => reject(e instanceof KubeApiError ? e : transportError(`${method} ${path}`, e)));
      req.end(body);
    });
  }

  /**
   * Streams a watch (`path` must carry `watch=true`): calls `onEvent` for
   * every event, in order; resolves when the server ends the stream (its
   * timeout) or `signal` aborts; rejects on an error answer or a broken stream.
   */
  watch(path: string, onEvent: (ev: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    const at = this.current;
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) return resolve();
      const req = this.open(at, 'GET', path, { Accept: 'application/json' }, this.watchAgent, (res) => {
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
            if (!line) continue;
            try {
              onEvent(JSON.parse(line) as WatchEvent);
            } catch (e) {
              // A line that is not JSON, or a consumer that gives up on the stream: end it, as an error.
              req.destroy(e instanceof KubeApiError ? e : new KubeApiError(0, 'Transport', `watch ${path}: ${e instanceof Error ? e.message : String(e)}`));
              return;
            }
          }
          if (buf.length > WATCH_LINE_BYTES_MAX) req.destroy(new KubeApiError(0, 'Transport', 'a watch line exceeded its bound'));
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
      req.on('error', (e) => (signal.aborted ? resolve() : reject(e instanceof KubeApiError ? e : transportError(`watch ${path}`, e))));
      req.end();
    }).catch((e: unknown) => {
      // A master that cannot hold a watch is left for the next try.
      if (e instanceof KubeApiError && retryable(e, 'GET')) this.failedOver(at);
      throw e;
    });
  }

  private open(at: number, method: string, path: string, headers: Record<string, string>, agent: http.Agent, onResponse: (res: http.IncomingMessage) => void): http.ClientRequest {
    if (this.o.token) headers.Authorization = `Bearer ${this.o.token}`;
    const url = this.urls[at]!;
    const base = { method, host: url.hostname, port: url.port || (this.secure ? 443 : 80), path, headers, agent };
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

/** A bound on one (non-watch) answer; a LIST larger than this is paged by the caller. */
export const RESPONSE_BYTES_MAX = 256 << 20;

/** Connection failures that say nothing was processed; other transport errors may follow a processed request. */
const NOT_SENT = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

function transportError(what: string, e: Error): KubeApiError {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  return new KubeApiError(0, NOT_SENT.has(code) ? 'Unreachable' : 'Transport', `${what}: ${e.message}`);
}

/**
 * Whether another master may be asked: it could not be reached, or it
 * refused to serve now (429, 503); a read also after a broken connection
 * (reads have no effect to repeat).
 */
function retryable(e: KubeApiError, method: string): boolean {
  if (e.status === 429 || e.status === 503) return true;
  if (e.status !== 0) return false;
  if (e.reason === 'Unreachable') return true;
  return (method === 'GET' || method === 'HEAD') && e.reason !== 'TooLarge';
}

function statusError(status: number, text: string): KubeApiError {
  let reason = '';
  let message = text.slice(0, 500);
  try {
    const s = JSON.parse(text) as { reason?: string; message?: string };
    reason = s.reason ?? '';
    message = s.message ?? message;
  } catch {
    /* not a Status */
  }
  return new KubeApiError(status, reason, `HTTP ${status}: ${message}`);
}
