/**
 * Assertions for our own invariants. They stay on in production: a failed
 * assertion means a bug in skiff, never a user's mistake (those get typed
 * errors with stable codes), and continuing past it could corrupt data.
 */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
  readonly code = 'SKIFF_ERR_ASSERTION';
}

export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** Marks a switch arm that the type system proves unreachable. */
export function unreachable(value: never, what = 'value'): never {
  throw new AssertionError(`unreachable ${what}: ${String(value)}`);
}
