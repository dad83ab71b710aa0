/** Errors of the local image builder, with stable codes. */
export const IMAGES_ERRORS = {
  /** A tar entry name that ustar cannot hold (over 100 bytes, or 255 with a prefix). */
  IMAGES_ERR_NAME_TOO_LONG: 'tar entry name too long for ustar',
  /** A tar entry over the builder's size limit. */
  IMAGES_ERR_TOO_LARGE: 'tar entry too large',
  /** The busybox binary to put in the layer is missing or not a static executable file. */
  IMAGES_ERR_BUSYBOX: 'busybox binary unusable',
  /** An image name the builder refuses (not `host/repo:tag`). */
  IMAGES_ERR_BAD_NAME: 'bad image name',
} as const;

export type ImagesErrorCode = keyof typeof IMAGES_ERRORS;

export class ImagesError extends Error {
  override readonly name = 'ImagesError';

  constructor(
    readonly code: ImagesErrorCode,
    readonly detail = '',
  ) {
    super(detail ? `${IMAGES_ERRORS[code]}: ${detail}` : IMAGES_ERRORS[code]);
  }
}
