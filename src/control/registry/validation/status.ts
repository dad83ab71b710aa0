/**
 * How kube-apiserver reports a failed validation: a 422 `Status` with reason
 * `Invalid`, a message built from the aggregated field errors and one cause
 * per error (upstream apierrors.NewInvalid).
 */
import { aggregateMessage, errorBody, type FieldErrorList, type FieldErrorType } from './field-errors.js';
import { goQuote } from './go-format.js';

export const HTTP_UNPROCESSABLE_ENTITY = 422;

/** Which kind failed validation; `group` is '' for the core group. */
export interface GroupKind {
  readonly group: string;
  readonly kind: string;
}

/** One entry of `details.causes`; `field` is left out when empty, as with omitempty. */
export interface StatusCause {
  readonly reason: FieldErrorType;
  readonly message: string;
  readonly field?: string;
}

export interface InvalidStatus {
  readonly kind: 'Status';
  readonly apiVersion: 'v1';
  readonly metadata: Record<string, never>;
  readonly status: 'Failure';
  readonly message: string;
  readonly reason: 'Invalid';
  readonly details: {
    readonly group?: string;
    readonly kind: string;
    readonly name?: string;
    readonly causes: readonly StatusCause[];
  };
  readonly code: typeof HTTP_UNPROCESSABLE_ENTITY;
}

/** `Kind` for the core group, `Kind.group` otherwise (GroupKind.String()). */
export function qualifiedKind(gk: GroupKind): string {
  return gk.group.length === 0 ? gk.kind : `${gk.kind}.${gk.group}`;
}

/** `Deployment.apps "web" is invalid: [spec.replicas: Invalid value: -1: …, …]`. */
export function invalidMessage(gk: GroupKind, name: string, errs: FieldErrorList): string {
  const head = `${qualifiedKind(gk)} ${goQuote(name)} is invalid`;
  const aggregate = aggregateMessage(errs);
  return aggregate === null ? head : `${head}: ${aggregate}`;
}

/** `details.causes`: every error, duplicates included, in order. */
export function statusCauses(errs: FieldErrorList): StatusCause[] {
  return errs.map((e) => (e.field.length === 0 ? { reason: e.type, message: errorBody(e) } : { reason: e.type, message: errorBody(e), field: e.field }));
}

/** The whole Status object kube-apiserver would send for these errors. */
export function invalidStatus(gk: GroupKind, name: string, errs: FieldErrorList): InvalidStatus {
  const details = {
    ...(gk.group.length > 0 ? { group: gk.group } : {}),
    kind: gk.kind,
    ...(name.length > 0 ? { name } : {}),
    causes: statusCauses(errs),
  };
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: invalidMessage(gk, name, errs),
    reason: 'Invalid',
    details,
    code: HTTP_UNPROCESSABLE_ENTITY,
  };
}
