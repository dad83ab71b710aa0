/**
 * PATCH bodies applied server-side as kube-apiserver applies them: JSON patch,
 * JSON merge patch and strategic merge patch, on plain JSON values. Pure: no
 * I/O, inputs never modified, every failure a {@link PatchError} whose
 * `httpStatus`/`reason` say which Kubernetes Status to answer with.
 */
import { PatchError } from './errors.js';
import { applyJsonPatch } from './json-patch.js';
import { applyMergePatch } from './merge-patch.js';
import { applyStrategicMergePatch } from './strategic-merge.js';
import { PatchType, type JsonObject, type JsonPatchOptions, type JsonValue } from './types.js';

export { PATCH_ERRORS, PatchError, isPatchError, type PatchErrorCode, type PatchStatusReason } from './errors.js';
export { applyJsonPatch, type JsonPatchOperation, type JsonPatchOpName } from './json-patch.js';
export { applyMergePatch } from './merge-patch.js';
export { applyStrategicMergePatch } from './strategic-merge.js';
export {
  ATOMIC,
  PATCH_SCHEMA,
  isStrategicMergeType,
  lookupFieldPatchMeta,
  strategicMergeTypeFor,
  type FieldPatchMeta,
  type PatchStrategy,
} from './smp-schema.js';
export { escapeToken, formatPointer, parsePointer } from './json-pointer.js';
export {
  MAX_JSON_PATCH_COPY_BYTES,
  MAX_JSON_PATCH_OPERATIONS,
  MAX_PATCH_DEPTH,
  PatchType,
  patchTypeFromContentType,
  type JsonObject,
  type JsonPatchOptions,
  type JsonValue,
  type PatchLimits,
} from './types.js';

export interface ApplyPatchOptions extends JsonPatchOptions {
  /** Schema type for strategic merge patch, from `strategicMergeTypeFor(apiVersion, kind)`. */
  readonly schemaType?: string;
}

/** Applies a patch of any type: the one call a PATCH handler needs. */
export function applyPatch(patchType: PatchType, document: JsonObject, patch: unknown, options: ApplyPatchOptions = {}): JsonValue {
  switch (patchType) {
    case PatchType.Json:
      return applyJsonPatch(document, patch, options);
    case PatchType.Merge:
      return applyMergePatch(document, patch, options);
    case PatchType.StrategicMerge:
      if (options.schemaType === undefined) {
        throw new PatchError('PATCH_ERR_UNSUPPORTED_KIND', 'strategic merge patch is not supported for this kind');
      }
      return applyStrategicMergePatch(document, patch, options.schemaType, options);
  }
}
