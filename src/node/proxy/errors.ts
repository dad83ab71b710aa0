/**
 * Every error the proxy part raises, with a stable code. Errors from the
 * host's tools (iptables-restore, iptables-save, conntrack) carry the tool's
 * exit status and stderr so a log line says what the kernel refused.
 */

export const PROXY_ERRORS = {
  /** A Service or EndpointSlice that cannot be turned into rules (bad IP, port, protocol). */
  PROXY_ERR_INVALID_OBJECT: 'invalid object for the proxy',
  /** A configuration value out of range (CIDR, mark bit, intervals, limits). */
  PROXY_ERR_INVALID_CONFIG: 'invalid proxy configuration',
  /** A tool exited non-zero (iptables-restore refused the rule set, ...). */
  PROXY_ERR_COMMAND_FAILED: 'command failed',
  /** A tool did not finish within its timeout and was killed. */
  PROXY_ERR_COMMAND_TIMEOUT: 'command timed out',
  /** A tool wrote more than the output limit and was killed. */
  PROXY_ERR_OUTPUT_LIMIT: 'command output exceeds the limit',
  /** A tool could not be started (not installed, not executable). */
  PROXY_ERR_COMMAND_NOT_FOUND: 'command not found',
  /** The rule set is larger than the configured limit. */
  PROXY_ERR_TOO_MANY_RULES: 'too many services or endpoints for the configured limits',
  /** The proxier was stopped; no further syncs happen. */
  PROXY_ERR_STOPPED: 'proxier stopped',
} as const;

export type ProxyErrorCode = keyof typeof PROXY_ERRORS;

export class ProxyError extends Error {
  override readonly name = 'ProxyError';

  constructor(
    readonly code: ProxyErrorCode,
    /** What was being done and with which values. */
    readonly detail?: string,
    /** For command errors: the argv, exit status and the tool's stderr (trimmed). */
    readonly command?: { argv: readonly string[]; exitCode: number | null; stderr: string },
  ) {
    super(`${PROXY_ERRORS[code]}${detail ? `: ${detail}` : ''}${command?.stderr ? ` (${command.stderr.trim().slice(0, 2000)})` : ''}`);
  }
}

export function isProxyError(e: unknown, code?: ProxyErrorCode): e is ProxyError {
  return e instanceof ProxyError && (code === undefined || e.code === code);
}
