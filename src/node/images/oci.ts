/**
 * Container images without a registry: OCI image layouts in tar files, built
 * from the host's static busybox, for `ctr image import` (RECIPES.md, "Images
 * without a registry"). One uncompressed layer (busybox + applet symlinks,
 * /etc/passwd, /etc/group, /www/index.html) is shared by two images that
 * differ only in their command: `busybox` (`/bin/sh`) and `pause`
 * (`/bin/sleep 2147483647`, a sandbox image that works with CRI while the pod
 * PID namespace is off). Output is byte-for-byte reproducible for a given
 * busybox binary, so digests are stable across runs and hosts.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImagesError } from './errors.js';
import { writeTar, type TarEntry } from './tar.js';

export const BUSYBOX_IMAGE = 'skiff.local/busybox:1.35';
export const PAUSE_IMAGE = 'skiff.local/pause:1';
/** Where Debian's busybox-static installs the binary. */
export const DEFAULT_BUSYBOX_PATH = '/bin/busybox';
/** The page the busybox image serves with `httpd -f -p 8080 -h /www`. */
export const INDEX_HTML = '<!DOCTYPE html>\n<html><body><h1>Welcome to skiff</h1><p>served by busybox httpd</p></body></html>\n';
/** Applets linked into /bin (the ones tests, probes and the worked example use). */
export const BUSYBOX_APPLETS = [
  'sh', 'ash', 'sleep', 'httpd', 'wget', 'nc', 'cat', 'echo', 'ls', 'ip', 'env', 'ps', 'kill', 'mkdir', 'rm',
  'touch', 'true', 'false', 'test', 'nslookup', 'hostname', 'id', 'date', 'head', 'tail', 'grep', 'sed', 'pwd',
  'wc', 'printf', 'uname', 'ifconfig', 'ping', 'cp', 'mv', 'ln', 'chmod', 'sort', 'tr', 'tee', 'yes', 'timeout', 'seq',
] as const;
/** A static busybox is ~2 MB; refuse anything absurd. */
const BUSYBOX_BYTES_MAX = 64 * 1024 * 1024;

export const MEDIA_TYPES = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface ImageSpec {
  /** Full reference, `host/repo:tag`. */
  name: string;
  cmd: string[];
}

export interface BuiltImage {
  name: string;
  /** The OCI layout tar to give to `ctr image import`. */
  tarPath: string;
  manifest: Descriptor;
  config: Descriptor;
  layer: Descriptor;
}

export function sha256(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function descriptor(mediaType: string, data: Uint8Array): Descriptor {
  return { mediaType, digest: sha256(data), size: data.byteLength };
}

/** OCI architecture name of this host (the busybox binary is the host's). */
export function ociArchitecture(arch: string = process.arch): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return map[arch] ?? arch;
}

function splitRef(name: string): { repo: string; tag: string } {
  const m = /^([a-z0-9]+(?:[._-][a-z0-9]+)*(?:\.[a-z0-9-]+)*(?::[0-9]+)?\/[a-z0-9]+(?:[._/-][a-z0-9]+)*):([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$/.exec(name);
  if (!m) throw new ImagesError('IMAGES_ERR_BAD_NAME', `${name} (want host/repo:tag)`);
  return { repo: m[1] as string, tag: m[2] as string };
}

/** The layer tar: the root filesystem both images share. */
export function buildLayer(busybox: Uint8Array): Buffer {
  const text = (s: string): Uint8Array => Buffer.from(s, 'utf8');
  const entries: TarEntry[] = [
    { type: 'dir', path: 'bin', mode: 0o755 },
    { type: 'file', path: 'bin/busybox', mode: 0o755, data: busybox },
    ...BUSYBOX_APPLETS.map((a): TarEntry => ({ type: 'symlink', path: `bin/${a}`, target: 'busybox' })),
    { type: 'dir', path: 'etc', mode: 0o755 },
    { type: 'file', path: 'etc/passwd', mode: 0o644, data: text('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n') },
    { type: 'file', path: 'etc/group', mode: 0o644, data: text('root:x:0:\nnobody:x:65534:\n') },
    { type: 'dir', path: 'root', mode: 0o700 },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
    { type: 'dir', path: 'www', mode: 0o755 },
    { type: 'file', path: 'www/index.html', mode: 0o644, data: text(INDEX_HTML) },
  ];
  return writeTar(entries);
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** The blobs and index of one image over `layer`: everything its OCI layout tar holds. */
export function buildImageLayout(spec: ImageSpec, layer: Uint8Array): { tar: Buffer; manifest: Descriptor; config: Descriptor; layer: Descriptor } {
  const { tag } = splitRef(spec.name);
  if (spec.cmd.length === 0) throw new ImagesError('IMAGES_ERR_BAD_NAME', `${spec.name}: empty Cmd`);
  const layerDesc = descriptor(MEDIA_TYPES.layer, layer);
  const config = json({
    architecture: ociArchitecture(),
    os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: spec.cmd, WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: [layerDesc.digest] },
    history: [{ created_by: 'skiff: busybox-static layer' }],
  });
  const configDesc = descriptor(MEDIA_TYPES.config, config);
  const manifest = json({ schemaVersion: 2, mediaType: MEDIA_TYPES.manifest, config: configDesc, layers: [layerDesc] });
  const manifestDesc = descriptor(MEDIA_TYPES.manifest, manifest);
  const index = json({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.index,
    manifests: [
      {
        ...manifestDesc,
        platform: { architecture: ociArchitecture(), os: 'linux' },
        annotations: { 'io.containerd.image.name': spec.name, 'org.opencontainers.image.ref.name': tag },
      },
    ],
  });
  const blob = (d: Descriptor, data: Uint8Array): TarEntry => ({ type: 'file', path: `blobs/sha256/${d.digest.slice('sha256:'.length)}`, mode: 0o644, data });
  const tar = writeTar([
    { type: 'file', path: 'oci-layout', mode: 0o644, data: json({ imageLayoutVersion: '1.0.0' }) },
    { type: 'file', path: 'index.json', mode: 0o644, data: index },
    { type: 'dir', path: 'blobs', mode: 0o755 },
    { type: 'dir', path: 'blobs/sha256', mode: 0o755 },
    blob(layerDesc, layer),
    blob(configDesc, config),
    blob(manifestDesc, manifest),
  ]);
  return { tar, manifest: manifestDesc, config: configDesc, layer: layerDesc };
}

export interface BuildImagesOptions {
  busyboxPath?: string;
}

/** The images skiff's tests and local clusters use. */
export const SKIFF_IMAGES: readonly ImageSpec[] = [
  { name: BUSYBOX_IMAGE, cmd: ['/bin/sh'] },
  { name: PAUSE_IMAGE, cmd: ['/bin/sleep', '2147483647'] },
];

async function readBusybox(path: string): Promise<Buffer> {
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new ImagesError('IMAGES_ERR_BUSYBOX', `${path} is not a file`);
    size = s.size;
  } catch (err) {
    if (err instanceof ImagesError) throw err;
    throw new ImagesError('IMAGES_ERR_BUSYBOX', `${path}: ${(err as Error).message} (apt-get install busybox-static)`);
  }
  if (size > BUSYBOX_BYTES_MAX) throw new ImagesError('IMAGES_ERR_BUSYBOX', `${path}: ${size} bytes`);
  const data = await readFile(path);
  // ELF magic; a dynamically linked busybox would not run in an image without libc.
  if (data.subarray(0, 4).toString('latin1') !== '\x7fELF') throw new ImagesError('IMAGES_ERR_BUSYBOX', `${path} is not an ELF executable`);
  if (data.includes(Buffer.from('/lib64/ld-linux')) || data.includes(Buffer.from('/lib/ld-linux'))) {
    throw new ImagesError('IMAGES_ERR_BUSYBOX', `${path} is dynamically linked (apt-get install busybox-static)`);
  }
  return data;
}

/**
 * Writes one OCI layout tar per image in SKIFF_IMAGES (or `images`) into
 * `dir` (created if needed; files replaced atomically) and returns where they
 * are and their digests.
 */
export async function buildImageTars(dir: string, options: BuildImagesOptions = {}, images: readonly ImageSpec[] = SKIFF_IMAGES): Promise<BuiltImage[]> {
  const layer = buildLayer(await readBusybox(options.busyboxPath ?? DEFAULT_BUSYBOX_PATH));
  await mkdir(dir, { recursive: true });
  const out: BuiltImage[] = [];
  for (const spec of images) {
    const built = buildImageLayout(spec, layer);
    const { repo, tag } = splitRef(spec.name);
    const tarPath = join(dir, `${repo.replace(/[/:]/g, '_')}_${tag}.oci.tar`);
    const tmp = `${tarPath}.${process.pid}.tmp`;
    await writeFile(tmp, built.tar);
    await rename(tmp, tarPath);
    out.push({ name: spec.name, tarPath, manifest: built.manifest, config: built.config, layer: built.layer });
  }
  return out;
}
