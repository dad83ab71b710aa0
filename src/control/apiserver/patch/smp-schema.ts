/**
 * Strategic merge patch metadata for the Kubernetes types skiff serves: the
 * facts upstream keeps in Go struct tags (`patchStrategy:"merge"
 * patchMergeKey:"name"` in k8s.io/api and k8s.io/apimachinery types.go),
 * written down as data.
 *
 * Only what changes merging needs an entry: a field that leads to a type with
 * entries, or a field with a strategy. Any other field patches the default
 * way, exactly as upstream treats an untagged field: objects (structs and
 * maps alike) merge member by member, lists are replaced whole. A few such
 * fields are listed anyway as ATOMIC so the table answers the usual "is this
 * list merged?" question (tolerations, taints, envFrom...).
 *
 * Root types are named `<apiVersion>.<Kind>` (`v1.Pod`, `apps/v1.Deployment`);
 * the others by their Go type name.
 */
import { assert } from '../../../util/assert.js';

export type PatchStrategy = 'merge' | 'replace' | 'retainKeys';

export interface FieldPatchMeta {
  /** The table entry describing the field's value (an object) or each element (a list). */
  readonly type?: string;
  /** Upstream's `patchStrategy`, split on commas (`merge,retainKeys`). */
  readonly strategies: readonly PatchStrategy[];
  /** Upstream's `patchMergeKey`: the member identifying an element of a merged list of objects. */
  readonly mergeKey?: string;
}

/** No metadata: objects merge, lists are replaced. */
export const ATOMIC: FieldPatchMeta = Object.freeze({ strategies: [] });
/** A list of scalars merged as a set (`finalizers`), which `$deleteFromPrimitiveList` shrinks. */
const SET: FieldPatchMeta = { strategies: ['merge'] };
/** Replaced whole even though it is an object. */
const REPLACE: FieldPatchMeta = { strategies: ['replace'] };

const obj = (type: string): FieldPatchMeta => ({ type, strategies: [] });
/** A list of objects merged element by element, matched on `mergeKey`. */
const byKey = (mergeKey: string, type?: string, ...more: PatchStrategy[]): FieldPatchMeta => ({
  type,
  strategies: ['merge', ...more],
  mergeKey,
});
/** An object whose client patches may carry `$retainKeys` (a union such as a Deployment strategy). */
const retainKeys = (type?: string): FieldPatchMeta => ({ type, strategies: ['retainKeys'] });

type TypeTable = Readonly<Record<string, Readonly<Record<string, FieldPatchMeta>>>>;

const METADATA_ONLY = { metadata: obj('ObjectMeta') };
const WITH_SPEC = (spec: string, status?: string) =>
  status === undefined ? { ...METADATA_ONLY, spec: obj(spec) } : { ...METADATA_ONLY, spec: obj(spec), status: obj(status) };
const CONDITIONS_BY_TYPE = { conditions: byKey('type') };

// Container and EphemeralContainer (through EphemeralContainerCommon) carry the same tags.
const CONTAINER = {
  ports: byKey('containerPort'),
  env: byKey('name'),
  volumeMounts: byKey('mountPath'),
  volumeDevices: byKey('devicePath'),
  envFrom: ATOMIC,
  resources: ATOMIC,
};

/** Types reached from the roots below, by Go type name. */
const TYPES: TypeTable = {
  ObjectMeta: { finalizers: SET, ownerReferences: byKey('uid') },
  PodTemplateSpec: WITH_SPEC('PodSpec'),
  PodSpec: {
    volumes: byKey('name', undefined, 'retainKeys'),
    initContainers: byKey('name', 'Container'),
    containers: byKey('name', 'Container'),
    ephemeralContainers: byKey('name', 'EphemeralContainer'),
    imagePullSecrets: byKey('name'),
    hostAliases: byKey('ip'),
    topologySpreadConstraints: byKey('topologyKey'),
    schedulingGates: byKey('name'),
    resourceClaims: byKey('name', undefined, 'retainKeys'),
    evictionResponders: byKey('name'),
    tolerations: ATOMIC,
    readinessGates: ATOMIC,
  },
  Container: CONTAINER,
  EphemeralContainer: CONTAINER,
  PodStatus: {
    ...CONDITIONS_BY_TYPE,
    hostIPs: byKey('ip'),
    podIPs: byKey('ip'),
    resourceClaimStatuses: byKey('name', undefined, 'retainKeys'),
    nodeAllocatableResourceClaimStatuses: byKey('resourceClaimName', 'NodeAllocatableResourceClaimStatus'),
    containerStatuses: ATOMIC,
    initContainerStatuses: ATOMIC,
  },
  NodeAllocatableResourceClaimStatus: { mapping: byKey('name'), overhead: byKey('name') },
  ReplicationControllerSpec: { template: obj('PodTemplateSpec') },
  ServiceSpec: { ports: byKey('port') },
  NodeSpec: { podCIDRs: SET, taints: ATOMIC },
  NodeStatus: { ...CONDITIONS_BY_TYPE, addresses: byKey('type'), images: ATOMIC },
  PersistentVolumeClaimStatus: { ...CONDITIONS_BY_TYPE, healthStatus: obj('VolumeHealthStatus') },
  VolumeHealthStatus: { healthConditions: byKey('status') },
  WithConditions: CONDITIONS_BY_TYPE,
  DeploymentSpec: { template: obj('PodTemplateSpec'), strategy: retainKeys() },
  ReplicaSetSpec: { template: obj('PodTemplateSpec') },
  StatefulSetSpec: { template: obj('PodTemplateSpec'), volumeClaimTemplates: ATOMIC },
  DaemonSetSpec: { template: obj('PodTemplateSpec') },
  JobSpec: { template: obj('PodTemplateSpec') },
  JobTemplateSpec: WITH_SPEC('JobSpec'),
  CronJobSpec: { jobTemplate: obj('JobTemplateSpec') },
  PodDisruptionBudgetSpec: { selector: REPLACE },
  CSINodeSpec: { drivers: byKey('name') },
};

/** The kinds strategic merge patch is served for, by `<apiVersion>.<Kind>`. */
const ROOTS: TypeTable = {
  'v1.Pod': WITH_SPEC('PodSpec', 'PodStatus'),
  'v1.PodTemplate': { ...METADATA_ONLY, template: obj('PodTemplateSpec') },
  'v1.ReplicationController': WITH_SPEC('ReplicationControllerSpec', 'WithConditions'),
  'v1.Service': WITH_SPEC('ServiceSpec', 'WithConditions'),
  'v1.ServiceAccount': { ...METADATA_ONLY, secrets: byKey('name'), imagePullSecrets: ATOMIC },
  'v1.Node': WITH_SPEC('NodeSpec', 'NodeStatus'),
  'v1.Namespace': { ...METADATA_ONLY, status: obj('WithConditions') },
  'v1.PersistentVolumeClaim': { ...METADATA_ONLY, status: obj('PersistentVolumeClaimStatus') },
  'v1.ComponentStatus': { ...METADATA_ONLY, ...CONDITIONS_BY_TYPE },
  'v1.Endpoints': METADATA_ONLY,
  'v1.ConfigMap': METADATA_ONLY,
  'v1.Secret': METADATA_ONLY,
  'v1.Event': METADATA_ONLY,
  'v1.PersistentVolume': METADATA_ONLY,
  'v1.LimitRange': METADATA_ONLY,
  'v1.ResourceQuota': METADATA_ONLY,
  'apps/v1.Deployment': WITH_SPEC('DeploymentSpec', 'WithConditions'),
  'apps/v1.ReplicaSet': WITH_SPEC('ReplicaSetSpec', 'WithConditions'),
  'apps/v1.StatefulSet': WITH_SPEC('StatefulSetSpec', 'WithConditions'),
  'apps/v1.DaemonSet': WITH_SPEC('DaemonSetSpec', 'WithConditions'),
  'apps/v1.ControllerRevision': METADATA_ONLY,
  'batch/v1.Job': WITH_SPEC('JobSpec', 'WithConditions'),
  'batch/v1.CronJob': WITH_SPEC('CronJobSpec'),
  'autoscaling/v1.Scale': METADATA_ONLY,
  'autoscaling/v1.HorizontalPodAutoscaler': METADATA_ONLY,
  'autoscaling/v2.HorizontalPodAutoscaler': { ...METADATA_ONLY, status: obj('WithConditions') },
  'policy/v1.PodDisruptionBudget': WITH_SPEC('PodDisruptionBudgetSpec', 'WithConditions'),
  'coordination.k8s.io/v1.Lease': METADATA_ONLY,
  'discovery.k8s.io/v1.EndpointSlice': METADATA_ONLY,
  'events.k8s.io/v1.Event': METADATA_ONLY,
  'networking.k8s.io/v1.Ingress': METADATA_ONLY,
  'networking.k8s.io/v1.IngressClass': METADATA_ONLY,
  'networking.k8s.io/v1.NetworkPolicy': METADATA_ONLY,
  'networking.k8s.io/v1.ServiceCIDR': { ...METADATA_ONLY, status: obj('WithConditions') },
  'rbac.authorization.k8s.io/v1.Role': METADATA_ONLY,
  'rbac.authorization.k8s.io/v1.ClusterRole': METADATA_ONLY,
  'rbac.authorization.k8s.io/v1.RoleBinding': METADATA_ONLY,
  'rbac.authorization.k8s.io/v1.ClusterRoleBinding': METADATA_ONLY,
  'scheduling.k8s.io/v1.PriorityClass': METADATA_ONLY,
  'storage.k8s.io/v1.StorageClass': METADATA_ONLY,
  'storage.k8s.io/v1.CSINode': WITH_SPEC('CSINodeSpec'),
};

/** The whole table, roots and the types they reach. */
export const PATCH_SCHEMA: TypeTable = Object.freeze({ ...TYPES, ...ROOTS });

/** The type name to give {@link applyStrategicMergePatch} for a kind, or undefined if we have no metadata for it. */
export function strategicMergeTypeFor(apiVersion: string, kind: string): string | undefined {
  const name = `${apiVersion}.${kind}`;
  return Object.hasOwn(ROOTS, name) ? name : undefined;
}

export function isStrategicMergeType(name: string): boolean {
  return Object.hasOwn(PATCH_SCHEMA, name);
}

/** Metadata of `field` in `type`; {@link ATOMIC} for an unknown type or field. */
export function lookupFieldPatchMeta(type: string | undefined, field: string): FieldPatchMeta {
  if (type === undefined || !Object.hasOwn(PATCH_SCHEMA, type)) return ATOMIC;
  const fields = PATCH_SCHEMA[type]!;
  return Object.hasOwn(fields, field) ? fields[field]! : ATOMIC;
}

/** Invariant of the table itself: every type it refers to is defined. */
function checkSchema(): void {
  for (const [typeName, fields] of Object.entries(PATCH_SCHEMA)) {
    for (const [field, meta] of Object.entries(fields)) {
      const where = `${typeName}.${field}`;
      assert(meta.type === undefined || isStrategicMergeType(meta.type), `${where} refers to an undefined type`);
      assert(meta.mergeKey === undefined || meta.strategies.includes('merge'), `${where} has a merge key without merge`);
    }
  }
}
checkSchema();
