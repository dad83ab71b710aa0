/**
 * skiff's Kubernetes API server: REST over the replicated store, discovery,
 * watch, patch, authentication. `ApiServer` is one master's server.
 */
export { ApiServer, IDENTITY_LABEL, IDENTITY_LEASE_SECONDS, API_SERVER_DEFAULTS, MAX_REQUEST_BODY_BYTES, KUBERNETES_VERSION, type ApiServerOptions } from './server.js';
export { ApiError, isApiError, type Status, type StatusReason } from './errors.js';
export { type KubeObject, type KvBackend, type ObjectMeta, ObjectStore } from './object-store.js';
export { loadTokenFile, parseTokenFile, type UserInfo } from './auth.js';
export { Rest, type DeleteOptions, type Selection, EVERYTHING } from './rest.js';
export { ResourceCache, type CacheEventType, type CacheHandler } from './watch-cache.js';
export { objectKey } from './object-store.js';
export { timestamp } from './objects.js';
