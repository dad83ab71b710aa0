/**
 * Every error the cluster DNS component raises, with a stable code. Malformed
 * DNS messages (the peer's fault) become FORMERR answers or are dropped by
 * the server; invalid objects and pod DNS settings are the caller's to log or
 * report (the kubelet part turns the resolv.conf ones into Pod events).
 */
export const DNS_ERRORS = {
  /** The message ends inside a header, name, record or rdata. */
  DNS_ERR_TRUNCATED: 'message ends inside a field',
  /** A compression pointer that does not point strictly backwards, or too many of them. */
  DNS_ERR_POINTER_LOOP: 'name compression pointer loops or points forward',
  /** A name longer than 255 octets on the wire (RFC 1035 §2.3.4). */
  DNS_ERR_NAME_TOO_LONG: 'name longer than 255 octets',
  /** A label longer than 63 octets, or an empty label inside a name. */
  DNS_ERR_BAD_LABEL: 'label empty or longer than 63 octets',
  /** Label types 01 and 10 (RFC 6891 §5 deprecates extended label types). */
  DNS_ERR_BAD_LABEL_TYPE: 'unsupported label type',
  /** rdata whose length does not match its type's layout. */
  DNS_ERR_BAD_RDATA: 'rdata length does not match its type',
  /** More than one OPT record, or an OPT record outside the additional section or not at the root. */
  DNS_ERR_BAD_OPT: 'malformed OPT (EDNS0) record',
  /** Bytes after the last record the header announced. */
  DNS_ERR_TRAILING_BYTES: 'bytes after the last record',
  /** An address that is not a valid IPv4 (A) or IPv6 (AAAA) address. */
  DNS_ERR_BAD_ADDRESS: 'invalid IP address',
  /** A message that would not fit in 65,535 octets. */
  DNS_ERR_MESSAGE_TOO_LARGE: 'message larger than 65535 octets',
  /** A Service or EndpointSlice without the fields the zone needs. */
  DNS_ERR_INVALID_OBJECT: 'invalid Service or EndpointSlice',
  /** The zone's size limits (services, slices, endpoints) are reached. */
  DNS_ERR_ZONE_FULL: 'cluster DNS zone size limit reached',
  /** Invalid pod DNS settings (policy, nameserver, search, option) or host resolv.conf. */
  DNS_ERR_RESOLV_INVALID: 'invalid pod DNS configuration',
  /** Invalid server options (addresses, port, limits, forwarders). */
  DNS_ERR_BAD_OPTIONS: 'invalid DNS server options',
} as const satisfies Record<string, string>;

export type DnsErrorCode = keyof typeof DNS_ERRORS;

export class DnsError extends Error {
  override readonly name = 'DnsError';
  constructor(
    readonly code: DnsErrorCode,
    /** What exactly was wrong (an offset, a field, a value). */
    readonly detail?: string,
  ) {
    super(detail === undefined ? DNS_ERRORS[code] : `${DNS_ERRORS[code]}: ${detail}`);
  }
}

export function isDnsError(e: unknown, code?: DnsErrorCode): e is DnsError {
  return e instanceof DnsError && (code === undefined || e.code === code);
}
