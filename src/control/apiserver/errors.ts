/**
 * Every error the API server returns, as a Kubernetes `Status` object with
 * the `reason` and `code` that kube-apiserver uses for the same situation
 * (clients such as kubectl and client-go branch on `reason`, and print
 * `message`, so both follow upstream's wording).
 */

/** The `reason` values of metav1.StatusReason that we produce, with their HTTP codes. */
export const STATUS_REASONS = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  NotAcceptable: 406,
  AlreadyExists: 409,
  Conflict: 409,
  Gone: 410,
  Expired: 410,
  RequestEntityTooLarge: 413,
  UnsupportedMediaType: 415,
  Invalid: 422,
  TooManyRequests: 429,
  InternalError: 500,
  ServiceUnavailable: 503,
  Timeout: 504,
} as const;

export type StatusReason = keyof typeof STATUS_REASONS;

/** One entry of `details.causes`: what was wrong, and where. */
export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** metav1.Status as it goes on the wire. */
export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: StatusReason | '';
  details?: StatusDetails;
  code: number;
}

/** A request failed in a way the client must hear about; rendered as a Status. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly code: number;

  constructor(
    readonly reason: StatusReason,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
    this.code = STATUS_REASONS[reason];
  }

  toStatus(): Status {
    const s: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: this.message, reason: this.reason, code: this.code };
    if (this.details) s.details = this.details;
    return s;
  }
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}

/** What an error message calls a resource: `pods`, or `deployments.apps` outside the core group. */
export interface QualifiedResource {
  group: string;
  resource: string;
}

export function qualified(r: QualifiedResource): string {
  return r.group ? `${r.resource}.${r.group}` : r.resource;
}

function details(r: QualifiedResource, name: string): StatusDetails {
  return { name, group: r.group, kind: r.resource };
}

export function notFound(r: QualifiedResource, name: string): ApiError {
  return new ApiError('NotFound', `${qualified(r)} "${name}" not found`, details(r, name));
}

export function alreadyExists(r: QualifiedResource, name: string): ApiError {
  return new ApiError('AlreadyExists', `${qualified(r)} "${name}" already exists`, details(r, name));
}

/** An update against a stale resourceVersion (optimistic concurrency). */
export function conflict(r: QualifiedResource, name: string, why = 'the object has been modified; please apply your changes to the latest version and try again'): ApiError {
  return new ApiError('Conflict', `Operation cannot be fulfilled on ${qualified(r)} "${name}": ${why}`, details(r, name));
}

export function forbidden(r: QualifiedResource, name: string, why: string): ApiError {
  const what = name ? `${qualified(r)} "${name}"` : qualified(r);
  return new ApiError('Forbidden', `${what} is forbidden: ${why}`, details(r, name));
}

export function badRequest(message: string): ApiError {
  return new ApiError('BadRequest', message);
}

export function methodNotAllowed(message = 'the server does not allow this method on the requested resource'): ApiError {
  return new ApiError('MethodNotAllowed', message);
}

export function notAcceptable(message: string): ApiError {
  return new ApiError('NotAcceptable', message);
}

export function unsupportedMediaType(contentType: string): ApiError {
  return new ApiError('UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got ${JSON.stringify(contentType)})`);
}

export function tooLarge(limitBytes: number): ApiError {
  return new ApiError('RequestEntityTooLarge', `the request body is larger than the limit of ${limitBytes} bytes`);
}

/** A watch or list at a revision that compaction has removed. */
export function expired(message: string): ApiError {
  return new ApiError('Expired', message);
}

export function unauthorized(): ApiError {
  return new ApiError('Unauthorized', 'Unauthorized');
}

export function internal(message: string): ApiError {
  return new ApiError('InternalError', `Internal error occurred: ${message}`, { causes: [{ reason: 'UnexpectedServerResponse', message }] });
}

export function unavailable(message: string, retryAfterSeconds = 1): ApiError {
  return new ApiError('ServiceUnavailable', message, { retryAfterSeconds });
}

export function timeout(message: string): ApiError {
  return new ApiError('Timeout', message, { retryAfterSeconds: 1 });
}

/** One field error of a 422 (see src/control/registry/validation for the shapes). */
export interface InvalidCause {
  type: string;
  field: string;
  message: string;
}

/**
 * 422 Invalid, worded as upstream's NewInvalid: `Kind "name" is invalid: <errors>`,
 * a single error bare and several in brackets, each cause listed in details.
 */
export function invalid(kind: string, group: string, name: string, causes: InvalidCause[]): ApiError {
  const parts = causes.map((c) => `${c.field}: ${c.message}`);
  const body = parts.length === 1 ? parts[0]! : `[${parts.join(', ')}]`;
  return new ApiError('Invalid', `${kind}${group ? `.${group}` : ''} "${name}" is invalid: ${body}`, {
    name,
    group,
    kind,
    causes: causes.map((c) => ({ reason: c.type, message: c.message, field: c.field })),
  });
}
