/**
 * The node side's Kubernetes API client: requests and watches over HTTP(S)
 * with failover between masters, and informers (list + watch, kept in sync).
 * The node daemon and the hollow nodes talk to the masters only through it.
 */
export {
  ApiClient,
  type ApiClientOptions,
  type Json,
  KubeApiError,
  isKubeApiError,
  Limiter,
  newAgent,
  type WatchEvent,
  REQUEST_TIMEOUT_MS_DEFAULT,
  REQUEST_TRIES_MAX,
  RESPONSE_BYTES_MAX,
  WATCH_LINE_BYTES_MAX,
} from './client.js';
export { Informer, type InformerEventType, type InformerHandler, type InformerLogger, type InformerOptions, objectKeyOf } from './informer.js';
export { microTime, timestamp } from './time.js';
