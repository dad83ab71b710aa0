/**
 * Errors of the kubelet, with stable codes. Most end up in a Pod's status
 * (a container's waiting reason and message) rather than in a log: the code
 * says which reason.
 */
export const KUBELET_ERRORS = {
  /** The container's configuration cannot be made: a missing ConfigMap/Secret/key, an unsupported field. */
  KUBELET_ERR_CONFIG: 'cannot make the container configuration',
  /** A volume cannot be prepared (missing source, hostPath of the wrong type, a write failed). */
  KUBELET_ERR_VOLUME: 'cannot prepare a volume',
  /** The image is not on the node and cannot be pulled. */
  KUBELET_ERR_IMAGE: 'cannot get the image',
  /** The runtime failed to create or start something. */
  KUBELET_ERR_RUNTIME: 'the container runtime failed',
  /** A request to the kubelet's own HTTP endpoints is invalid. */
  KUBELET_ERR_BAD_REQUEST: 'bad request',
} as const;

export type KubeletErrorCode = keyof typeof KUBELET_ERRORS;

export class KubeletError extends Error {
  override readonly name = 'KubeletError';
  constructor(
    readonly code: KubeletErrorCode,
    readonly detail = '',
  ) {
    super(detail || KUBELET_ERRORS[code]);
  }
}

export function isKubeletError(e: unknown, code?: KubeletErrorCode): e is KubeletError {
  return e instanceof KubeletError && (code === undefined || e.code === code);
}
