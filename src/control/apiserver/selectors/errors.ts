/**
 * The errors selectors raise. Each has a stable skiff code; the message is
 * the text kube-apiserver puts into its 400 BadRequest Status for the same
 * input (clients such as kubectl print it verbatim), so it varies with the
 * input while the code does not.
 */
import type { FieldErrorList } from '../../registry/validation/index.js';

export const HTTP_BAD_REQUEST = 400;

export const SELECTOR_ERRORS = {
  /** A `labelSelector` string that does not parse, or names an invalid key or value. */
  SELECTOR_ERR_LABEL_SYNTAX: 'label selector string is invalid',
  /** A metav1.LabelSelector object that cannot be turned into a selector. */
  SELECTOR_ERR_LABEL_SELECTOR_INVALID: 'label selector object is invalid',
  /** A `fieldSelector` string that does not parse (bad term or escape). */
  SELECTOR_ERR_FIELD_SYNTAX: 'field selector string is invalid',
  /** A field selector on a field the resource does not index. */
  SELECTOR_ERR_FIELD_UNSUPPORTED: 'field selector names an unsupported field',
} as const satisfies Record<string, string>;

export type SelectorErrorCode = keyof typeof SELECTOR_ERRORS;

export class SelectorError extends Error {
  override readonly name = 'SelectorError';
  /** Every selector error is the client's: kube-apiserver answers 400 BadRequest. */
  readonly httpStatus = HTTP_BAD_REQUEST;
  readonly reason = 'BadRequest';

  constructor(
    readonly code: SelectorErrorCode,
    /** Upstream's message for this input. */
    message: string,
    /** The field errors behind the message, when there were any. */
    readonly fieldErrors: FieldErrorList = [],
  ) {
    super(message);
  }
}

export function isSelectorError(e: unknown, code?: SelectorErrorCode): e is SelectorError {
  return e instanceof SelectorError && (code === undefined || e.code === code);
}

export interface BadRequestStatus {
  readonly kind: 'Status';
  readonly apiVersion: 'v1';
  readonly metadata: Record<string, never>;
  readonly status: 'Failure';
  readonly message: string;
  readonly reason: 'BadRequest';
  readonly code: typeof HTTP_BAD_REQUEST;
}

/** The Status kube-apiserver sends for this error (apierrors.NewBadRequest). */
export function badRequestStatus(e: SelectorError): BadRequestStatus {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: e.message, reason: 'BadRequest', code: HTTP_BAD_REQUEST };
}
