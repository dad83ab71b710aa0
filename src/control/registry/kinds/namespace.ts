/**
 * Namespaces: Active on creation, with the `kubernetes` finalizer in
 * spec.finalizers (the namespace controller removes it once the namespace
 * is empty, and the namespace then goes), and the
 * `kubernetes.io/metadata.name` label that selectors of namespaces rely on.
 */
import type { KubeObject } from '../../apiserver/object-store.js';
import { isObject } from '../../apiserver/objects.js';
import { registerStrategy } from '../strategy.js';

export const NAMESPACE_FINALIZER = 'kubernetes';
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

registerStrategy('v1/Namespace', {
  prepareForCreate(ns: KubeObject) {
    const spec = isObject(ns.spec) ? ns.spec : {};
    const finalizers = Array.isArray(spec.finalizers) ? spec.finalizers.filter((f: unknown) => f !== NAMESPACE_FINALIZER) : [];
    ns.spec = { ...spec, finalizers: [NAMESPACE_FINALIZER, ...finalizers] };
    ns.status = { phase: 'Active' };
  },
  default(ns: KubeObject) {
    if (ns.metadata.name) ns.metadata.labels = { ...(ns.metadata.labels ?? {}), [NAMESPACE_NAME_LABEL]: ns.metadata.name };
  },
});
