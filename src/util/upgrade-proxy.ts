/**
 * An upgrade-aware pass-through, as upstream's UpgradeAwareHandler: an HTTP
 * request carrying `Connection: Upgrade` (kubectl exec/attach: SPDY or
 * WebSocket) is replayed to another server with a new path, and from then
 * on bytes flow both ways untouched — the upstream's 101 and its frames, or
 * its error answer, go back to the client as they come.
 *
 * The client's credentials are not forwarded (the hop authenticates itself,
 * e.g. with a client certificate). Both sockets close together; an idle
 * connection is not timed out here (an interactive shell may sit quiet).
 */
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';

export interface UpgradeTarget {
  host: string;
  port: number;
  /** Path and query on the target. */
  path: string;
  /** TLS towards the target: the client certificate to present (the target's own is not verified, as upstream's default towards kubelets). */
  tls?: { certPem: string; keyPem: string } | null;
}

const CONNECT_TIMEOUT_MS = 10_000;
/** Headers the hop sets itself (or must not pass on). */
const DROP = new Set(['host', 'authorization', 'proxy-authorization', 'content-length', 'transfer-encoding']);

/** Replays `req` to `target` and joins the two connections; `onError` gets a failure before any byte came back. */
export function proxyUpgrade(req: IncomingMessage, client: Duplex, head: Buffer, target: UpgradeTarget, onError: (e: Error) => void): void {
  const upstream = target.tls
    ? tls.connect({ host: target.host, port: target.port, cert: target.tls.certPem, key: target.tls.keyPem, rejectUnauthorized: false, servername: net.isIP(target.host) ? undefined : target.host })
    : net.connect({ host: target.host, port: target.port });
  let answered = false;
  const timer = setTimeout(() => upstream.destroy(new Error(`no connection to ${target.host}:${target.port} within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
  upstream.once(target.tls ? 'secureConnect' : 'connect', () => {
    clearTimeout(timer);
    const lines = [`${req.method ?? 'GET'} ${target.path} HTTP/1.1`, `Host: ${net.isIPv6(target.host) ? `[${target.host}]` : target.host}:${target.port}`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!;
      if (!DROP.has(name.toLowerCase())) lines.push(`${name}: ${req.rawHeaders[i + 1]}`);
    }
    upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  upstream.once('data', () => (answered = true));
  upstream.on('error', (e) => {
    clearTimeout(timer);
    if (!answered) onError(e);
    client.destroy();
  });
  client.on('error', () => upstream.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
}

/** Writes a plain HTTP error answer on a socket that was asking to upgrade, then closes it. */
export function refuseUpgrade(socket: Duplex, code: number, reason: string, body: string, contentType = 'application/json'): void {
  if (socket.destroyed) return;
  socket.end(`HTTP/1.1 ${code} ${reason}\r\nContent-Type: ${contentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
