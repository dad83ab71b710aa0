/**
 * Pod volumes on the node: each volume becomes a host directory (or a host
 * path) that the runtime bind-mounts into the containers that mount it.
 *
 * - emptyDir: a fresh directory under the pod's dir, gone with the pod;
 * - hostPath: the host's path, checked (or made) per its `type`;
 * - configMap, secret, downwardAPI, projected (of those): files written
 *   atomically as upstream's AtomicWriter does (a `..data` symlink to a
 *   timestamped dir, a symlink per top-level name), so a later rewrite is
 *   seen whole by readers.
 * Anything else (PVCs, cloud disks) fails with a clear reason.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import type { Mount } from '../cri/index.js';
import type { Json } from '../api/index.js';
import { intValue, milliValue } from '../../util/quantity.js';
import { KubeletError } from './errors.js';

/** Bounds what a configMap/secret/downwardAPI volume may write. */
export const VOLUME_FILES_MAX = 1024;
export const VOLUME_BYTES_MAX = 16 << 20;

export interface VolumeSources {
  configMap(namespace: string, name: string): Promise<Json | null>;
  secret(namespace: string, name: string): Promise<Json | null>;
}

export interface PreparedVolumes {
  /** Host path of each volume, by volume name. */
  paths: Map<string, string>;
  /** Volumes that are read-only whatever the mount says (secret, configMap, downwardAPI, projected). */
  readOnly: Set<string>;
}

export function podDir(root: string, uid: string): string {
  return join(root, 'pods', uid);
}

function volumeDir(root: string, uid: string, plugin: string, name: string): string {
  return join(podDir(root, uid), 'volumes', plugin, name);
}

type FileSet = Map<string, { data: Buffer; mode: number }>;

function checkPath(p: string): string {
  const n = normalize(p);
  if (!p || isAbsolute(p) || n.startsWith('..') || n.split('/').some((s) => s === '..' || s.startsWith('..'))) {
    throw new KubeletError('KUBELET_ERR_VOLUME', `invalid item path ${JSON.stringify(p)}`);
  }
  return n;
}

function addFile(files: FileSet, path: string, data: Buffer, mode: number): void {
  if (files.size >= VOLUME_FILES_MAX) throw new KubeletError('KUBELET_ERR_VOLUME', `more than ${VOLUME_FILES_MAX} files in one volume`);
  files.set(checkPath(path), { data, mode });
}

/** Keys of a ConfigMap or Secret as bytes. */
function entries(obj: Json, secret: boolean): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(obj.data ?? {})) if (typeof v === 'string') out.set(k, secret ? Buffer.from(v, 'base64') : Buffer.from(v, 'utf8'));
  if (!secret) for (const [k, v] of Object.entries(obj.binaryData ?? {})) if (typeof v === 'string') out.set(k, Buffer.from(v, 'base64'));
  return out;
}

function projectKeys(files: FileSet, what: string, data: Map<string, Buffer>, items: Json[] | undefined, defaultMode: number, optional: boolean): void {
  if (!items?.length) {
    for (const [k, v] of data) addFile(files, k, v, defaultMode);
    return;
  }
  for (const it of items) {
    const v = data.get(it.key);
    if (v === undefined) {
      if (optional) continue;
      throw new KubeletError('KUBELET_ERR_VOLUME', `configuration error: key ${JSON.stringify(it.key)} not found in ${what}`);
    }
    addFile(files, it.path ?? it.key, v, typeof it.mode === 'number' ? it.mode : defaultMode);
  }
}

function downwardValue(pod: Json, item: Json, nodeName: string): string {
  if (item.fieldRef) {
    const path: string = item.fieldRef.fieldPath;
    const fmt = (m: Record<string, string> | undefined) =>
      Object.entries(m ?? {})
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join('\n');
    if (path === 'metadata.labels') return fmt(pod.metadata.labels);
    if (path === 'metadata.annotations') return fmt(pod.metadata.annotations);
    const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
    if (m) return String(pod.metadata?.[m[1]!]?.[m[2]!] ?? '');
    if (path === 'metadata.name') return pod.metadata.name;
    if (path === 'metadata.namespace') return pod.metadata.namespace;
    if (path === 'metadata.uid') return pod.metadata.uid;
    if (path === 'spec.nodeName') return nodeName;
    throw new KubeletError('KUBELET_ERR_VOLUME', `unsupported downwardAPI fieldPath ${JSON.stringify(path)}`);
  }
  if (item.resourceFieldRef) {
    const ctr = (pod.spec?.containers ?? []).find((c: Json) => c.name === item.resourceFieldRef.containerName) ?? pod.spec?.containers?.[0];
    const [kind, name] = String(item.resourceFieldRef.resource).split('.') as [string, string];
    const q = ctr?.resources?.[kind === 'limits' ? 'limits' : 'requests']?.[name] ?? '0';
    return String(name === 'cpu' ? Math.ceil(milliValue(q) / Math.max(1, milliValue(item.resourceFieldRef.divisor ?? '1'))) : intValue(q));
  }
  throw new KubeletError('KUBELET_ERR_VOLUME', 'a downwardAPI item needs fieldRef or resourceFieldRef');
}

/**
 * Writes `files` into `dir` atomically: a new timestamped dir, then the
 * `..data` symlink swapped to it, then a symlink per top-level name. Old
 * payloads and names no longer present are removed.
 */
export function atomicWrite(dir: string, files: FileSet): void {
  let total = 0;
  for (const f of files.values()) total += f.data.length;
  if (total > VOLUME_BYTES_MAX) throw new KubeletError('KUBELET_ERR_VOLUME', `volume content of ${total} bytes exceeds ${VOLUME_BYTES_MAX}`);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const payload = `..${new Date().toISOString().replace(/[:.]/g, '_')}_${process.hrtime.bigint() % 1000000n}`;
  const target = join(dir, payload);
  mkdirSync(target, { mode: 0o755 });
  for (const [path, f] of files) {
    const p = join(target, path);
    mkdirSync(dirname(p), { recursive: true, mode: 0o755 });
    writeFileSync(p, f.data, { mode: f.mode & 0o777 });
    chmodSync(p, f.mode & 0o777);
  }
  const tmpLink = join(dir, '..data_tmp');
  rmSync(tmpLink, { force: true });
  symlinkSync(payload, tmpLink);
  renameSync(tmpLink, join(dir, '..data'));
  const tops = new Set([...files.keys()].map((p) => p.split('/')[0]!));
  for (const t of tops) {
    const link = join(dir, t);
    if (existsSync(link) || isLink(link)) continue;
    symlinkSync(join('..data', t), link);
  }
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === '..data' || name === payload) continue;
    if (name.startsWith('..')) rmSync(p, { recursive: true, force: true });
    else if (!tops.has(name) && isLink(p)) rmSync(p, { force: true });
  }
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

function hostPathCheck(path: string, type: string): void {
  if (!isAbsolute(path)) throw new KubeletError('KUBELET_ERR_VOLUME', `hostPath ${JSON.stringify(path)} is not absolute`);
  const st = (() => {
    try {
      return statSync(path);
    } catch {
      return null;
    }
  })();
  const fail = (what: string) => {
    throw new KubeletError('KUBELET_ERR_VOLUME', `hostPath type check failed: ${path} is not ${what}`);
  };
  switch (type) {
    case '':
      return;
    case 'DirectoryOrCreate':
      if (!st) mkdirSync(path, { recursive: true, mode: 0o755 });
      else if (!st.isDirectory()) fail('a directory');
      return;
    case 'Directory':
      if (!st?.isDirectory()) fail('a directory');
      return;
    case 'FileOrCreate':
      if (!st) writeFileSync(path, '', { mode: 0o644, flag: 'a' });
      else if (!st.isFile()) fail('a file');
      return;
    case 'File':
      if (!st?.isFile()) fail('a file');
      return;
    case 'Socket':
      if (!st?.isSocket()) fail('a socket');
      return;
    case 'CharDevice':
      if (!st?.isCharacterDevice()) fail('a character device');
      return;
    case 'BlockDevice':
      if (!st?.isBlockDevice()) fail('a block device');
      return;
    default:
      throw new KubeletError('KUBELET_ERR_VOLUME', `unknown hostPath type ${JSON.stringify(type)}`);
  }
}

/** Prepares every volume of the pod (idempotent: emptyDirs keep their content, the others are refreshed). */
export async function prepareVolumes(root: string, pod: Json, nodeName: string, src: VolumeSources): Promise<PreparedVolumes> {
  const uid: string = pod.metadata.uid;
  const ns: string = pod.metadata.namespace;
  const paths = new Map<string, string>();
  const readOnly = new Set<string>();
  for (const v of (pod.spec?.volumes ?? []) as Json[]) {
    const name: string = v.name;
    if (v.emptyDir) {
      const d = volumeDir(root, uid, 'kubernetes.io~empty-dir', name);
      mkdirSync(d, { recursive: true });
      chmodSync(d, 0o777);
      paths.set(name, d);
    } else if (v.hostPath) {
      hostPathCheck(v.hostPath.path, v.hostPath.type ?? '');
      paths.set(name, v.hostPath.path);
    } else if (v.configMap || v.secret || v.downwardAPI || v.projected) {
      const files: FileSet = new Map();
      const plugin = v.configMap ? 'configmap' : v.secret ? 'secret' : v.downwardAPI ? 'downward-api' : 'projected';
      const sources: Json[] = v.projected ? (v.projected.sources ?? []) : [v.configMap ? { configMap: v.configMap } : v.secret ? { secret: v.secret } : { downwardAPI: v.downwardAPI }];
      const defaultMode = (v.projected ?? v.configMap ?? v.secret ?? v.downwardAPI).defaultMode ?? 0o644;
      for (const s of sources) {
        if (s.configMap) {
          const cmName = s.configMap.name;
          const cm = await src.configMap(ns, cmName);
          if (!cm) {
            if (s.configMap.optional) continue;
            throw new KubeletError('KUBELET_ERR_VOLUME', `configmap "${cmName}" not found`);
          }
          projectKeys(files, `ConfigMap ${ns}/${cmName}`, entries(cm, false), s.configMap.items, s.configMap.defaultMode ?? defaultMode, s.configMap.optional === true);
        } else if (s.secret) {
          const secName = s.secret.secretName ?? s.secret.name;
          const sec = await src.secret(ns, secName);
          if (!sec) {
            if (s.secret.optional) continue;
            throw new KubeletError('KUBELET_ERR_VOLUME', `secret "${secName}" not found`);
          }
          projectKeys(files, `Secret ${ns}/${secName}`, entries(sec, true), s.secret.items, s.secret.defaultMode ?? defaultMode, s.secret.optional === true);
        } else if (s.downwardAPI) {
          for (const it of s.downwardAPI.items ?? []) addFile(files, it.path, Buffer.from(downwardValue(pod, it, nodeName)), typeof it.mode === 'number' ? it.mode : defaultMode);
        } else if (s.serviceAccountToken) {
          // No token issuer yet: the projection is left out (the pod still starts).
          continue;
        }
      }
      const d = volumeDir(root, uid, `kubernetes.io~${plugin}`, name);
      atomicWrite(d, files);
      paths.set(name, d);
      readOnly.add(name);
    } else {
      const kind = Object.keys(v).find((k) => k !== 'name') ?? 'unknown';
      throw new KubeletError('KUBELET_ERR_VOLUME', `volume ${JSON.stringify(name)}: ${kind} volumes are not supported on skiff nodes`);
    }
  }
  return { paths, readOnly };
}

/** The CRI mounts of one container, from its volumeMounts. */
export function containerMounts(ctr: Json, vols: PreparedVolumes): Mount[] {
  const out: Mount[] = [];
  for (const m of (ctr.volumeMounts ?? []) as Json[]) {
    const base = vols.paths.get(m.name);
    if (!base) throw new KubeletError('KUBELET_ERR_VOLUME', `container ${ctr.name}: volumeMount ${JSON.stringify(m.name)} names no volume`);
    let hostPath = base;
    if (m.subPath) {
      hostPath = join(base, checkPath(m.subPath));
      if (!existsSync(hostPath)) mkdirSync(hostPath, { recursive: true, mode: 0o755 });
    }
    out.push({ containerPath: m.mountPath, hostPath, readonly: m.readOnly === true || vols.readOnly.has(m.name), propagation: 'PROPAGATION_PRIVATE' });
  }
  return out;
}

/** Removes the pod's directory (its emptyDirs and projected files) once its containers are gone. */
export function removePodDir(root: string, uid: string): void {
  if (!/^[A-Za-z0-9-]+$/.test(uid)) return;
  rmSync(podDir(root, uid), { recursive: true, force: true });
}
