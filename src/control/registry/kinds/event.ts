/**
 * Events (core v1, light): the rules upstream keeps for the legacy Events
 * API. An event about a namespaced object lives in that object's namespace
 * (so it is deleted with it); an event written in the new style (with
 * eventTime) must say who reported it and what happened.
 */
import type { KubeObject } from '../../apiserver/object-store.js';
import { registerStrategy } from '../strategy.js';
import { FieldPath, type FieldError, invalid, isQualifiedName, required, tooLong } from '../validation/index.js';
import { byteLength } from '../validation/index.js';
import { objAt, strAt } from './fields.js';

const REPORTING_INSTANCE_LENGTH_MAX = 128;
const ACTION_LENGTH_MAX = 128;
const REASON_LENGTH_MAX = 128;
const NOTE_LENGTH_MAX = 1024;

function validateNewStyle(event: KubeObject, errs: FieldError[]): void {
  const controller = strAt(event, 'reportingComponent', FieldPath.root('reportingComponent'), errs) ?? '';
  if (controller === '') errs.push(required(FieldPath.root('reportingComponent'), ''));
  errs.push(...isQualifiedName(controller).map((m) => invalid(FieldPath.root('reportingComponent'), controller, m)));
  const bounded: [string, number][] = [
    ['reportingInstance', REPORTING_INSTANCE_LENGTH_MAX],
    ['action', ACTION_LENGTH_MAX],
    ['reason', REASON_LENGTH_MAX],
  ];
  for (const [key, max] of bounded) {
    const v = strAt(event, key, FieldPath.root(key), errs) ?? '';
    if (v === '') errs.push(required(FieldPath.root(key), ''));
    if (byteLength(v) > max) errs.push(tooLong(FieldPath.root(key), max));
  }
  const message = strAt(event, 'message', FieldPath.root('message'), errs) ?? '';
  if (byteLength(message) > NOTE_LENGTH_MAX) errs.push(tooLong(FieldPath.root('message'), NOTE_LENGTH_MAX));
}

function validateEvent(event: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const involved = objAt(event, 'involvedObject', FieldPath.root('involvedObject'), errs) ?? {};
  const path = FieldPath.root('involvedObject', 'namespace');
  const involvedNs = strAt(involved, 'namespace', path, errs) ?? '';
  const ns = event.metadata.namespace ?? '';
  const newStyle = typeof event.eventTime === 'string' && event.eventTime !== '';
  if (!newStyle) {
    // Cluster-scoped objects' events go to "default" (old clients) or nowhere in particular.
    const mismatch = involvedNs === '' ? ns !== '' && ns !== 'default' : ns !== involvedNs;
    if (mismatch) errs.push(invalid(path, involvedNs, 'does not match event.namespace'));
    return errs;
  }
  if (involvedNs === '' && ns !== 'default' && ns !== 'kube-system') errs.push(invalid(path, involvedNs, 'does not match event.namespace'));
  validateNewStyle(event, errs);
  return errs;
}

registerStrategy('v1/Event', {
  validate: validateEvent,
});
