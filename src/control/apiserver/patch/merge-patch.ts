/**
 * JSON Merge Patch (RFC 7386, `application/merge-patch+json`): objects merge
 * member by member, `null` deletes a member, anything else (arrays included)
 * replaces. The inputs are never modified.
 *
 * Two differences from RFC 7386, both kube-apiserver's (evanphx/json-patch
 * v4), which matter for custom resources, stored as the patch left them:
 * - a patch that is `null` or a scalar is refused (400) instead of replacing
 *   the whole document; an array still replaces it;
 * - a value that replaces loses the null members of every object inside it,
 *   arrays included (RFC 7386 keeps nulls inside arrays) — except, as
 *   upstream, an array or scalar replacing an existing object.
 */
import { PatchError } from './errors.js';
import { checkJson, cloneJson, getOwn, isJsonObject, preview, setOwn } from './json-value.js';
import { MAX_PATCH_DEPTH, type JsonObject, type JsonValue, type PatchLimits } from './types.js';

export function applyMergePatch(document: JsonValue, patch: unknown, limits: PatchLimits = {}): JsonValue {
  const maxDepth = limits.maxDepth ?? MAX_PATCH_DEPTH;
  if (!isJsonObject(patch) && !Array.isArray(patch)) {
    throw new PatchError('PATCH_ERR_MALFORMED', `a merge patch must be an object, got ${preview(patch)}`);
  }
  checkJson(document, maxDepth, 'the document');
  checkJson(patch, maxDepth, 'the patch');
  if (Array.isArray(patch)) return withoutNulls(patch);
  return mergeInto(cloneJson(document), patch);
}

/**
 * RFC 7386 `MergePatch(Target, Patch)`. `target` is our own copy and is
 * modified in place; values taken from the patch are copied.
 */
function mergeInto(target: JsonValue | undefined, patch: JsonValue): JsonValue {
  if (!isJsonObject(patch)) return isJsonObject(target) ? cloneJson(patch) : withoutNulls(patch);
  const result: JsonObject = isJsonObject(target) ? target : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete result[key];
    } else {
      setOwn(result, key, mergeInto(getOwn(result, key), value));
    }
  }
  return result;
}

/** A copy without null object members, at any depth (null array elements stay). */
function withoutNulls(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (!isJsonObject(value)) return value;
  const out: JsonObject = {};
  for (const [key, member] of Object.entries(value)) {
    if (member !== null) setOwn(out, key, withoutNulls(member));
  }
  return out;
}
