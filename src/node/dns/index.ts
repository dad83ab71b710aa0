/**
 * Cluster DNS: the `<svc>.<ns>.svc.<domain>` zone built from Services and
 * EndpointSlices, a UDP/TCP server answering from it, our own DNS wire codec,
 * and the resolv.conf settings every Pod gets.
 *
 * Wiring (the node daemon): create a `Zone`, feed it the Service and
 * EndpointSlice watch events (`onService`/`onEndpointSlice`, which may throw
 * DnsError to be logged), start a `DnsServer` on the address the cluster DNS
 * Service IP is routed to, and give each sandbox `podDnsConfig(pod, node)`.
 */
export { DnsError, isDnsError, DNS_ERRORS, type DnsErrorCode } from './errors.js';
export {
  CLASS_IN, MAX_MESSAGE_BYTES, Opcode, RCode, RRType, UDP_CLASSIC_BYTES, canonicalName, decodeHeader, decodeMessage, emptyMessage, encodeMessage,
  type DnsMessage, type Edns, type Question, type RecordData, type ResourceRecord, type SoaData,
} from './wire.js';
export { DNS_SCHEMA_VERSION, ZONE_DEFAULTS, Zone, reverseName, type LookupResult, type WatchEventType, type ZoneOptions } from './zone.js';
export { DNS_SERVER_DEFAULTS, DnsServer, type DnsServerOptions } from './server.js';
export {
  MAX_DNS_NAMESERVERS, MAX_DNS_SEARCH_LIST_CHARS, MAX_DNS_SEARCH_PATHS, formatResolvConf, parseResolvConf, podDnsConfig,
  type DnsConfig, type DnsPolicy, type NodeDnsSettings,
} from './resolv.js';
