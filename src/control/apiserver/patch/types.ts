/** A value as `JSON.parse` returns it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** The PATCH types kube-apiserver accepts; the values are the request content types. */
export enum PatchType {
  Json = 'application/json-patch+json',
  Merge = 'application/merge-patch+json',
  StrategicMerge = 'application/strategic-merge-patch+json',
}

/** Maps a `Content-Type` header (parameters such as `; charset=utf-8` allowed) to its patch type. */
export function patchTypeFromContentType(contentType: string): PatchType | undefined {
  const mediaType = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return (Object.values(PatchType) as string[]).includes(mediaType) ? (mediaType as PatchType) : undefined;
}

/** kube-apiserver's `maxJSONPatchOperations`. */
export const MAX_JSON_PATCH_OPERATIONS = 10_000;
/** kube-apiserver's default `JSONPatchMaxCopyBytes` (3 MiB): bytes `copy` operations may add. */
export const MAX_JSON_PATCH_COPY_BYTES = 3 * 1024 * 1024;
/**
 * Deepest nesting of objects and arrays we accept in a document, a patch or a
 * result. The algorithms recurse once per level, so this bounds the stack;
 * Kubernetes objects are a few dozen levels deep at most.
 */
export const MAX_PATCH_DEPTH = 1_000;

export interface PatchLimits {
  /** Nesting limit for document, patch and result (default {@link MAX_PATCH_DEPTH}). */
  readonly maxDepth?: number;
}

export interface JsonPatchOptions extends PatchLimits {
  /** Most operations in one patch (default {@link MAX_JSON_PATCH_OPERATIONS}). */
  readonly maxOperations?: number;
  /** Most bytes (as compact JSON) all `copy` operations together may duplicate. */
  readonly maxCopyBytes?: number;
  /**
   * RFC 6902 to the letter. Off by default, to behave as kube-apiserver
   * (evanphx/json-patch v4), on which Kubernetes clients may rely: `replace`
   * creates a missing object member; negative array indices count from the
   * end (for `add`, -1 is the end) and leading zeros are accepted; `test` of
   * a missing member against `null` passes; `move` does not refuse a target
   * inside its source (it removes, then adds); the root pointer `""` may only
   * be tested, or replaced by an object or array.
   */
  readonly strict?: boolean;
}
