/**
 * skiff's registry: the resources the API server serves and, per kind, the
 * strategy applied on writes (defaulting, validation, update rules).
 * Importing this module registers every kind's strategy.
 */
import './kinds/namespace.js';

export { RESOURCES, apiVersionOf, groupVersions, lookupKind, lookupResource, type ResourceInfo, type Subresource } from './resources.js';
export { registerStrategy, strategyFor, type FieldError, type Strategy } from './strategy.js';
