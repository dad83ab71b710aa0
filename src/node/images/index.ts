/**
 * Local container images for tests and local clusters: OCI layout tars built
 * from the host's busybox-static, imported with `ctr image import` (no
 * registry). See oci.ts.
 */
export {
  BUSYBOX_APPLETS,
  BUSYBOX_IMAGE,
  DEFAULT_BUSYBOX_PATH,
  INDEX_HTML,
  MEDIA_TYPES,
  PAUSE_IMAGE,
  SKIFF_IMAGES,
  buildImageLayout,
  buildImageTars,
  buildLayer,
  ociArchitecture,
  sha256,
} from './oci.js';
export type { BuildImagesOptions, BuiltImage, Descriptor, ImageSpec } from './oci.js';
export { TAR_BLOCK_BYTES, TAR_ENTRY_BYTES_MAX, writeTar } from './tar.js';
export type { TarEntry, TarOptions } from './tar.js';
export { IMAGES_ERRORS, ImagesError } from './errors.js';
export type { ImagesErrorCode } from './errors.js';
