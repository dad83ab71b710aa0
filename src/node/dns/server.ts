/**
 * The cluster DNS server: UDP and TCP (RFC 1035 §4.2, RFC 7766) on given
 * addresses and one port, answering from a `Zone`.
 *
 * - A message shorter than a header, or a response, is dropped; one that does
 *   not decode gets FORMERR (header echoed, no question); an opcode other
 *   than QUERY gets NOTIMP; more or fewer than one question FORMERR; an EDNS
 *   version above 0 BADVERS (RFC 6891 §6.1.3).
 * - A UDP response is limited to 512 octets, or to the client's EDNS0 size
 *   (capped by ours, `udpPayloadBytes`). Past it the optional additional
 *   section goes first; if still too big the answer is sent empty with TC
 *   set and the client retries over TCP (RFC 2181 §9).
 * - TCP: 2-octet length framing, several queries per connection (answered as
 *   they complete, RFC 7766 §6.2.1.1), an idle timeout, a connection limit
 *   and a bound on queries in flight per connection.
 * - Names outside the zone: REFUSED, or, with `forwarders`, relayed to the
 *   first upstream that answers in time (UDP for UDP clients, TCP for TCP
 *   clients), with a bound on forwards in flight.
 */
import { createSocket, type Socket as UdpSocket, type RemoteInfo } from 'node:dgram';
import { createServer, connect, isIP, type Server, type Socket } from 'node:net';
import { randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import { DnsError, isDnsError } from './errors.js';
import { CLASS_IN, MAX_MESSAGE_BYTES, RCode, RRType, UDP_CLASSIC_BYTES, decodeHeader, decodeMessage, emptyMessage, encodeMessage, type DnsMessage } from './wire.js';
import type { Zone } from './zone.js';
import { Counter, Gauge, Registry, counterVec } from '../../util/metrics.js';

export interface DnsServerOptions {
  zone: Zone;
  /** Addresses to listen on, each with UDP and TCP. */
  listenAddresses: string[];
  /** 0 picks one free port, the same for UDP and TCP on every address. */
  port: number;
  /** The EDNS0 UDP payload size we advertise and accept at most (the DNS flag day 2020 value). */
  udpPayloadBytes: number;
  tcpIdleTimeoutMs: number;
  maxTcpConnections: number;
  maxTcpQueriesInFlightPerConnection: number;
  /** Upstream servers for names outside the zone, `ip` or `ip:port` (`[ip6]:port`). Empty: REFUSED. */
  forwarders: string[];
  forwardTimeoutMs: number;
  maxForwardsInFlight: number;
  logger: Logger | null;
}

export const DNS_SERVER_DEFAULTS: Omit<DnsServerOptions, 'zone'> = {
  listenAddresses: ['127.0.0.1'],
  port: 53,
  udpPayloadBytes: 1232,
  tcpIdleTimeoutMs: 10_000,
  maxTcpConnections: 256,
  maxTcpQueriesInFlightPerConnection: 16,
  forwarders: [],
  forwardTimeoutMs: 2000,
  maxForwardsInFlight: 1024,
  logger: null,
};

const BIND_ATTEMPTS = 8;

type Transport = 'udp' | 'tcp';

interface Upstream {
  host: string;
  port: number;
}

function parseUpstream(s: string): Upstream {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  const host = m ? m[1]! : s;
  const port = m ? Number(m[2]) : 53;
  if (isIP(host) === 0 || !(port >= 1 && port <= 65535)) throw new DnsError('DNS_ERR_BAD_OPTIONS', `forwarder ${JSON.stringify(s)}`);
  return { host, port };
}

export class DnsServer {
  readonly options: DnsServerOptions;
  readonly registry = new Registry();
  private readonly requests = counterVec('skiff_dns_requests_total', 'DNS queries answered, by transport and response code.', ['proto', 'rcode']);
  private readonly dropped = new Counter('skiff_dns_dropped_total', 'DNS messages dropped without an answer (too short, a response, over a limit).');
  private readonly truncated = new Counter('skiff_dns_truncated_total', 'Responses sent with TC set (over the UDP size, or over 64 KiB on TCP).');
  private readonly forwarded = new Counter('skiff_dns_forwarded_total', 'Queries relayed to an upstream server.');
  private readonly udp: UdpSocket[] = [];
  private readonly tcp: Server[] = [];
  private readonly conns = new Set<Socket>();
  private readonly upstreams: Upstream[];
  private forwardUdp: { v4: UdpSocket | null; v6: UdpSocket | null } = { v4: null, v6: null };
  private readonly pendingForwards = new Map<number, { host: string; port: number; done: (b: Buffer | null) => void }>();
  private boundPort = 0;
  private tcpForwardSeq = 0;
  private closed = false;

  private constructor(options: DnsServerOptions) {
    this.options = options;
    if (options.listenAddresses.length === 0 || options.listenAddresses.some((a) => isIP(a) === 0)) throw new DnsError('DNS_ERR_BAD_OPTIONS', `listenAddresses ${JSON.stringify(options.listenAddresses)}`);
    if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) throw new DnsError('DNS_ERR_BAD_OPTIONS', `port ${options.port}`);
    if (!(options.udpPayloadBytes >= UDP_CLASSIC_BYTES && options.udpPayloadBytes <= MAX_MESSAGE_BYTES)) throw new DnsError('DNS_ERR_BAD_OPTIONS', `udpPayloadBytes ${options.udpPayloadBytes}`);
    this.upstreams = options.forwarders.map(parseUpstream);
    this.registry.register(this.requests);
    this.registry.register(this.dropped);
    this.registry.register(this.truncated);
    this.registry.register(this.forwarded);
    this.registry.register(new Gauge('skiff_dns_tcp_connections', 'Open DNS TCP connections.', () => this.conns.size));
  }

  /** Binds every address (UDP and TCP) and starts answering. */
  static async start(options: Partial<DnsServerOptions> & { zone: Zone }): Promise<DnsServer> {
    const s = new DnsServer({ ...DNS_SERVER_DEFAULTS, ...options });
    try {
      await s.bindAll();
    } catch (e) {
      await s.close();
      throw e;
    }
    return s;
  }

  /** The port every address listens on (the chosen one when started with port 0). */
  get port(): number {
    return this.boundPort;
  }

  /** Queries answered with `rcode` (a name such as 'NOERROR') over `proto`, for tests and health. */
  count(proto: Transport, rcode: string): number {
    return this.requests.with({ proto, rcode }).value;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    for (const p of this.pendingForwards.values()) p.done(null);
    this.pendingForwards.clear();
    const sockets = [...this.udp, this.forwardUdp.v4, this.forwardUdp.v6].filter((x): x is UdpSocket => x !== null);
    await Promise.all(sockets.map((u) => new Promise<void>((r) => u.close(() => r())).catch(() => undefined)));
    await Promise.all(this.tcp.map((t) => new Promise<void>((r) => t.close(() => r()))));
    this.udp.length = 0;
    this.tcp.length = 0;
  }

  // ------------------------------------------------------------ binding

  private async bindAll(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        let port = this.options.port;
        for (const addr of this.options.listenAddresses) {
          const u = await this.bindUdp(addr, port);
          port = u.address().port;
          this.udp.push(u);
          this.tcp.push(await this.bindTcp(addr, port));
        }
        this.boundPort = port;
        return;
      } catch (e) {
        // With port 0 the UDP port may be taken on TCP or on a later address: try another.
        const inUse = (e as NodeJS.ErrnoException).code === 'EADDRINUSE';
        await this.closeListeners();
        if (!inUse || this.options.port !== 0 || attempt + 1 >= BIND_ATTEMPTS) throw e;
      }
    }
  }

  private async closeListeners(): Promise<void> {
    await Promise.all(this.udp.map((u) => new Promise<void>((r) => u.close(() => r()))));
    await Promise.all(this.tcp.map((t) => new Promise<void>((r) => t.close(() => r()))));
    this.udp.length = 0;
    this.tcp.length = 0;
  }

  private bindUdp(address: string, port: number): Promise<UdpSocket> {
    return new Promise((resolve, reject) => {
      const u = createSocket(isIP(address) === 6 ? 'udp6' : 'udp4');
      u.once('error', reject);
      u.bind({ address, port, exclusive: true }, () => {
        u.off('error', reject);
        u.on('error', (e) => this.options.logger?.warn({ err: e }, 'dns: udp socket error'));
        u.on('message', (msg, rinfo) => this.onUdp(u, msg, rinfo));
        resolve(u);
      });
    });
  }

  private bindTcp(address: string, port: number): Promise<Server> {
    return new Promise((resolve, reject) => {
      const t = createServer({ pauseOnConnect: false }, (sock) => this.onTcpConnection(sock));
      t.once('error', reject);
      t.listen({ host: address, port, exclusive: true }, () => {
        t.off('error', reject);
        t.on('error', (e) => this.options.logger?.warn({ err: e }, 'dns: tcp server error'));
        resolve(t);
      });
    });
  }

  // ------------------------------------------------------------ transports

  private onUdp(sock: UdpSocket, msg: Buffer, rinfo: RemoteInfo): void {
    void this.answer(msg, 'udp').then((out) => {
      if (out && !this.closed) sock.send(out, rinfo.port, rinfo.address);
    }, (e) => this.options.logger?.error({ err: e }, 'dns: answering failed'));
  }

  private onTcpConnection(sock: Socket): void {
    if (this.closed || this.conns.size >= this.options.maxTcpConnections) {
      this.dropped.inc();
      sock.destroy();
      return;
    }
    this.conns.add(sock);
    sock.setNoDelay(true);
    sock.setTimeout(this.options.tcpIdleTimeoutMs, () => sock.destroy());
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.conns.delete(sock));
    let buf: Buffer = Buffer.alloc(0);
    let inFlight = 0;
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      // One message and the next one's start at most: framing bounds what we hold.
      if (buf.length > 2 * (MAX_MESSAGE_BYTES + 2)) {
        this.dropped.inc();
        sock.destroy();
        return;
      }
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        inFlight++;
        if (inFlight >= this.options.maxTcpQueriesInFlightPerConnection) sock.pause();
        void this.answer(Buffer.from(msg), 'tcp').then((out) => {
          inFlight--;
          if (sock.isPaused() && inFlight < this.options.maxTcpQueriesInFlightPerConnection) sock.resume();
          if (!out || sock.destroyed) return;
          const framed = Buffer.alloc(2 + out.length);
          framed.writeUInt16BE(out.length, 0);
          out.copy(framed, 2);
          sock.write(framed);
        }, (e) => {
          this.options.logger?.error({ err: e }, 'dns: answering failed');
          sock.destroy();
        });
      }
    });
  }

  // ------------------------------------------------------------ answering

  /** Query bytes → response bytes, or null to drop. Never rejects. */
  private async answer(msg: Buffer, proto: Transport): Promise<Buffer | null> {
    let header;
    try {
      header = decodeHeader(msg);
    } catch {
      this.dropped.inc();
      return null;
    }
    if (header.qr) {
      this.dropped.inc();
      return null;
    }
    let q: DnsMessage;
    try {
      q = decodeMessage(msg);
    } catch (e) {
      if (!isDnsError(e)) throw e;
      this.options.logger?.debug({ code: e.code, detail: e.detail, proto }, 'dns: malformed query');
      const r = emptyMessage(header.id);
      Object.assign(r, { qr: true, opcode: header.opcode, rd: header.rd, rcode: RCode.FORMERR });
      return this.finish(r, proto, UDP_CLASSIC_BYTES);
    }
    const r = emptyMessage(q.id);
    Object.assign(r, { qr: true, opcode: q.opcode, rd: q.rd, cd: q.cd, ra: this.upstreams.length > 0, questions: q.questions });
    r.edns = q.edns ? { udpSize: this.options.udpPayloadBytes, version: 0, dnssecOk: false } : null;
    const limit = proto === 'tcp' ? MAX_MESSAGE_BYTES : q.edns ? Math.max(UDP_CLASSIC_BYTES, Math.min(q.edns.udpSize, this.options.udpPayloadBytes)) : UDP_CLASSIC_BYTES;
    if (q.opcode !== 0) return this.finish(Object.assign(r, { rcode: RCode.NOTIMP }), proto, limit);
    if (q.questions.length !== 1) return this.finish(Object.assign(r, { rcode: RCode.FORMERR }), proto, limit);
    if (q.edns && q.edns.version > 0) return this.finish(Object.assign(r, { rcode: RCode.BADVERS }), proto, limit);
    const question = q.questions[0]!;
    if (question.class !== CLASS_IN && question.class !== RRType.ANY) return this.finish(Object.assign(r, { rcode: RCode.REFUSED }), proto, limit);
    if (question.type === 251 || question.type === 252) return this.finish(Object.assign(r, { rcode: RCode.NOTIMP }), proto, limit); // IXFR, AXFR
    const res = this.options.zone.lookup(question.name, question.type);
    if (res.kind === 'outside') {
      if (this.upstreams.length === 0) return this.finish(Object.assign(r, { rcode: RCode.REFUSED }), proto, limit);
      const out = await this.forward(msg, proto);
      if (out) {
        this.forwarded.inc();
        this.requests.with({ proto, rcode: rcodeName(out.length >= 4 ? out.readUInt16BE(2) & 0xf : RCode.SERVFAIL) }).inc();
        return out;
      }
      return this.finish(Object.assign(r, { rcode: RCode.SERVFAIL }), proto, limit);
    }
    Object.assign(r, { aa: true, rcode: res.rcode, answers: res.answers, authority: res.authority, additional: res.additional });
    return this.finish(r, proto, limit);
  }

  /**
   * Encodes within `limit`: first without the optional additional section;
   * then over UDP an empty answer with TC (the client retries over TCP), over
   * TCP as many answers as fit in 65,535 octets, with TC.
   */
  private finish(r: DnsMessage, proto: Transport, limit: number): Buffer {
    let out = tryEncode(r, limit);
    if (!out && r.additional.length > 0) {
      r.additional = [];
      out = tryEncode(r, limit);
    }
    if (!out) {
      const all = r.answers;
      Object.assign(r, { tc: true, answers: [], authority: [] });
      out = encodeMessage(r); // the question fits: it came in a message of at most this size
      for (let lo = 0, hi = proto === 'tcp' ? all.length : 0; lo < hi; ) {
        const mid = Math.ceil((lo + hi) / 2);
        r.answers = all.slice(0, mid);
        const b = tryEncode(r, limit);
        if (b) [lo, out] = [mid, b];
        else hi = mid - 1;
      }
      this.truncated.inc();
    }
    this.requests.with({ proto, rcode: rcodeName(r.rcode) }).inc();
    return out;
  }

  // ------------------------------------------------------------ forwarding

  private async forward(query: Buffer, proto: Transport): Promise<Buffer | null> {
    if (this.pendingForwards.size >= this.options.maxForwardsInFlight) return null;
    for (const up of this.upstreams) {
      const out = proto === 'udp' ? await this.forwardUdpOnce(query, up) : await this.forwardTcpOnce(query, up);
      if (this.closed) return null;
      if (out) return out;
    }
    return null;
  }

  private forwardSocket(host: string): UdpSocket {
    const fam = isIP(host) === 6 ? 'v6' : 'v4';
    let s = this.forwardUdp[fam];
    if (!s) {
      s = createSocket(fam === 'v6' ? 'udp6' : 'udp4');
      s.on('error', (e) => this.options.logger?.warn({ err: e }, 'dns: forward socket error'));
      s.on('message', (msg, rinfo) => {
        if (msg.length < 12) return;
        const p = this.pendingForwards.get(msg.readUInt16BE(0));
        if (p && p.host === rinfo.address && p.port === rinfo.port) p.done(msg);
      });
      s.bind(0);
      this.forwardUdp[fam] = s;
    }
    return s;
  }

  /** Relays over UDP under a fresh id (so concurrent clients' ids cannot collide), restoring the client's. */
  private forwardUdpOnce(query: Buffer, up: Upstream): Promise<Buffer | null> {
    const clientId = query.readUInt16BE(0);
    let id = randomInt(0, 0x10000);
    for (let i = 0; this.pendingForwards.has(id) && i < 16; i++) id = randomInt(0, 0x10000);
    if (this.pendingForwards.has(id)) return Promise.resolve(null);
    const out = Buffer.from(query);
    out.writeUInt16BE(id, 0);
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(null), this.options.forwardTimeoutMs);
      const done = (b: Buffer | null) => {
        clearTimeout(timer);
        this.pendingForwards.delete(id);
        if (b) b.writeUInt16BE(clientId, 0);
        resolve(b);
      };
      this.pendingForwards.set(id, { host: up.host, port: up.port, done });
      this.forwardSocket(up.host).send(out, up.port, up.host, (err) => err && done(null));
    });
  }

  private forwardTcpOnce(query: Buffer, up: Upstream): Promise<Buffer | null> {
    return new Promise((resolve) => {
      let buf: Buffer = Buffer.alloc(0);
      const sock = connect({ host: up.host, port: up.port });
      const key = -++this.tcpForwardSeq; // counted against maxForwardsInFlight; negative, so never a wire id
      const done = (b: Buffer | null) => {
        clearTimeout(timer);
        this.pendingForwards.delete(key);
        sock.destroy();
        resolve(b);
      };
      const timer = setTimeout(() => done(null), this.options.forwardTimeoutMs);
      this.pendingForwards.set(key, { host: up.host, port: up.port, done });
      sock.on('error', () => done(null));
      sock.on('connect', () => {
        const framed = Buffer.alloc(2 + query.length);
        framed.writeUInt16BE(query.length, 0);
        query.copy(framed, 2);
        sock.write(framed);
      });
      sock.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) done(Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0))));
      });
      sock.on('end', () => done(null));
    });
  }
}

/** The encoded message, or null when it is longer than `limit` (or than any message can be). */
function tryEncode(r: DnsMessage, limit: number): Buffer | null {
  try {
    const b = encodeMessage(r);
    return b.length <= limit ? b : null;
  } catch (e) {
    if (isDnsError(e, 'DNS_ERR_MESSAGE_TOO_LARGE')) return null;
    throw e;
  }
}

function rcodeName(rcode: number): string {
  return RCode[rcode] ?? String(rcode);
}
