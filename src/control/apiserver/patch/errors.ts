/**
 * Every error a PATCH body can produce, with a stable skiff code and the HTTP
 * status and Kubernetes `Status.reason` kube-apiserver answers with for the
 * same mistake (k8s.io/apiserver `pkg/endpoints/handlers/patch.go`):
 *
 * - 400 BadRequest: the body does not have the shape of its patch type
 *   (a JSON patch that is not an array of objects, a merge or strategic patch
 *   that is not an object), and the strategic directives upstream classifies
 *   as bad format (`ErrBadPatchFormatFor{PrimitiveList,RetainKeys,
 *   SetElementOrderList}`).
 * - 413 RequestEntityTooLarge: more than `maxJSONPatchOperations` (10,000).
 * - 415 UnsupportedMediaType: strategic merge patch for a kind without patch
 *   metadata (upstream refuses it for custom resources this way).
 * - 422 Invalid: a JSON patch that decodes but does not apply (unknown op,
 *   missing path, failed test, copy limit), and `ErrNoListOfLists`.
 * - 500 InternalError: strategic merge patch mistakes that escape upstream as
 *   untyped Go errors (missing merge key, unknown `$patch` value, mismatched
 *   element types, `$setElementOrder` not matching its list). kubectl prints
 *   them as `Error from server: <message>`; we keep the status for fidelity.
 */

/** A Kubernetes `metav1.StatusReason`, for the Status object the API server builds. */
export type PatchStatusReason =
  | 'BadRequest'
  | 'RequestEntityTooLarge'
  | 'UnsupportedMediaType'
  | 'Invalid'
  | 'InternalError';

export const PATCH_ERRORS = {
  /** The body is not of its patch type's shape. */
  PATCH_ERR_MALFORMED: [400, 'BadRequest'],
  /** Misuse of `$setElementOrder/`, `$deleteFromPrimitiveList/` or `$retainKeys`. */
  PATCH_ERR_BAD_DIRECTIVE: [400, 'BadRequest'],
  /** Nesting deeper than the limit (upstream's JSON decoder refuses deep input). */
  PATCH_ERR_TOO_DEEP: [400, 'BadRequest'],
  PATCH_ERR_TOO_MANY_OPERATIONS: [413, 'RequestEntityTooLarge'],
  PATCH_ERR_UNSUPPORTED_KIND: [415, 'UnsupportedMediaType'],
  /** A JSON patch operation that is not add/remove/replace/move/copy/test or lacks a member. */
  PATCH_ERR_INVALID_OP: [422, 'Invalid'],
  /** A JSON pointer that is malformed or names no location in the document. */
  PATCH_ERR_PATH: [422, 'Invalid'],
  PATCH_ERR_TEST_FAILED: [422, 'Invalid'],
  /** The values `copy` operations duplicated exceed the byte limit. */
  PATCH_ERR_COPY_TOO_LARGE: [422, 'Invalid'],
  PATCH_ERR_LIST_OF_LISTS: [422, 'Invalid'],
  PATCH_ERR_MERGE_KEY_MISSING: [500, 'InternalError'],
  /** `$patch` with a value other than the ones allowed where it appears. */
  PATCH_ERR_UNKNOWN_DIRECTIVE: [500, 'InternalError'],
  /** Values that cannot be merged: mixed list element types, a scalar merge key expected. */
  PATCH_ERR_TYPE_MISMATCH: [500, 'InternalError'],
  /** A `$setElementOrder/` list that does not contain the patch list in order. */
  PATCH_ERR_ORDER_MISMATCH: [500, 'InternalError'],
} as const satisfies Record<string, readonly [number, PatchStatusReason]>;

export type PatchErrorCode = keyof typeof PATCH_ERRORS;

export class PatchError extends Error {
  override readonly name = 'PatchError';
  /** HTTP status kube-apiserver answers with for this mistake. */
  readonly httpStatus: number;
  readonly reason: PatchStatusReason;

  constructor(
    readonly code: PatchErrorCode,
    message: string,
  ) {
    super(message);
    this.httpStatus = PATCH_ERRORS[code][0];
    this.reason = PATCH_ERRORS[code][1];
  }
}

export function isPatchError(e: unknown, code?: PatchErrorCode): e is PatchError {
  return e instanceof PatchError && (code === undefined || e.code === code);
}
