/**
 * ConfigMaps (v1): keys that can become file names, text in `data` and
 * base64 in `binaryData` (no key in both), 1 MiB in all (it lives in one
 * etcd value and is mounted whole). Once `immutable: true` is set, neither
 * the data nor the flag may change: kubelets stop watching such maps.
 */
import type { KubeObject } from '../../apiserver/object-store.js';
import { registerStrategy } from '../strategy.js';
import { byteLength, FieldPath, type FieldError, forbidden, invalid, isConfigMapKey, tooLong } from '../validation/index.js';
import { checkBase64, base64Message } from './base64.js';
import { boolAt, deepEqual, type Json, objAt, sortedKeys, wrongType } from './fields.js';

/** The most a ConfigMap or Secret may hold (upstream's MaxSecretSize). */
export const DATA_SIZE_MAX_BYTES = 1024 * 1024;
export const IMMUTABLE_WHEN_SET = 'field is immutable when `immutable` is set';
const REDACTED = '<secret contents redacted>';

function keyErrors(key: string, path: FieldPath): FieldError[] {
  return isConfigMapKey(key).map((m) => invalid(path.key(key), key, m));
}

/** The keys of a base64 map (Secret data, ConfigMap binaryData) and their decoded size. */
export function validateBinaryMap(map: Json, path: FieldPath, errs: FieldError[]): number {
  let size = 0;
  for (const key of sortedKeys(map)) {
    errs.push(...keyErrors(key, path));
    const v = map[key];
    if (typeof v !== 'string') {
      errs.push(wrongType(path.key(key), v, 'string'));
      continue;
    }
    const decoded = checkBase64(v);
    if (decoded.ok) size += decoded.bytes;
    else errs.push(invalid(path.key(key), REDACTED, base64Message(decoded.offset)));
  }
  return size;
}

function validateConfigMap(cm: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const dataPath = FieldPath.root('data');
  const data = objAt(cm, 'data', dataPath, errs) ?? {};
  const binary = objAt(cm, 'binaryData', FieldPath.root('binaryData'), errs) ?? {};
  let size = 0;
  for (const key of sortedKeys(data)) {
    errs.push(...keyErrors(key, dataPath));
    if (key in binary) errs.push(invalid(dataPath.key(key), key, 'duplicate of key present in binaryData'));
    const v = data[key];
    if (typeof v === 'string') size += byteLength(v);
    else errs.push(wrongType(dataPath.key(key), v, 'string'));
  }
  size += validateBinaryMap(binary, FieldPath.root('binaryData'), errs);
  // Upstream names no field: the whole object is too big.
  if (size > DATA_SIZE_MAX_BYTES) errs.push(tooLong(FieldPath.root(''), DATA_SIZE_MAX_BYTES));
  boolAt(cm, 'immutable', FieldPath.root('immutable'), errs);
  return errs;
}

/** After `immutable: true`, the flag stays and the listed fields keep their contents. */
export function validateImmutableData(obj: KubeObject, old: KubeObject, fields: readonly string[]): FieldError[] {
  if (old.immutable !== true) return [];
  const errs: FieldError[] = [];
  if (obj.immutable !== true) errs.push(forbidden(FieldPath.root('immutable'), IMMUTABLE_WHEN_SET));
  for (const f of fields) if (!deepEqual(obj[f] ?? {}, old[f] ?? {})) errs.push(forbidden(FieldPath.root(f), IMMUTABLE_WHEN_SET));
  return errs;
}

registerStrategy('v1/ConfigMap', {
  validate: validateConfigMap,
  validateUpdate: (cm, old) => validateImmutableData(cm, old, ['data', 'binaryData']),
});
