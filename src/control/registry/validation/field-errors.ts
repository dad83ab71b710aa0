/**
 * Field-level validation errors shaped like upstream's field.Error, and the
 * two renderings kube-apiserver derives from a list of them: the message of a
 * 422 Invalid Status (`Pod "x" is invalid: [metadata.name: Required value, …]`)
 * and its `details.causes`. The wording here is part of the API: kubectl and
 * client libraries show it verbatim, and tests elsewhere compare against it.
 */
import type { FieldPath } from './field-path.js';
import { goJson, goQuote } from './go-format.js';

/** The machine-readable reasons; they double as `StatusCause.reason`. */
export type FieldErrorType =
  | 'FieldValueNotFound'
  | 'FieldValueRequired'
  | 'FieldValueDuplicate'
  | 'FieldValueInvalid'
  | 'FieldValueNotSupported'
  | 'FieldValueForbidden'
  | 'FieldValueTooLong'
  | 'FieldValueTooMany'
  | 'FieldValueTooFew'
  | 'FieldValueTooShort'
  | 'FieldValueTypeInvalid'
  | 'InternalError';

/** The human words for each type, as ErrorType.String() gives them. */
const TYPE_WORDS: Readonly<Record<FieldErrorType, string>> = {
  FieldValueNotFound: 'Not found',
  FieldValueRequired: 'Required value',
  FieldValueDuplicate: 'Duplicate value',
  FieldValueInvalid: 'Invalid value',
  FieldValueNotSupported: 'Unsupported value',
  FieldValueForbidden: 'Forbidden',
  FieldValueTooLong: 'Too long',
  FieldValueTooMany: 'Too many',
  FieldValueTooFew: 'Too few',
  FieldValueTooShort: 'Too short',
  FieldValueTypeInvalid: 'Invalid value',
  InternalError: 'Internal error',
};

/** Marks a bad value that must not be printed (upstream's omitValue). */
export const OMIT_VALUE: unique symbol = Symbol('omit-value');

export interface FieldError {
  readonly type: FieldErrorType;
  /** The rendered path, e.g. `spec.containers[0].name`; `<nil>` when there was no path. */
  readonly field: string;
  readonly badValue: unknown;
  readonly detail: string;
}

export type FieldErrorList = readonly FieldError[];

/** Upstream renders a nil *Path as `<nil>`; the label selector parser relies on that. */
function fieldName(path: FieldPath | null): string {
  return path === null ? '<nil>' : path.toString();
}

function make(type: FieldErrorType, path: FieldPath | null, badValue: unknown, detail: string): FieldError {
  return { type, field: fieldName(path), badValue, detail };
}

export function required(path: FieldPath | null, detail = ''): FieldError {
  return make('FieldValueRequired', path, '', detail);
}

export function invalid(path: FieldPath | null, value: unknown, detail: string): FieldError {
  return make('FieldValueInvalid', path, value, detail);
}

export function typeInvalid(path: FieldPath | null, value: unknown, detail: string): FieldError {
  return make('FieldValueTypeInvalid', path, value, detail);
}

export function notFound(path: FieldPath | null, value: unknown): FieldError {
  return make('FieldValueNotFound', path, value, '');
}

export function duplicate(path: FieldPath | null, value: unknown): FieldError {
  return make('FieldValueDuplicate', path, value, '');
}

export function forbidden(path: FieldPath | null, detail: string): FieldError {
  return make('FieldValueForbidden', path, '', detail);
}

/** An enumerated field got a value outside its set; the detail lists the set, quoted. */
export function notSupported(path: FieldPath | null, value: unknown, validValues: readonly string[]): FieldError {
  const detail = validValues.length === 0 ? '' : `supported values: ${validValues.map(goQuote).join(', ')}`;
  return make('FieldValueNotSupported', path, value, detail);
}

/** Too long in bytes; the value itself is never echoed back. */
export function tooLong(path: FieldPath | null, maxLengthBytes: number): FieldError {
  const unit = maxLengthBytes === 1 ? 'byte' : 'bytes';
  const detail = maxLengthBytes >= 0 ? `may not be more than ${maxLengthBytes} ${unit}` : 'value is too long';
  return make('FieldValueTooLong', path, '<value omitted>', detail);
}

/** A list with too many items; a negative actual count is not printed. */
export function tooMany(path: FieldPath | null, actualQuantity: number, maxQuantity: number): FieldError {
  const unit = maxQuantity === 1 ? 'item' : 'items';
  const detail = maxQuantity >= 0 ? `must have at most ${maxQuantity} ${unit}` : 'has too many items';
  return make('FieldValueTooMany', path, actualQuantity >= 0 ? actualQuantity : OMIT_VALUE, detail);
}

export function internalError(path: FieldPath | null, message: string): FieldError {
  return make('InternalError', path, message, message);
}

/** Types whose body never shows the bad value. */
const VALUELESS: ReadonlySet<FieldErrorType> = new Set([
  'FieldValueRequired',
  'FieldValueForbidden',
  'FieldValueTooLong',
  'FieldValueTooShort',
  'InternalError',
]);

function renderValue(value: unknown): string {
  if (typeof value === 'string') return goQuote(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return goJson(value);
}

/** The message without the field name (upstream ErrorBody); it is `StatusCause.message`. */
export function errorBody(e: FieldError): string {
  const words = TYPE_WORDS[e.type];
  let body = words;
  if (!VALUELESS.has(e.type) && e.badValue !== OMIT_VALUE) body = `${words}: ${renderValue(e.badValue)}`;
  return e.detail.length === 0 ? body : `${body}: ${e.detail}`;
}

/** `field: body`, as the error prints in an aggregate. */
export function errorString(e: FieldError): string {
  return `${e.field}: ${errorBody(e)}`;
}

/**
 * The text of ErrorList.ToAggregate(): null for no errors, the one message
 * alone, or `[a, b]` — duplicates (same full text) appear once.
 */
export function aggregateMessage(errs: FieldErrorList): string | null {
  const unique = [...new Set(errs.map(errorString))];
  if (unique.length === 0) return null;
  if (unique.length === 1) return unique[0]!;
  return `[${unique.join(', ')}]`;
}
