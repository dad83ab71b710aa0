/**
 * Authentication: who is asking. A bearer token from the token file
 * (upstream's `--token-auth-file` CSV: `token,user,uid,"group1,group2"`), or
 * a client certificate signed by the cluster CA (CN = user, O = groups), as
 * kube-apiserver does. Anonymous requests are refused (401) unless the
 * server runs with `--insecure-http`, which is for tests only.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

export interface UserInfo {
  name: string;
  uid: string;
  groups: string[];
}

/** Token files are read whole; this bounds them. */
export const TOKEN_FILE_BYTES_MAX = 16 * 1024 * 1024;

export class TokenFileError extends Error {
  override readonly name = 'TokenFileError';
  readonly code = 'API_ERR_TOKEN_FILE';
}

/** Splits one CSV line, honouring double quotes (a group list is quoted). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '"') {
      if (quoted && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else quoted = !quoted;
    } else if (c === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.map((f) => f.trim());
}

export function parseTokenFile(text: string, source = 'token file'): Map<string, UserInfo> {
  const tokens = new Map<string, UserInfo>();
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const f = csvFields(line);
    if (f.length < 3 || !f[0] || !f[1]) throw new TokenFileError(`${source}:${i + 1}: want token,user,uid[,"group,..."]`);
    tokens.set(f[0], { name: f[1], uid: f[2]!, groups: f[3] ? f[3].split(',').map((g) => g.trim()).filter(Boolean) : [] });
  });
  return tokens;
}

export function loadTokenFile(path: string): Map<string, UserInfo> {
  const text = readFileSync(path, 'utf8');
  if (text.length > TOKEN_FILE_BYTES_MAX) throw new TokenFileError(`${path}: larger than ${TOKEN_FILE_BYTES_MAX} bytes`);
  return parseTokenFile(text, path);
}

export interface Authenticator {
  authenticate(req: IncomingMessage): UserInfo | null;
}

/** The user of a client certificate, per TLS connection: the certificate cannot change on it, and parsing it costs. */
const certUsers = new WeakMap<TLSSocket, UserInfo | null>();

function certificateUser(sock: TLSSocket): UserInfo | null {
  const known = certUsers.get(sock);
  if (known !== undefined) return known;
  let user: UserInfo | null = null;
  const cert = sock.getPeerCertificate();
  const cn = cert?.subject?.CN;
  if (typeof cn === 'string' && cn) {
    const o = cert.subject.O;
    user = { name: cn, uid: '', groups: [...(Array.isArray(o) ? o : o ? [o] : []), 'system:authenticated'] };
  }
  certUsers.set(sock, user);
  return user;
}

export function authenticator(tokens: Map<string, UserInfo>, allowAnonymous: boolean): Authenticator {
  return {
    authenticate(req: IncomingMessage): UserInfo | null {
      const h = req.headers.authorization;
      if (h && /^bearer /i.test(h)) {
        const u = tokens.get(h.slice(7).trim());
        if (u) return u;
        return null; // a wrong token is refused even where anonymous access is allowed, as upstream
      }
      const sock = req.socket as TLSSocket;
      if (sock.encrypted && sock.authorized) {
        const user = certificateUser(sock);
        if (user) return user;
      }
      if (allowAnonymous) return { name: 'system:anonymous', uid: '', groups: ['system:unauthenticated'] };
      return null;
    },
  };
}
