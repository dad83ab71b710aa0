/**
 * The Kubernetes API server of one master: HTTPS (plain HTTP only when asked
 * for), authentication, the non-resource paths (`/healthz`, `/livez`,
 * `/readyz`, `/version`, discovery), and the resource paths, whose verbs
 * rest.ts carries out over the replicated store. Everything a client gets
 * back on failure is a Status object (errors.ts).
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { stringify as toYaml } from 'yaml';
import { isStoreError } from '../../store/index.js';
import { counterVec, Gauge, histogramVec, type Registry } from '../../util/metrics.js';
import { apiVersionOf, lookupResource } from '../registry/index.js';
import { type Authenticator, authenticator, type UserInfo } from './auth.js';
import { AGGREGATED_DISCOVERY_TYPE, aggregatedDiscovery, apiGroupDocument, apiGroupList, apiResourceList, apiVersions, wantsAggregated } from './discovery.js';
import { ApiError, badRequest, internal, isApiError, tooLarge, unauthorized, unavailable } from './errors.js';
import { dropUnknownFields, parseFieldValidation, strictError, warnings } from './field-validation.js';
import { decodeBody, mediaTypeOf, negotiate, type ResponseFormat } from './negotiation.js';
import { openApiV3Index, openApiV3Text } from './openapi.js';
import { type KubeObject, type KvBackend, ObjectStore, encodeObject, listPrefix } from './object-store.js';
import { isObject } from './objects.js';
import { applyPatch, isPatchError, patchTypeFromContentType, strategicMergeTypeFor, PatchType } from './patch/index.js';
import { parseResourcePath, type RequestInfo, splitGroupVersion } from './request-info.js';
import { type DeleteOptions, encodeContinue, Rest } from './rest.js';
import { parseSelection } from './selection.js';
import { execRequest, kubeletAddress, logRequest, proxyLog } from './pod-log.js';
import { proxyUpgrade, refuseUpgrade } from '../../util/upgrade-proxy.js';
import { labelSelectorToString, selectorFromSet } from './selectors/index.js';
import { type IncludeObject, toTable } from './table.js';
import { eventLine, startWatch, watchErrorEvent, type KubeWatchEvent } from './watch.js';

/** kube-apiserver's default limit on a request body (3 MiB). */
export const MAX_REQUEST_BODY_BYTES = 3 * 1024 * 1024;
/** Upstream closes a watch after a random 30–60 minutes unless timeoutSeconds says otherwise. */
export const WATCH_TIMEOUT_SECONDS_DEFAULT = 1800;
/** Longest timeoutSeconds honoured for a watch. */
export const WATCH_TIMEOUT_SECONDS_MAX = 3600;
/** The identity Lease of an API server: its label, validity and renewal period. */
export const IDENTITY_LABEL = 'apiserver.kubernetes.io/identity';
export const IDENTITY_LEASE_SECONDS = 30;
/** Pause between attempts to create the system namespaces while the store has no leader. */
const BOOTSTRAP_RETRY_MS = 500;
/** The Kubernetes version we speak (kubectl warns beyond one minor version of skew). */
export const KUBERNETES_VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.0-skiff' };

export interface ApiServerOptions {
  kv: KvBackend;
  host: string;
  port: number;
  /** null: plain HTTP (tests only). */
  tls: { certPem: string; keyPem: string; caPem: string } | null;
  tokens: Map<string, UserInfo>;
  /** Lets unauthenticated requests through; only together with plain HTTP. */
  allowAnonymous: boolean;
  maxBodyBytes: number;
  bookmarkIntervalMs: number;
  /** Why this master cannot serve (no leader, …), or null when it can. */
  notReady: () => string | null;
  logger: Logger;
  now?: () => Date;
  /** LISTs from an in-memory cache per resource (default true). */
  watchCache?: boolean;
  /** Where the API's metrics go (the master's /metrics); none when absent. */
  metrics?: Registry;
  /**
   * The address clients (and Pods, through the `kubernetes` Service) reach
   * this API server at; published as an identity Lease in kube-system, from
   * which the leader keeps the Service's Endpoints (port 0: the port it
   * listens on). None: not published.
   */
  advertise?: { ip: string; port: number };
  /** Validity of the identity Lease (renewed three times within it; default IDENTITY_LEASE_SECONDS). */
  identityLeaseSeconds?: number;
  /** How long Events live after their last write (default one hour). */
  eventTtlSeconds?: number;
  /** Requests in flight per pool (defaults: INFLIGHT_LIMITS_DEFAULT). */
  inflight?: { readonly: number; mutating: number; watch: number };
  /**
   * How this API server reaches kubelets (pods/log): over HTTPS with this
   * client certificate (signed by the cluster CA, which the nodes trust), or
   * null for plain HTTP (clusters without TLS, tests). Kubelets' serving
   * certificates are self-signed and not verified, as upstream's default.
   */
  kubeletClient?: { certPem: string; keyPem: string } | null;
}

/** Upstream's verb names in metrics. */
const METRIC_VERBS: Record<string, string> = { get: 'GET', list: 'LIST', watch: 'WATCH', create: 'POST', update: 'PUT', patch: 'PATCH', delete: 'DELETE', deletecollection: 'DELETE' };

/**
 * Requests served at once, per kind (upstream's --max-requests-inflight 400
 * and --max-mutating-requests-inflight 200; watches are long-running and
 * bounded on their own). Past a limit: 429 with Retry-After.
 */
export const INFLIGHT_LIMITS_DEFAULT = { readonly: 400, mutating: 200, watch: 10_000 } as const;

export const API_SERVER_DEFAULTS = { maxBodyBytes: MAX_REQUEST_BODY_BYTES, bookmarkIntervalMs: 60_000, allowAnonymous: false, inflight: INFLIGHT_LIMITS_DEFAULT } as const;

type Pool = keyof typeof INFLIGHT_LIMITS_DEFAULT;
const MUTATING_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  user: UserInfo;
  /** What the metrics call this request (set once the path is decoded). */
  verb: string;
  resource: string;
}

export class ApiServer {
  readonly rest: Rest;
  private server: Server | null = null;
  private readonly auth: Authenticator;
  private readonly watches = new Set<{ close(): void }>();
  private readonly now: () => Date;
  private readonly inflight: Record<Pool, number> = { readonly: 0, mutating: 0, watch: 0 };
  private readonly requests = counterVec('apiserver_request_total', 'Requests by verb, resource and HTTP code.', ['verb', 'resource', 'code']);
  private readonly durations = histogramVec('apiserver_request_duration_seconds', 'Response latency by verb and resource (watches excluded).', ['verb', 'resource']);

  constructor(private readonly o: ApiServerOptions) {
    if (o.metrics) {
      o.metrics.register(this.requests);
      o.metrics.register(this.durations);
      o.metrics.register(new Gauge('apiserver_registered_watchers', 'Watches being served.', () => this.watches.size));
    }
    this.now = o.now ?? (() => new Date());
    this.rest = new Rest(new ObjectStore(o.kv), { now: this.now, random: Math.random, watchCache: o.watchCache ?? true, eventTtlSeconds: o.eventTtlSeconds });
    this.auth = authenticator(o.tokens, o.allowAnonymous);
  }

  /** The namespaces every cluster has from the start (upstream's bootstrap controller makes them). */
  static readonly SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
  private bootstrapped = false;
  private bootstrapTimer: NodeJS.Timeout | null = null;

  /**
   * Creates the system namespaces that are missing, retrying until the store
   * can take writes; /readyz fails until it has succeeded once.
   */
  private async bootstrap(): Promise<void> {
    const r = lookupResource('', 'v1', 'namespaces')!;
    try {
      for (const name of ApiServer.SYSTEM_NAMESPACES) {
        try {
          await this.rest.create({ r, namespace: '' }, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }, { dryRun: false });
        } catch (e) {
          if (!(isApiError(e) && e.reason === 'AlreadyExists')) throw e;
        }
      }
      this.bootstrapped = true;
      if (this.o.advertise) void this.publishIdentity();
    } catch (e) {
      if (!this.server) return;
      this.o.logger.debug({ err: e }, 'system namespaces not created yet; retrying');
      this.bootstrapTimer = setTimeout(() => void this.bootstrap(), BOOTSTRAP_RETRY_MS);
    }
  }

  private identityTimer: NodeJS.Timeout | null = null;

  /**
   * Renews this server's identity Lease (upstream's apiserver identity
   * leases in kube-system: `apiserver-<id>`), holder = its advertised
   * address; good for identityLeaseSeconds, renewed three times within it.
   */
  private async publishIdentity(): Promise<void> {
    const a = this.o.advertise!;
    const r = lookupResource('coordination.k8s.io', 'v1', 'leases')!;
    const holder = `${a.ip}:${a.port || this.port}`;
    const name = `apiserver-${createHash('sha256').update(holder).digest('hex').slice(0, 16)}`;
    const seconds = this.o.identityLeaseSeconds ?? IDENTITY_LEASE_SECONDS;
    const spec = () => ({ holderIdentity: holder, leaseDurationSeconds: seconds, renewTime: new Date().toISOString().replace('Z', '000Z') });
    try {
      await this.rest.modify({ r, namespace: 'kube-system', name, subresource: '' }, { dryRun: false }, (cur) => ({ ...cur, spec: spec() }));
    } catch (e) {
      if (!(isApiError(e) && e.reason === 'NotFound')) this.o.logger.debug({ err: e }, 'identity lease not renewed');
      else {
        await this.rest
          .create({ r, namespace: 'kube-system' }, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, labels: { [IDENTITY_LABEL]: 'kube-apiserver' } }, spec: spec() }, { dryRun: false })
          .catch((err: unknown) => this.o.logger.debug({ err }, 'identity lease not created'));
      }
    }
    if (this.server) {
      this.identityTimer = setTimeout(() => void this.publishIdentity(), (seconds * 1000) / 3);
      this.identityTimer.unref();
    }
  }

  async start(): Promise<void> {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    const t = this.o.tls;
    const server = t ? createHttpsServer({ cert: t.certPem, key: t.keyPem, ca: t.caPem, requestCert: true, rejectUnauthorized: false }, handler) : createHttpServer(handler);
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.handleUpgrade(req, socket, head));
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    void this.bootstrap();
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  get scheme(): 'https' | 'http' {
    return this.o.tls ? 'https' : 'http';
  }

  async close(): Promise<void> {
    if (this.bootstrapTimer) clearTimeout(this.bootstrapTimer);
    if (this.identityTimer) clearTimeout(this.identityTimer);
    this.rest.close();
    for (const w of this.watches) w.close();
    const s = this.server;
    this.server = null;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  // ------------------------------------------------------------------ dispatch

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return this.fail(res, badRequest('malformed request URL'));
    }
    const t0 = process.hrtime.bigint();
    const ctx: Ctx = { req, res, url, user: { name: '', uid: '', groups: [] }, verb: (req.method ?? 'GET').toUpperCase(), resource: '' };
    res.once('finish', () => this.observe(ctx, t0));
    const user = this.auth.authenticate(req);
    if (!user) return this.fail(res, unauthorized());
    ctx.user = user;
    // Long-running: watches, and followed logs.
    const long = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1' || (url.searchParams.get('follow') === 'true' && url.pathname.endsWith('/log'));
    const pool: Pool = long ? 'watch' : MUTATING_METHODS.has(ctx.verb) ? 'mutating' : 'readonly';
    const limit = (this.o.inflight ?? INFLIGHT_LIMITS_DEFAULT)[pool];
    if (this.inflight[pool] >= limit) return this.fail(res, new ApiError('TooManyRequests', 'Too many requests, please try again later.', { retryAfterSeconds: 1 }));
    this.inflight[pool]++;
    res.once('close', () => this.inflight[pool]--);
    try {
      await this.route(ctx);
    } catch (e) {
      this.fail(res, toApiError(e, this.o.logger));
    }
  }

  private async route(c: Ctx): Promise<void> {
    const segs = c.url.pathname.split('/').filter((s) => s !== '');
    const top = segs[0] ?? '';
    if (top === 'healthz' || top === 'livez' || top === 'readyz') return this.health(c, top);
    if (top === 'version' && segs.length === 1) return this.send(c, 200, { ...KUBERNETES_VERSION, gitCommit: '', gitTreeState: 'clean', buildDate: '', goVersion: `node ${process.version}`, compiler: 'skiff', platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}` });
    if ((top === 'api' || top === 'apis') && segs.length === 1 && wantsAggregated(c.req.headers.accept)) {
      const text = JSON.stringify(aggregatedDiscovery(top === 'api'));
      c.res.writeHead(200, { 'Content-Type': AGGREGATED_DISCOVERY_TYPE, 'Content-Length': Buffer.byteLength(text) });
      return void c.res.end(c.req.method === 'HEAD' ? undefined : text);
    }
    if (top === 'api' && segs.length === 1) return this.send(c, 200, apiVersions(c.req.headers.host ?? `${this.o.host}:${this.port}`));
    if (top === 'apis' && segs.length === 1) return this.send(c, 200, apiGroupList());
    if (top === 'apis' && segs.length === 2) return this.sendOr404(c, apiGroupDocument(segs[1]!));
    if (top === 'openapi') return this.openapi(c, segs);
    const gv = splitGroupVersion(segs);
    if (!gv) throw new ApiError('NotFound', 'the server could not find the requested resource');
    if (gv.rest.length === 0) return this.sendOr404(c, apiResourceList(gv.group, gv.version));
    const info = parseResourcePath(gv.group, gv.version, gv.rest, c.req.method ?? 'GET', c.url.searchParams);
    return this.resource(c, info);
  }

  /** `/openapi/v3[/<group-version path>]` (v2 is not served: kubectl falls back to v3). */
  private openapi(c: Ctx, segs: string[]): void {
    if (segs[1] !== 'v3') throw new ApiError('NotFound', 'the server could not find the requested resource');
    if (segs.length === 2) return this.send(c, 200, openApiV3Index());
    const text = openApiV3Text(segs.slice(2).join('/'));
    if (text === null) throw new ApiError('NotFound', 'the server could not find the requested resource');
    // Documents are addressed by content hash: a client may cache them for good.
    const immutable = c.url.searchParams.has('hash');
    c.res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': immutable ? 'public, immutable' : 'no-cache, private' });
    c.res.end(c.req.method === 'HEAD' ? undefined : text);
  }

  private health(c: Ctx, which: string): void {
    const why = which === 'livez' ? null : (this.o.notReady() ?? (this.bootstrapped ? null : 'the system namespaces are not created yet'));
    const body = why ? `[-]store failed: ${why}\n${which} check failed` : 'ok';
    c.res.writeHead(why ? 500 : 200, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
    c.res.end(body);
  }

  // ------------------------------------------------------------------ resources

  private observe(c: Ctx, t0: bigint): void {
    this.requests.with({ verb: c.verb, resource: c.resource, code: String(c.res.statusCode) }).inc();
    if (c.verb !== 'WATCH') this.durations.with({ verb: c.verb, resource: c.resource }).observe(Number(process.hrtime.bigint() - t0) / 1e9);
  }

  private async resource(c: Ctx, info: RequestInfo): Promise<void> {
    c.verb = METRIC_VERBS[info.verb] ?? c.verb;
    c.resource = info.subresource ? `${info.resource.resource}/${info.subresource}` : info.resource.resource;
    const q = c.url.searchParams;
    const w = { dryRun: q.getAll('dryRun').includes('All') };
    const { resource: r, namespace, name } = info;
    const t = { r, namespace, name };
    switch (info.verb) {
      case 'get': {
        if (info.subresource === 'exec') throw badRequest('Upgrade request required');
        const obj = await this.rest.get(t);
        if (info.subresource === 'scale') return this.send(c, 200, toScale(obj));
        if (info.subresource === 'log') return this.podLog(c, obj);
        return this.sendObjects(c, r.kind, [obj], null, true);
      }
      case 'list':
        return this.list(c, info);
      case 'watch':
        return this.watch(c, info);
      case 'create': {
        if (info.subresource === 'exec') throw badRequest('Upgrade request required');
        const body = await this.readObject(c);
        if (info.subresource === 'binding') return this.bind(c, info, body, w);
        if (r.namespaced && !namespace) throw new ApiError('NotFound', 'the server could not find the requested resource');
        checkKind(body, apiVersionOf(r), r.kind);
        this.checkFields(c, body, apiVersionOf(r), r.kind);
        return this.send(c, 201, await this.rest.create({ r, namespace }, body, w));
      }
      case 'update': {
        const body = await this.readObject(c);
        if (info.subresource === 'scale') return this.send(c, 200, toScale(await this.scaleTo(info, body, w)));
        if (info.subresource === 'finalize') return this.send(c, 200, await this.rest.modify({ ...t, subresource: 'all' }, w, (cur) => ({ ...cur, spec: { ...cur.spec, finalizers: body.spec?.finalizers ?? [] } }), body.metadata?.resourceVersion ?? ''));
        checkKind(body, apiVersionOf(r), r.kind);
        this.checkFields(c, body, apiVersionOf(r), r.kind);
        return this.send(c, 200, await this.rest.update({ ...t, subresource: info.subresource === 'status' ? 'status' : '' }, body, w));
      }
      case 'patch':
        return this.patch(c, info, w);
      case 'delete': {
        const opts = await this.deleteOptions(c);
        const d = await this.rest.delete(t, opts, { dryRun: w.dryRun || (opts.dryRun ?? []).includes('All') });
        return this.send(c, d.deleted ? 200 : 202, d.obj);
      }
      case 'deletecollection': {
        const opts = await this.deleteOptions(c);
        const sel = parseSelection(r, q.get('labelSelector') ?? '', q.get('fieldSelector') ?? '');
        const items = await this.rest.deleteCollection(r, namespace, sel, opts, w);
        return this.send(c, 200, { kind: `${r.kind}List`, apiVersion: apiVersionOf(r), metadata: {}, items });
      }
    }
  }

  private async list(c: Ctx, info: RequestInfo): Promise<void> {
    const q = c.url.searchParams;
    const r = info.resource;
    const sel = parseSelection(r, q.get('labelSelector') ?? '', q.get('fieldSelector') ?? '');
    const limit = intParam(q, 'limit', 0);
    const page = await this.rest.list(r, info.namespace, sel, { limit, continueToken: q.get('continue') ?? '', resourceVersion: q.get('resourceVersion') ?? '' });
    const meta: Record<string, unknown> = { resourceVersion: String(page.revision) };
    if (page.continueKey !== null) {
      meta.continue = encodeContinue(page.revision, page.continueKey, listPrefix(r, info.namespace));
      if (sel.everything && page.remaining > 0) meta.remainingItemCount = page.remaining;
    }
    return this.sendObjects(c, r.kind, page.items, meta, false);
  }

  /** One object, or a list of them, as JSON, YAML or a Table. */
  private sendObjects(c: Ctx, kind: string, items: KubeObject[], listMeta: Record<string, unknown> | null, single: boolean): void {
    const f = negotiate(c.req.headers.accept, true);
    if (f.kind === 'table') {
      const include = (c.url.searchParams.get('includeObject') ?? 'Metadata') as IncludeObject;
      const meta = listMeta ?? { resourceVersion: items[0]?.metadata.resourceVersion ?? '' };
      const table = toTable(kind, items, meta, include, this.now()) as Record<string, unknown>;
      if (f.version === 'v1beta1') table.apiVersion = 'meta.k8s.io/v1beta1';
      return this.sendFormatted(c, 200, table, { kind: 'json' });
    }
    if (single) return this.sendFormatted(c, 200, items[0], f);
    const r = items[0];
    const apiVersion = r?.apiVersion ?? '';
    return this.sendFormatted(c, 200, { kind: `${kind}List`, apiVersion: apiVersion || this.apiVersionFor(c), metadata: listMeta ?? {}, items }, f);
  }

  private apiVersionFor(c: Ctx): string {
    const gv = splitGroupVersion(c.url.pathname.split('/').filter(Boolean));
    return gv ? apiVersionOf(gv) : 'v1';
  }

  private async watch(c: Ctx, info: RequestInfo): Promise<void> {
    const q = c.url.searchParams;
    const r = info.resource;
    const sel = parseSelection(r, q.get('labelSelector') ?? '', q.get('fieldSelector') ?? '', info.name);
    const f = negotiate(c.req.headers.accept, true);
    const timeoutSeconds = Math.min(intParam(q, 'timeoutSeconds', WATCH_TIMEOUT_SECONDS_DEFAULT), WATCH_TIMEOUT_SECONDS_MAX);
    const allowBookmarks = q.get('allowWatchBookmarks') === 'true';
    const watch = await startWatch(this.rest, r, info.namespace, sel, { resourceVersion: q.get('resourceVersion') ?? '', allowBookmarks, bookmarkIntervalMs: this.o.bookmarkIntervalMs });
    this.watches.add(watch);
    const { res } = c;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const stop = () => watch.close();
    c.req.on('close', stop);
    const timer = setTimeout(stop, timeoutSeconds * 1000);
    let first = true;
    try {
      for (;;) {
        let events: KubeWatchEvent[] | null;
        try {
          events = await watch.next();
        } catch (e) {
          events = [watchErrorEvent(toApiError(e, this.o.logger))];
          watch.close();
        }
        if (!events || res.destroyed) break;
        let chunk = '';
        for (const ev of events) {
          chunk += f.kind === 'json' ? eventLine(ev) : `${JSON.stringify(this.watchEventOut(ev, r.kind, f, first))}\n`;
          if (ev.type !== 'BOOKMARK' && ev.type !== 'ERROR') first = false;
        }
        if (!res.write(chunk)) await new Promise<void>((resolve) => { res.once('drain', resolve); res.once('close', resolve); });
      }
    } finally {
      clearTimeout(timer);
      watch.close();
      this.watches.delete(watch);
      c.req.off('close', stop);
      res.end();
    }
  }

  private watchEventOut(ev: KubeWatchEvent, kind: string, f: ResponseFormat, withColumns: boolean): KubeWatchEvent {
    if (f.kind !== 'table' || ev.type === 'ERROR' || ev.type === 'BOOKMARK') return ev;
    const include = 'Metadata';
    const table = toTable(kind, [ev.object as KubeObject], { resourceVersion: (ev.object as KubeObject).metadata.resourceVersion }, include, this.now()) as Record<string, unknown>;
    if (!withColumns) table.columnDefinitions = [];
    if (f.version === 'v1beta1') table.apiVersion = 'meta.k8s.io/v1beta1';
    return { type: ev.type, object: table as KubeObject };
  }

  private async patch(c: Ctx, info: RequestInfo, w: { dryRun: boolean }): Promise<void> {
    const ct = c.req.headers['content-type'] ?? '';
    const type = patchTypeFromContentType(ct);
    if (!type) {
      if (mediaTypeOf(ct) === 'application/apply-patch+yaml') throw new ApiError('UnsupportedMediaType', 'server-side apply is not supported yet: use client-side apply (kubectl apply without --server-side)');
      throw new ApiError('UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`);
    }
    const patch = decodeBody(await this.readBody(c), 'application/json');
    const r = info.resource;
    const t = { r, namespace: info.namespace, name: info.name };
    const doPatch = (doc: KubeObject, schemaType: string | undefined): KubeObject => {
      try {
        const out = applyPatch(type, doc as never, patch, { schemaType });
        if (!isObject(out)) throw badRequest('the patch made the object something other than a JSON object');
        const obj = out as KubeObject;
        if (isObject(obj.metadata)) this.checkFields(c, obj, String(obj.apiVersion ?? ''), String(obj.kind ?? ''));
        return obj;
      } catch (e) {
        if (isPatchError(e)) throw new ApiError(e.reason, e.message);
        throw e;
      }
    };
    if (info.subresource === 'scale') {
      const out = await this.rest.modify({ ...t, subresource: '' }, w, (cur) => {
        const scale = doPatch(toScale(cur), type === PatchType.StrategicMerge ? 'autoscaling/v1.Scale' : undefined);
        return withReplicas(cur, scale);
      });
      return this.send(c, 200, toScale(out));
    }
    const schema = type === PatchType.StrategicMerge ? (strategicMergeTypeFor(apiVersionOf(r), r.kind) ?? undefined) : undefined;
    const scope = info.subresource === 'status' ? 'status' : '';
    const out = await this.rest.modify({ ...t, subresource: scope }, w, (cur) => doPatch(cur, schema));
    return this.send(c, 200, out);
  }

  /**
   * Server-side field validation: unknown fields are dropped, and refused
   * (Strict) or reported in Warning headers (Warn, the default).
   */
  private checkFields(c: Ctx, obj: KubeObject, apiVersion: string, kind: string): void {
    const mode = parseFieldValidation(c.url.searchParams.get('fieldValidation'));
    const unknown = dropUnknownFields(obj, apiVersion, kind);
    if (unknown.length === 0) return;
    if (mode === 'Strict') throw strictError(unknown);
    if (mode === 'Warn') c.res.setHeader('Warning', warnings(unknown));
  }

  private async scaleTo(info: RequestInfo, body: KubeObject, w: { dryRun: boolean }): Promise<KubeObject> {
    checkKind(body, 'autoscaling/v1', 'Scale');
    return this.rest.modify({ r: info.resource, namespace: info.namespace, name: info.name, subresource: '' }, w, (cur) => withReplicas(cur, body), body.metadata?.resourceVersion ?? '');
  }

  /** pods/binding: assigns a pod to a node, once. */
  private async bind(c: Ctx, info: RequestInfo, body: KubeObject, w: { dryRun: boolean }): Promise<void> {
    const target = isObject(body.target) ? body.target : {};
    const node = typeof target.name === 'string' ? target.name : '';
    if (!node) throw new ApiError('Invalid', `Binding.core "${info.name}" is invalid: target.name: Required value`, { causes: [{ reason: 'FieldValueRequired', message: 'Required value', field: 'target.name' }] });
    await this.rest.bind(info.namespace, info.name, node, w);
    this.send(c, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
  }

  private async deleteOptions(c: Ctx): Promise<DeleteOptions> {
    const q = c.url.searchParams;
    const raw = await this.readBody(c);
    const body = raw.length > 0 ? decodeBody(raw, c.req.headers['content-type']) : {};
    if (!isObject(body)) throw badRequest('DeleteOptions must be a JSON object');
    const o = body as DeleteOptions;
    const g = q.get('gracePeriodSeconds');
    if (g !== null) o.gracePeriodSeconds = intParam(q, 'gracePeriodSeconds', 0, true);
    const p = q.get('propagationPolicy');
    if (p !== null) o.propagationPolicy = p as DeleteOptions['propagationPolicy'];
    if (o.propagationPolicy !== undefined && !['Orphan', 'Background', 'Foreground'].includes(o.propagationPolicy)) {
      throw new ApiError('Invalid', `DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "${o.propagationPolicy}": supported values: "Foreground", "Background", "Orphan", "nil"`);
    }
    return o;
  }

  // ------------------------------------------------------------------ bodies and responses

  private async readBody(c: Ctx): Promise<Buffer> {
    const limit = this.o.maxBodyBytes;
    const declared = Number(c.req.headers['content-length'] ?? 0);
    if (declared > limit) throw tooLarge(limit);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of c.req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw tooLarge(limit);
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }

  private async readObject(c: Ctx): Promise<KubeObject> {
    const body = decodeBody(await this.readBody(c), c.req.headers['content-type']);
    if (!isObject(body)) throw badRequest('the request body must be a JSON or YAML object');
    if (body.metadata !== undefined && !isObject(body.metadata)) throw badRequest('metadata must be an object');
    body.metadata ??= {};
    return body as KubeObject;
  }

  private send(c: Ctx, code: number, body: unknown): void {
    this.sendFormatted(c, code, body, negotiate(c.req.headers.accept, false));
  }

  private sendOr404(c: Ctx, body: object | null): void {
    if (!body) throw new ApiError('NotFound', 'the server could not find the requested resource');
    this.send(c, 200, body);
  }

  private sendFormatted(c: Ctx, code: number, body: unknown, f: ResponseFormat): void {
    const text = f.kind === 'yaml' ? toYaml(body) : JSON.stringify(body);
    c.res.writeHead(code, { 'Content-Type': f.kind === 'yaml' ? 'application/yaml' : 'application/json', 'Content-Length': Buffer.byteLength(text) });
    c.res.end(c.req.method === 'HEAD' ? undefined : text);
  }

  /**
   * pods/exec (kubectl exec): an upgrade request (SPDY or WebSocket) joined
   * through the pod's node's kubelet to the runtime's streaming server.
   */
  private async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const refuse = (e: ApiError) => refuseUpgrade(socket, e.code, e.reason, JSON.stringify(e.toStatus()));
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const user = this.auth.authenticate(req);
      if (!user) return refuse(unauthorized());
      const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/.exec(url.pathname);
      if (!m) return refuse(new ApiError('NotFound', 'the server could not find the requested resource'));
      const pods = lookupResource('', 'v1', 'pods')!;
      const pod = await this.rest.get({ r: pods, namespace: decodeURIComponent(m[1]!), name: decodeURIComponent(m[2]!) });
      const { container, query } = execRequest(pod, url.searchParams);
      const { host, port, path } = await this.kubeletTarget(pod, 'exec', container, query);
      proxyUpgrade(req, socket, head, { host, port, path, tls: this.o.kubeletClient ?? null }, (e) => refuse(unavailable(`cannot reach the kubelet at ${host}:${port}: ${e.message}`)));
    } catch (e) {
      refuse(toApiError(e, this.o.logger));
    }
  }

  /** pods/log: the container's log, from its node's kubelet (see pod-log.ts). */
  private async podLog(c: Ctx, pod: KubeObject): Promise<void> {
    const { container, query } = logRequest(pod, c.url.searchParams);
    const { host, port, path } = await this.kubeletTarget(pod, 'containerLogs', container, query);
    const closed = new AbortController();
    c.res.once('close', () => closed.abort());
    await proxyLog(c.res, { host, port, path }, this.o.kubeletClient ?? null, closed.signal);
  }

  /** Where the pod's kubelet serves `endpoint` (containerLogs, exec) for one container; Status errors when it cannot be reached. */
  private async kubeletTarget(pod: KubeObject, endpoint: 'containerLogs' | 'exec', container: string, query: string): Promise<{ host: string; port: number; path: string }> {
    if (this.o.tls && !this.o.kubeletClient) throw unavailable('this API server has no kubelet client certificate (--kubelet-client-certificate and --kubelet-client-key, or --pki-dir)');
    const nodeName = pod.spec?.nodeName;
    if (!nodeName) throw badRequest(`pod ${pod.metadata.name} does not have a host assigned`);
    const node = await this.rest.get({ r: lookupResource('', 'v1', 'nodes')!, namespace: '', name: nodeName });
    const { host, port } = kubeletAddress(node);
    const seg = [pod.metadata.namespace!, pod.metadata.name!, container].map(encodeURIComponent).join('/');
    return { host, port, path: `/${endpoint}/${seg}${query ? `?${query}` : ''}` };
  }

  private fail(res: ServerResponse, e: ApiError): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const text = JSON.stringify(e.toStatus());
    const headers: Record<string, string | number> = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) };
    if (e.details?.retryAfterSeconds) headers['Retry-After'] = e.details.retryAfterSeconds;
    res.writeHead(e.code, headers);
    res.end(text);
  }
}

/** Errors that are not ours to describe become 500s (or 503 when the store cannot serve now), and are logged. */
function toApiError(e: unknown, log: Logger): ApiError {
  if (isApiError(e)) return e;
  if (isStoreError(e)) {
    if (['STORE_ERR_NO_LEADER', 'STORE_ERR_TIMEOUT', 'STORE_ERR_STOPPED', 'STORE_ERR_NOT_LEADER', 'STORE_ERR_LEADER_CHANGED', 'STORE_ERR_TOO_MANY_REQUESTS', 'STORE_ERR_TIMEOUT_LEADER_FAIL', 'STORE_ERR_UNHEALTHY', 'STORE_ERR_NOT_SUPPORTED_FOR_LEARNER'].includes(e.code)) {
      return unavailable(`the store cannot serve this now: ${e.message}`);
    }
    if (e.code === 'STORE_ERR_REQUEST_TOO_LARGE') return tooLarge(MAX_REQUEST_BODY_BYTES);
    if (e.code === 'STORE_ERR_NO_SPACE') return new ApiError('InternalError', `etcdserver: mvcc: database space exceeded`);
  }
  log.error({ err: e }, 'request failed');
  return internal(e instanceof Error ? e.message : String(e));
}

function intParam(q: URLSearchParams, name: string, dflt: number, allowNegative = false): number {
  const v = q.get(name);
  if (v === null || v === '') return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || (!allowNegative && n < 0)) throw badRequest(`invalid value for ${name}: ${JSON.stringify(v)}`);
  return n;
}

/** A body's apiVersion and kind, when given, must be the URL's; missing ones are filled in. */
function checkKind(obj: KubeObject, apiVersion: string, kind: string): void {
  if (obj.apiVersion === undefined || obj.apiVersion === '') obj.apiVersion = apiVersion;
  if (obj.kind === undefined || obj.kind === '') obj.kind = kind;
  if (obj.apiVersion !== apiVersion || obj.kind !== kind) {
    throw badRequest(`the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${apiVersion})` + (obj.kind !== kind ? ` or kind ${String(obj.kind)} is not ${kind}` : ''));
  }
}

/** The autoscaling/v1 Scale view of a workload. */
function toScale(obj: KubeObject): KubeObject {
  const m = obj.metadata;
  const spec = isObject(obj.spec) ? obj.spec : {};
  const status = isObject(obj.status) ? obj.status : {};
  const sel = spec.selector;
  const selector = isObject(sel) && (isObject(sel.matchLabels) || Array.isArray(sel.matchExpressions)) ? labelSelectorToString(sel as never) : isObject(sel) ? selectorFromSet(sel as Record<string, string>).toString() : '';
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp },
    spec: { replicas: typeof spec.replicas === 'number' ? spec.replicas : 1 },
    status: { replicas: typeof status.replicas === 'number' ? status.replicas : 0, selector },
  };
}

function withReplicas(cur: KubeObject, scale: KubeObject): KubeObject {
  const replicas = isObject(scale.spec) ? scale.spec.replicas : undefined;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
    throw new ApiError('Invalid', `Scale.autoscaling "${cur.metadata.name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas ?? null)}: must be greater than or equal to 0`, {
      causes: [{ reason: 'FieldValueInvalid', message: 'must be greater than or equal to 0', field: 'spec.replicas' }],
    });
  }
  cur.spec = { ...(isObject(cur.spec) ? cur.spec : {}), replicas };
  return cur;
}

export { encodeObject };
