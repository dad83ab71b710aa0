/**
 * Secrets (v1): type Opaque unless given; `stringData` is a write-only
 * convenience, merged into `data` (base64) and dropped, as upstream's
 * conversion does. Keys and size follow ConfigMaps; the well-known types
 * require their keys (a TLS secret without tls.key is useless to every
 * consumer). The type never changes, and `immutable` freezes the data.
 */
import type { KubeObject } from '../../apiserver/object-store.js';
import { registerStrategy } from '../strategy.js';
import { FieldPath, type FieldError, invalid, required, tooLong } from '../validation/index.js';
import { boolAt, immutable, isObject, type Json, objAt, setDefaultStr, sortedKeys, strAt, wrongType } from './fields.js';
import { DATA_SIZE_MAX_BYTES, validateBinaryMap, validateImmutableData } from './configmap.js';

const SERVICE_ACCOUNT_NAME_ANNOTATION = 'kubernetes.io/service-account.name';
const REDACTED = '<secret contents redacted>';
/** Keys each well-known type needs (any one of a group for basic-auth). */
const TLS_KEYS = ['tls.crt', 'tls.key'];

/** stringData wins over data for the same key, as upstream's conversion has it. */
function mergeStringData(secret: KubeObject): void {
  const stringData = secret.stringData;
  if (!isObject(stringData)) return;
  if (secret.data !== undefined && secret.data !== null && !isObject(secret.data)) return;
  const data: Json = isObject(secret.data) ? secret.data : (secret.data = {});
  for (const [key, value] of Object.entries(stringData)) {
    if (typeof value !== 'string') continue;
    data[key] = Buffer.from(value, 'utf8').toString('base64');
    delete stringData[key];
  }
  if (Object.keys(stringData).length === 0) delete secret.stringData;
}

function defaultSecret(secret: KubeObject): void {
  setDefaultStr(secret, 'type', 'Opaque');
  mergeStringData(secret);
}

/** The shape a docker config must have: a JSON object. Messages follow Go's encoding/json. */
function dockerConfigError(encoded: unknown): string | null {
  if (typeof encoded !== 'string') return null;
  const text = Buffer.from(encoded, 'base64').toString('utf8');
  if (text.trim() === '') return 'unexpected end of JSON input';
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    const c = text.trim()[0]!;
    return `invalid character '${c}' looking for beginning of value`;
  }
  if (isObject(value)) return null;
  const kind = Array.isArray(value) ? 'array' : value === null ? null : typeof value === 'string' ? 'string' : typeof value === 'number' ? 'number' : 'bool';
  return kind === null ? null : `json: cannot unmarshal ${kind} into Go value of type map[string]interface {}`;
}

function validateType(secret: KubeObject, type: string, data: Json, errs: FieldError[]): void {
  const dataPath = FieldPath.root('data');
  const need = (key: string) => {
    if (key in data) return true;
    errs.push(required(dataPath.key(key), ''));
    return false;
  };
  switch (type) {
    case 'kubernetes.io/service-account-token': {
      const annotations = isObject(secret.metadata.annotations) ? secret.metadata.annotations : {};
      if (!annotations[SERVICE_ACCOUNT_NAME_ANNOTATION]) errs.push(required(FieldPath.root('metadata', 'annotations').key(SERVICE_ACCOUNT_NAME_ANNOTATION), ''));
      break;
    }
    case 'kubernetes.io/dockercfg':
    case 'kubernetes.io/dockerconfigjson': {
      const key = type === 'kubernetes.io/dockercfg' ? '.dockercfg' : '.dockerconfigjson';
      if (!need(key)) break;
      const message = dockerConfigError(data[key]);
      if (message) errs.push(invalid(dataPath.key(key), REDACTED, message));
      break;
    }
    case 'kubernetes.io/basic-auth':
      // Either may be empty, but one of them must be there.
      if (!('username' in data) && !('password' in data)) errs.push(required(dataPath.key('username'), ''), required(dataPath.key('password'), ''));
      break;
    case 'kubernetes.io/ssh-auth':
      if (!data['ssh-privatekey']) errs.push(required(dataPath.key('ssh-privatekey'), ''));
      break;
    case 'kubernetes.io/tls':
      for (const key of TLS_KEYS) need(key);
      break;
  }
}

function validateSecret(secret: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const dataPath = FieldPath.root('data');
  const data = objAt(secret, 'data', dataPath, errs) ?? {};
  const size = validateBinaryMap(data, dataPath, errs);
  if (size > DATA_SIZE_MAX_BYTES) errs.push(tooLong(dataPath, DATA_SIZE_MAX_BYTES));
  const type = strAt(secret, 'type', FieldPath.root('type'), errs);
  if (type !== null) validateType(secret, type, data, errs);
  // Whatever stringData still holds could not be merged: it was not text.
  const leftover = objAt(secret, 'stringData', FieldPath.root('stringData'), errs) ?? {};
  for (const key of sortedKeys(leftover)) errs.push(wrongType(FieldPath.root('stringData').key(key), leftover[key], 'string'));
  boolAt(secret, 'immutable', FieldPath.root('immutable'), errs);
  return errs;
}

function validateSecretUpdate(secret: KubeObject, old: KubeObject): FieldError[] {
  return [...immutable(secret.type, old.type, FieldPath.root('type')), ...validateImmutableData(secret, old, ['data'])];
}

registerStrategy('v1/Secret', {
  default: defaultSecret,
  validate: validateSecret,
  validateUpdate: validateSecretUpdate,
});
