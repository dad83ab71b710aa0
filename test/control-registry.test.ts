/**
 * Per-kind strategies, called directly as the API server calls them:
 * prepareForCreate then default on create, default on update, validate on
 * both, validateUpdate on update. Expected objects and messages are
 * kube-apiserver's (paths and wording exact; values rendered as skiff's
 * validation module renders them).
 */
import test from 'ava';
import { lookupResource, strategyFor } from '../src/control/registry/index.js';
import { errorString } from '../src/control/registry/validation/index.js';
import { podQOSClass, type QOSClass } from '../src/control/registry/kinds/pod.js';
import { formatQuantity, parseQuantity } from '../src/control/registry/kinds/quantity.js';
import { imageTag } from '../src/control/registry/kinds/pod-spec-defaults.js';

type J = Record<string, any>;

const UID = '6b1a4f9e-0c2d-4e51-9a7b-1c2d3e4f5a6b';
const GROUPS: Record<string, string> = {
  deployments: 'apps',
  replicasets: 'apps',
  daemonsets: 'apps',
  statefulsets: 'apps',
  jobs: 'batch',
  leases: 'coordination.k8s.io',
  endpointslices: 'discovery.k8s.io',
  roles: 'rbac.authorization.k8s.io',
  rolebindings: 'rbac.authorization.k8s.io',
  clusterroles: 'rbac.authorization.k8s.io',
  clusterrolebindings: 'rbac.authorization.k8s.io',
};

function strategy(resource: string) {
  const r = lookupResource(GROUPS[resource] ?? '', 'v1', resource);
  if (!r) throw new Error(`no resource ${resource}`);
  return strategyFor(r);
}

/** What the API server does to a new object before storing it (uid first, as its generic rules do). */
function create(resource: string, obj: J): J {
  const o = structuredClone(obj);
  o.metadata ??= {};
  o.metadata.name ??= 'x';
  o.metadata.uid = UID;
  const s = strategy(resource);
  s.prepareForCreate(o as never);
  s.default(o as never);
  return o;
}

function createErrors(resource: string, obj: J): string[] {
  return strategy(resource).validate(create(resource, obj) as never).map(errorString);
}

/** Creates `obj`, applies `change` to a copy, and returns the errors of that update. */
function updateErrors(resource: string, obj: J, change: (o: J) => void): string[] {
  const s = strategy(resource);
  const old = create(resource, obj);
  const next = structuredClone(old);
  change(next);
  s.default(next as never);
  return [...s.validate(next as never), ...s.validateUpdate(next as never, old as never)].map(errorString);
}

// Upstream's messages, spelled out once.
const LABEL_1123 =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const LABEL_VALUE =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const CONFIG_KEY =
  "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
const QUANTITY = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const PERCENT = "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";
const POD_FORBIDDEN =
  'spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)';
const STS_FORBIDDEN =
  "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";
const MISMATCH = '`selector` does not match template `labels`';

// ---- fixtures ----

const container = (over: J = {}): J => ({ name: 'c', image: 'busybox:1', ...over });
const pod = (spec: J = {}, meta: J = {}): J => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', ...meta }, spec: { containers: [container()], ...spec } });
const template = (labels: J = { app: 'web' }, spec: J = {}): J => ({ metadata: { labels }, spec: { containers: [container()], ...spec } });
const deployment = (spec: J = {}): J => ({
  metadata: { name: 'web', namespace: 'default' },
  spec: { selector: { matchLabels: { app: 'web' } }, template: template(), ...spec },
});
const workload = (spec: J = {}): J => deployment(spec);
const job = (spec: J = {}, meta: J = {}): J => ({
  metadata: { name: 'pi', namespace: 'default', ...meta },
  spec: { template: { spec: { containers: [container()], restartPolicy: 'Never' } }, ...spec },
});
const service = (spec: J = {}): J => ({ metadata: { name: 'svc', namespace: 'default' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }], ...spec } });

/** The defaults a container gets everywhere. */
const DEFAULTED_CONTAINER = {
  name: 'c',
  image: 'busybox:1',
  imagePullPolicy: 'IfNotPresent',
  terminationMessagePath: '/dev/termination-log',
  terminationMessagePolicy: 'File',
  resources: {},
};
/** The defaults a PodSpec gets everywhere (templates included). */
const DEFAULTED_POD_SPEC = {
  containers: [DEFAULTED_CONTAINER],
  restartPolicy: 'Always',
  terminationGracePeriodSeconds: 30,
  dnsPolicy: 'ClusterFirst',
  securityContext: {},
  schedulerName: 'default-scheduler',
};

// ---- defaults of minimal objects: the whole object, as kube-apiserver returns it ----

const fullDefaults: [string, string, J, J][] = [
  [
    'Pod',
    'pods',
    pod(),
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'default', uid: UID },
      spec: {
        ...DEFAULTED_POD_SPEC,
        enableServiceLinks: true,
        serviceAccountName: 'default',
        serviceAccount: 'default',
        priority: 0,
        preemptionPolicy: 'PreemptLowerPriority',
        tolerations: [
          { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
          { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
        ],
      },
      status: { phase: 'Pending', qosClass: 'BestEffort' },
    },
  ],
  [
    'Deployment',
    'deployments',
    deployment(),
    {
      metadata: { name: 'web', namespace: 'default', uid: UID },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: DEFAULTED_POD_SPEC },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } },
        revisionHistoryLimit: 10,
        progressDeadlineSeconds: 600,
      },
    },
  ],
  [
    'Service',
    'services',
    service(),
    {
      metadata: { name: 'svc', namespace: 'default', uid: UID },
      spec: {
        selector: { app: 'web' },
        ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }],
        type: 'ClusterIP',
        sessionAffinity: 'None',
        internalTrafficPolicy: 'Cluster',
        ipFamilyPolicy: 'SingleStack',
        ipFamilies: ['IPv4'],
      },
      status: { loadBalancer: {} },
    },
  ],
  [
    'Job',
    'jobs',
    job(),
    {
      metadata: {
        name: 'pi',
        namespace: 'default',
        uid: UID,
        labels: { 'batch.kubernetes.io/controller-uid': UID, 'batch.kubernetes.io/job-name': 'pi', 'controller-uid': UID, 'job-name': 'pi' },
      },
      spec: {
        parallelism: 1,
        completions: 1,
        backoffLimit: 6,
        selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': UID } },
        manualSelector: false,
        template: {
          metadata: { labels: { 'batch.kubernetes.io/controller-uid': UID, 'batch.kubernetes.io/job-name': 'pi', 'controller-uid': UID, 'job-name': 'pi' } },
          spec: { ...DEFAULTED_POD_SPEC, restartPolicy: 'Never' },
        },
        completionMode: 'NonIndexed',
        suspend: false,
        podReplacementPolicy: 'TerminatingOrFailed',
      },
    },
  ],
  [
    'Secret',
    'secrets',
    { metadata: { name: 's', namespace: 'default' }, data: { a: 'YQ==' }, stringData: { b: 'hello', a: 'x' } },
    { metadata: { name: 's', namespace: 'default', uid: UID }, type: 'Opaque', data: { a: 'eA==', b: 'aGVsbG8=' } },
  ],
];

for (const [name, resource, input, expected] of fullDefaults) {
  test(`defaults: a minimal ${name} as kube-apiserver stores it`, (t) => {
    const out = create(resource, input);
    t.deepEqual(out, expected);
    t.deepEqual(strategy(resource).validate(out as never).map(errorString), [], 'and it is valid');
    const again = structuredClone(out);
    strategy(resource).default(again as never);
    t.deepEqual(again, out, 'defaulting twice changes nothing');
  });
}

// ---- defaults of particular fields: [name, resource, input, path to read, expected value] ----

const at = (o: J, path: string): unknown => path.split('.').reduce<any>((v, k) => v?.[k], o);

const fieldDefaults: [string, string, J, string, unknown][] = [
  ['imagePullPolicy Always for an untagged image', 'pods', pod({ containers: [container({ image: 'nginx' })] }), 'spec.containers.0.imagePullPolicy', 'Always'],
  ['imagePullPolicy Always for :latest', 'pods', pod({ containers: [container({ image: 'registry.k8s.io/pause:latest' })] }), 'spec.containers.0.imagePullPolicy', 'Always'],
  ['imagePullPolicy IfNotPresent for a digest', 'pods', pod({ containers: [container({ image: `nginx@sha256:${'a'.repeat(64)}` })] }), 'spec.containers.0.imagePullPolicy', 'IfNotPresent'],
  ['a given imagePullPolicy is kept', 'pods', pod({ containers: [container({ image: 'nginx', imagePullPolicy: 'Never' })] }), 'spec.containers.0.imagePullPolicy', 'Never'],
  ['container ports are TCP', 'pods', pod({ containers: [container({ ports: [{ containerPort: 80 }] })] }), 'spec.containers.0.ports.0', { containerPort: 80, protocol: 'TCP' }],
  [
    'probes get timeouts, periods and thresholds; httpGet a path and a scheme',
    'pods',
    pod({ containers: [container({ livenessProbe: { httpGet: { port: 8080 } } })] }),
    'spec.containers.0.livenessProbe',
    { httpGet: { port: 8080, path: '/', scheme: 'HTTP' }, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 },
  ],
  [
    'env fieldRef apiVersion v1, resourceFieldRef divisor "0"',
    'pods',
    pod({ containers: [container({ env: [{ name: 'N', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }, { name: 'C', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } }] })] }),
    'spec.containers.0.env',
    [
      { name: 'N', valueFrom: { fieldRef: { fieldPath: 'metadata.name', apiVersion: 'v1' } } },
      { name: 'C', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '0' } } },
    ],
  ],
  [
    'a volume without a source is an emptyDir; secret and configMap modes are 0644; hostPath type ""',
    'pods',
    pod({ volumes: [{ name: 'a' }, { name: 'b', secret: { secretName: 's' } }, { name: 'c', configMap: { name: 'm' } }, { name: 'd', hostPath: { path: '/tmp' } }] }),
    'spec.volumes',
    [
      { name: 'a', emptyDir: {} },
      { name: 'b', secret: { secretName: 's', defaultMode: 420 } },
      { name: 'c', configMap: { name: 'm', defaultMode: 420 } },
      { name: 'd', hostPath: { path: '/tmp', type: '' } },
    ],
  ],
  [
    'requests default to limits (pods only), quantities canonical',
    'pods',
    pod({ containers: [container({ resources: { limits: { cpu: '0.5', memory: '1024Mi' }, requests: { cpu: '100m' } } })] }),
    'spec.containers.0.resources',
    { limits: { cpu: '500m', memory: '1Gi' }, requests: { cpu: '100m', memory: '1Gi' } },
  ],
  ['templates do not get requests from limits', 'deployments', deployment({ template: template({ app: 'web' }, { containers: [container({ resources: { limits: { cpu: '1' } } })] }) }), 'spec.template.spec.containers.0.resources', { limits: { cpu: '1' } }],
  ['templates do not get enableServiceLinks', 'deployments', deployment(), 'spec.template.spec.enableServiceLinks', undefined],
  ['host networking makes container ports host ports', 'pods', pod({ hostNetwork: true, containers: [container({ ports: [{ containerPort: 53 }] })] }), 'spec.containers.0.ports.0.hostPort', 53],
  ['a gated pod starts with PodScheduled=False', 'pods', pod({ schedulingGates: [{ name: 'example.com/wait' }] }), 'status.conditions.0.reason', 'SchedulingGated'],
  ['a named priority class leaves priority to admission', 'pods', pod({ priorityClassName: 'high' }), 'spec.priority', undefined],
  ['an existing catch-all toleration is enough', 'pods', pod({ tolerations: [{ operator: 'Exists' }] }), 'spec.tolerations', [{ operator: 'Exists' }]],
  ['Recreate deployments get no rollingUpdate', 'deployments', deployment({ strategy: { type: 'Recreate' } }), 'spec.strategy', { type: 'Recreate' }],
  ['ReplicaSet: one replica', 'replicasets', workload(), 'spec.replicas', 1],
  ['DaemonSet: one node at a time', 'daemonsets', workload(), 'spec.updateStrategy', { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } }],
  ['DaemonSet: ten revisions', 'daemonsets', workload(), 'spec.revisionHistoryLimit', 10],
  ['StatefulSet: rolling update from partition 0', 'statefulsets', workload(), 'spec.updateStrategy', { type: 'RollingUpdate', rollingUpdate: { partition: 0 } }],
  ['StatefulSet: OrderedReady, one replica', 'statefulsets', workload(), 'spec.podManagementPolicy', 'OrderedReady'],
  ['StatefulSet: claims retained', 'statefulsets', workload(), 'spec.persistentVolumeClaimRetentionPolicy', { whenDeleted: 'Retain', whenScaled: 'Retain' }],
  [
    'StatefulSet: claim templates are Filesystem and Pending',
    'statefulsets',
    workload({ volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }] }),
    'spec.volumeClaimTemplates.0',
    { metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, volumeMode: 'Filesystem' }, status: { phase: 'Pending' } },
  ],
  ['RC: selector from the template labels', 'replicationcontrollers', { metadata: { name: 'rc' }, spec: { template: template({ app: 'old' }) } }, 'spec.selector', { app: 'old' }],
  ['RC: its own labels from the template', 'replicationcontrollers', { metadata: { name: 'rc' }, spec: { template: template({ app: 'old' }) } }, 'metadata.labels', { app: 'old' }],
  ['RC: one replica', 'replicationcontrollers', { metadata: { name: 'rc' }, spec: { template: template({ app: 'old' }) } }, 'spec.replicas', 1],
  ['Job: parallelism alone leaves completions unset', 'jobs', job({ parallelism: 3 }), 'spec.completions', undefined],
  ['Job: manualSelector keeps the user selector', 'jobs', job({ manualSelector: true, selector: { matchLabels: { app: 'pi' } } }), 'spec.selector', { matchLabels: { app: 'pi' } }],
  ['Job: backoffLimitPerIndex means unlimited backoff', 'jobs', job({ completionMode: 'Indexed', completions: 3, backoffLimitPerIndex: 1 }), 'spec.backoffLimit', 2147483647],
  ['Service: targetPort defaults to port', 'services', service({ ports: [{ port: 8080, targetPort: 0 }] }), 'spec.ports.0.targetPort', 8080],
  ['Service NodePort: external traffic Cluster', 'services', service({ type: 'NodePort' }), 'spec.externalTrafficPolicy', 'Cluster'],
  ['Service LoadBalancer: node ports allocated', 'services', service({ type: 'LoadBalancer' }), 'spec.allocateLoadBalancerNodePorts', true],
  ['Service ClientIP affinity: three hours', 'services', service({ sessionAffinity: 'ClientIP' }), 'spec.sessionAffinityConfig', { clientIP: { timeoutSeconds: 10800 } }],
  ['Service clusterIP fills clusterIPs', 'services', service({ clusterIP: '10.96.0.10' }), 'spec.clusterIPs', ['10.96.0.10']],
  ['Service headless without selector: RequireDualStack', 'services', service({ clusterIP: 'None', selector: undefined }), 'spec.ipFamilyPolicy', 'RequireDualStack'],
  ['Service ExternalName: no IP families', 'services', { metadata: { name: 'ext' }, spec: { type: 'ExternalName', externalName: 'example.com' } }, 'spec.ipFamilyPolicy', undefined],
  ['Endpoints ports are TCP', 'endpoints', { metadata: { name: 'e' }, subsets: [{ addresses: [{ ip: '10.1.2.3' }], ports: [{ port: 80 }] }] }, 'subsets.0.ports.0.protocol', 'TCP'],
  ['EndpointSlice ports: empty name, TCP', 'endpointslices', { metadata: { name: 'e' }, addressType: 'IPv4', endpoints: [], ports: [{ port: 80 }] }, 'ports.0', { port: 80, name: '', protocol: 'TCP' }],
  ['Node: allocatable defaults to capacity', 'nodes', { metadata: { name: 'n1' }, status: { capacity: { cpu: '4', memory: '8192Mi' } } }, 'status.allocatable', { cpu: '4', memory: '8Gi' }],
  ['Node: podCIDR fills podCIDRs', 'nodes', { metadata: { name: 'n1' }, spec: { podCIDR: '10.244.1.0/24' } }, 'spec.podCIDRs', ['10.244.1.0/24']],
  [
    'LimitRange: container defaults from max, requests from defaults',
    'limitranges',
    { metadata: { name: 'l' }, spec: { limits: [{ type: 'Container', max: { cpu: '2' }, min: { memory: '64Mi' } }] } },
    'spec.limits.0',
    { type: 'Container', max: { cpu: '2' }, min: { memory: '64Mi' }, default: { cpu: '2' }, defaultRequest: { cpu: '2', memory: '64Mi' } },
  ],
  ['ResourceQuota: canonical hard limits', 'resourcequotas', { metadata: { name: 'q' }, spec: { hard: { 'requests.cpu': '1000m', pods: 10 } } }, 'spec.hard', { 'requests.cpu': '1', pods: '10' }],
  ['RoleBinding: roleRef group and User subjects', 'rolebindings', { metadata: { name: 'b' }, roleRef: { kind: 'Role', name: 'r' }, subjects: [{ kind: 'User', name: 'u' }] }, 'subjects.0.apiGroup', 'rbac.authorization.k8s.io'],
];

for (const [name, resource, input, path, expected] of fieldDefaults) {
  test(`defaults: ${name}`, (t) => {
    t.deepEqual(at(create(resource, input), path), expected);
  });
}

// ---- validation on create: [name, resource, object, exact errors] ----

const createCases: [string, string, J, string[]][] = [
  ['pod: containers are required', 'pods', pod({ containers: [] }), ['spec.containers: Required value']],
  ['pod: container names are DNS labels', 'pods', pod({ containers: [container({ name: 'Web_1' })] }), [`spec.containers[0].name: Invalid value: "Web_1": ${LABEL_1123}`]],
  ['pod: container names are unique', 'pods', pod({ containers: [container(), container()] }), ['spec.containers[1].name: Duplicate value: "c"']],
  ['pod: an init container may not reuse a name', 'pods', pod({ initContainers: [container()] }), ['spec.initContainers[0].name: Duplicate value: "c"']],
  ['pod: image is required', 'pods', pod({ containers: [{ name: 'c' }] }), ['spec.containers[0].image: Required value']],
  ['pod: container ports in range', 'pods', pod({ containers: [container({ ports: [{ containerPort: 70000 }] })] }), ['spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive']],
  ['pod: containerPort is required', 'pods', pod({ containers: [container({ ports: [{ name: 'http' }] })] }), ['spec.containers[0].ports[0].containerPort: Required value']],
  [
    'pod: port names are IANA service names, unique',
    'pods',
    pod({ containers: [container({ ports: [{ name: 'http--x', containerPort: 80 }, { name: 'web', containerPort: 81 }, { name: 'web', containerPort: 82 }] })] }),
    ['spec.containers[0].ports[0].name: Invalid value: "http--x": must not contain consecutive hyphens', 'spec.containers[0].ports[2].name: Duplicate value: "web"'],
  ],
  ['pod: port protocols', 'pods', pod({ containers: [container({ ports: [{ containerPort: 80, protocol: 'HTTP' }] })] }), ['spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"']],
  [
    'pod: host ports may not collide',
    'pods',
    pod({ containers: [container({ ports: [{ containerPort: 80, hostPort: 8080 }] }), container({ name: 'd', ports: [{ containerPort: 81, hostPort: 8080 }] })] }),
    ['spec.containers[1].ports[0].hostPort: Duplicate value: "TCP//8080"'],
  ],
  ['pod: env names are printable ASCII without "="', 'pods', pod({ containers: [container({ env: [{ name: 'A=B', value: 'x' }] })] }), ['spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than \'=\'']],
  ['pod: env names are required', 'pods', pod({ containers: [container({ env: [{ value: 'x' }] })] }), ['spec.containers[0].env[0].name: Required value']],
  [
    'pod: valueFrom names one source',
    'pods',
    pod({ containers: [container({ env: [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'm', key: 'k' }, secretKeyRef: { name: 's', key: 'k' } } }] })] }),
    ['spec.containers[0].env[0].valueFrom: Invalid value: "": may not have more than one field specified at a time'],
  ],
  [
    'pod: fieldRef paths are the supported ones',
    'pods',
    pod({ containers: [container({ env: [{ name: 'A', valueFrom: { fieldRef: { fieldPath: 'spec.host' } } }] })] }),
    [
      'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: "spec.host": supported values: "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"',
    ],
  ],
  [
    'pod: volume names are unique DNS labels',
    'pods',
    pod({ volumes: [{ name: 'data' }, { name: 'data' }, { name: 'Data' }] }),
    ['spec.volumes[1].name: Duplicate value: "data"', `spec.volumes[2].name: Invalid value: "Data": ${LABEL_1123}`],
  ],
  ['pod: one source per volume', 'pods', pod({ volumes: [{ name: 'v', emptyDir: {}, hostPath: { path: '/x' } }] }), ['spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type']],
  ['pod: a secret volume names its secret', 'pods', pod({ volumes: [{ name: 'v', secret: {} }] }), ['spec.volumes[0].secret.secretName: Required value']],
  ['pod: mounts name existing volumes', 'pods', pod({ containers: [container({ volumeMounts: [{ name: 'nope', mountPath: '/data' }] })] }), ['spec.containers[0].volumeMounts[0].name: Not found: "nope"']],
  [
    'pod: mount paths are required and unique',
    'pods',
    pod({ volumes: [{ name: 'v' }], containers: [container({ volumeMounts: [{ name: 'v', mountPath: '/d' }, { name: 'v', mountPath: '/d' }, { name: 'v' }] })] }),
    ['spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/d": must be unique', 'spec.containers[0].volumeMounts[2].mountPath: Required value'],
  ],
  ['pod: restart policies', 'pods', pod({ restartPolicy: 'Sometimes' }), ['spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"']],
  ['pod: DNS policies', 'pods', pod({ dnsPolicy: 'Auto' }), ['spec.dnsPolicy: Unsupported value: "Auto": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"']],
  ['pod: pull policies', 'pods', pod({ containers: [container({ imagePullPolicy: 'Sometimes' })] }), ['spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"']],
  [
    'pod: requests may not exceed limits',
    'pods',
    pod({ containers: [container({ resources: { limits: { cpu: '1' }, requests: { cpu: '1500m' } } })] }),
    ['spec.containers[0].resources.requests: Invalid value: "1500m": must be less than or equal to cpu limit of 1'],
  ],
  ['pod: quantities must parse', 'pods', pod({ containers: [container({ resources: { limits: { cpu: '1.5.5' } } })] }), [`spec.containers[0].resources.limits[cpu]: Invalid value: "1.5.5": ${QUANTITY}`]],
  [
    'pod: quantities are non-negative (and requests follow limits)',
    'pods',
    pod({ containers: [container({ resources: { limits: { memory: '-1Gi' } } })] }),
    ['spec.containers[0].resources.limits[memory]: Invalid value: "-1Gi": must be greater than or equal to 0', 'spec.containers[0].resources.requests[memory]: Invalid value: "-1Gi": must be greater than or equal to 0'],
  ],
  [
    'pod: resource names are standard or qualified',
    'pods',
    pod({ containers: [container({ resources: { limits: { gpu: '1' } } })] }),
    [
      'spec.containers[0].resources.limits[gpu]: Invalid value: "gpu": must be a standard resource type or fully qualified',
      'spec.containers[0].resources.limits[gpu]: Invalid value: "gpu": must be a standard resource for containers',
      'spec.containers[0].resources.requests[gpu]: Invalid value: "gpu": must be a standard resource type or fully qualified',
      'spec.containers[0].resources.requests[gpu]: Invalid value: "gpu": must be a standard resource for containers',
    ],
  ],
  ['pod: node selector labels', 'pods', pod({ nodeSelector: { zone: 'a b' } }), [`spec.nodeSelector: Invalid value: "a b": ${LABEL_VALUE}`]],
  ['pod: toleration operators', 'pods', pod({ tolerations: [{ key: 'k', operator: 'Maybe' }] }), ['spec.tolerations[0].operator: Unsupported value: "Maybe": supported values: "Equal", "Exists"']],
  ['pod: toleration effects', 'pods', pod({ tolerations: [{ key: 'k', effect: 'Never' }] }), ['spec.tolerations[0].effect: Unsupported value: "Never": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"']],
  [
    'pod: tolerationSeconds only with NoExecute',
    'pods',
    pod({ tolerations: [{ key: 'k', operator: 'Exists', effect: 'NoSchedule', tolerationSeconds: 5 }] }),
    ["spec.tolerations[0].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set"],
  ],
  [
    'pod: a probe has one handler, and liveness succeeds once',
    'pods',
    pod({ containers: [container({ livenessProbe: { successThreshold: 2 } })] }),
    ['spec.containers[0].livenessProbe: Required value: must specify a handler type', 'spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1'],
  ],
  [
    'pod: host network means host port = container port',
    'pods',
    pod({ hostNetwork: true, containers: [container({ ports: [{ containerPort: 80, hostPort: 81 }] })] }),
    ['spec.containers[0].ports[0].hostPort: Invalid value: 81: must match `containerPort` when `hostNetwork` is true'],
  ],
  ['pod: activeDeadlineSeconds is positive', 'pods', pod({ activeDeadlineSeconds: 0 }), ['spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive']],
  ['pod: a gated pod is not bound', 'pods', pod({ nodeName: 'n1', schedulingGates: [{ name: 'example.com/wait' }] }), ['spec.nodeName: Forbidden: cannot be set until all schedulingGates have been cleared']],

  ['deployment: a selector is required', 'deployments', deployment({ selector: undefined }), ['spec.selector: Required value', `spec.template.metadata.labels: Invalid value: {"app":"web"}: ${MISMATCH}`]],
  ['deployment: the selector must match the template', 'deployments', deployment({ selector: { matchLabels: { app: 'api' } } }), [`spec.template.metadata.labels: Invalid value: {"app":"web"}: ${MISMATCH}`]],
  ['deployment: an empty selector is refused', 'deployments', deployment({ selector: {} }), ['spec.selector: Invalid value: {}: empty selector is invalid for deployment']],
  ['deployment: replicas are non-negative', 'deployments', deployment({ replicas: -1 }), ['spec.replicas: Invalid value: -1: must be greater than or equal to 0']],
  [
    'deployment: maxSurge and maxUnavailable not both 0',
    'deployments',
    deployment({ strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: '0%' } } }),
    ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "0%": may not be 0 when `maxSurge` is 0'],
  ],
  ['deployment: maxUnavailable at most 100%', 'deployments', deployment({ strategy: { rollingUpdate: { maxUnavailable: '110%' } } }), ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "110%": must not be greater than 100%']],
  ['deployment: maxSurge is a count or a percentage', 'deployments', deployment({ strategy: { rollingUpdate: { maxSurge: 'x' } } }), [`spec.strategy.rollingUpdate.maxSurge: Invalid value: "x": ${PERCENT}`]],
  ['deployment: strategy types', 'deployments', deployment({ strategy: { type: 'BlueGreen' } }), ['spec.strategy: Unsupported value: {"type":"BlueGreen"}: supported values: "Recreate", "RollingUpdate"']],
  ['deployment: pods restart always', 'deployments', deployment({ template: template({ app: 'web' }, { restartPolicy: 'Never' }) }), ['spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"']],
  ['deployment: the template pod spec is validated', 'deployments', deployment({ template: template({ app: 'web' }, { containers: [] }) }), ['spec.template.spec.containers: Required value']],
  [
    'deployment: progress deadline beyond minReadySeconds',
    'deployments',
    deployment({ minReadySeconds: 600 }),
    ['spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds'],
  ],
  ['replicaset: the selector must match the template', 'replicasets', workload({ selector: { matchLabels: { app: 'api' } } }), [`spec.template.metadata.labels: Invalid value: {"app":"web"}: ${MISMATCH}`]],
  [
    'replicaset: selector expressions are validated',
    'replicasets',
    workload({ selector: { matchExpressions: [{ key: 'app', operator: 'In' }] } }),
    [
      "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
      'spec.selector: Invalid value: {"matchExpressions":[{"key":"app","operator":"In"}]}: invalid label selector',
    ],
  ],
  [
    'daemonset: not both surge and unavailability',
    'daemonsets',
    workload({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } } }),
    ['spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when maxUnavailable is non-zero'],
  ],
  ['daemonset: an empty selector is refused', 'daemonsets', workload({ selector: {} }), ['spec.selector: Invalid value: {}: empty selector is invalid for daemonset']],
  ['statefulset: pod management policies', 'statefulsets', workload({ podManagementPolicy: 'Random' }), ["spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'"]],
  ['statefulset: the name is a DNS label', 'statefulsets', { ...workload(), metadata: { name: 'web.v1' } }, ['metadata.name: Invalid value: "web.v1": must not contain dots']],
  [
    'statefulset: claim retention policies',
    'statefulsets',
    workload({ persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Keep' } }),
    ['spec.persistentVolumeClaimRetentionPolicy.whenDeleted: Unsupported value: "Keep": supported values: "Retain", "Delete"'],
  ],
  ['statefulset: the selector must match the template', 'statefulsets', workload({ selector: { matchLabels: { app: 'db' } } }), [`spec.template.metadata.labels: Invalid value: {"app":"web"}: ${MISMATCH}`]],

  ['job: pods may not restart Always', 'jobs', job({ template: { spec: { containers: [container()] } } }), ['spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"']],
  ['job: other restart policies', 'jobs', job({ template: { spec: { containers: [container()], restartPolicy: 'Sometimes' } } }), [
    'spec.template.spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
    'spec.template.spec.restartPolicy: Unsupported value: "Sometimes": supported values: "OnFailure", "Never"',
  ]],
  [
    'job: a manual selector is required',
    'jobs',
    job({ manualSelector: true, template: { metadata: { labels: { app: 'pi' } }, spec: { containers: [container()], restartPolicy: 'Never' } } }),
    ['spec.selector: Required value', `spec.template.metadata.labels: Invalid value: {"app":"pi"}: ${MISMATCH}`],
  ],
  [
    'job: generated labels may not be tampered with',
    'jobs',
    job({ template: { metadata: { labels: { 'controller-uid': 'other' } }, spec: { containers: [container()], restartPolicy: 'Never' } } }),
    [
      `spec.template.metadata.labels[controller-uid]: Invalid value: {"batch.kubernetes.io/controller-uid":"${UID}","batch.kubernetes.io/job-name":"pi","controller-uid":"other","job-name":"pi"}: must be '${UID}'`,
    ],
  ],
  ['job: a user selector without manualSelector is not the generated one', 'jobs', job({ selector: { matchLabels: { app: 'pi' } } }), [
    'spec.selector: Invalid value: {"matchLabels":{"app":"pi","batch.kubernetes.io/controller-uid":"' + UID + '"}}: `selector` not auto-generated',
    `spec.template.metadata.labels: Invalid value: {"batch.kubernetes.io/controller-uid":"${UID}","batch.kubernetes.io/job-name":"pi","controller-uid":"${UID}","job-name":"pi"}: ${MISMATCH}`,
  ]],
  ['job: counts are non-negative', 'jobs', job({ parallelism: -1, backoffLimit: -2 }), [
    'spec.parallelism: Invalid value: -1: must be greater than or equal to 0',
    'spec.backoffLimit: Invalid value: -2: must be greater than or equal to 0',
  ]],
  ['job: completion modes', 'jobs', job({ completionMode: 'Sometimes' }), ['spec.completionMode: Unsupported value: "Sometimes": supported values: "NonIndexed", "Indexed"']],
  ['job: an Indexed job counts its completions', 'jobs', job({ completionMode: 'Indexed', parallelism: 2 }), ['spec.completions: Required value: when completion mode is Indexed']],

  ['service: ports are required', 'services', service({ ports: [] }), ['spec.ports: Required value']],
  ['service: ports in range', 'services', service({ ports: [{ port: 0 }] }), ['spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive', 'spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive']],
  ['service: several ports are named', 'services', service({ ports: [{ port: 80 }, { port: 443 }] }), ['spec.ports[0].name: Required value', 'spec.ports[1].name: Required value']],
  [
    'service: node ports in 30000-32767',
    'services',
    service({ type: 'NodePort', ports: [{ port: 80, nodePort: 80 }] }),
    ['spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767'],
  ],
  ['service: no node port on a ClusterIP service', 'services', service({ ports: [{ port: 80, nodePort: 30080 }] }), ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]],
  ['service: types', 'services', service({ type: 'Internal' }), ['spec.type: Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"']],
  ['service: selector labels', 'services', service({ selector: { app: 'a b' } }), [`spec.selector: Invalid value: "a b": ${LABEL_VALUE}`]],
  ['service: cluster IPs are IPs', 'services', service({ clusterIP: '10.0.0.300' }), ['spec.clusterIPs[0]: Invalid value: "10.0.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)']],
  ['service: ExternalName needs a name', 'services', { metadata: { name: 'ext' }, spec: { type: 'ExternalName' } }, ['spec.externalName: Required value']],
  ['service: session affinities', 'services', service({ sessionAffinity: 'Sticky' }), ['spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", "None"']],
  ['service: duplicate port and protocol', 'services', service({ ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80 }] }), ['spec.ports[1]: Duplicate value: {"port":80,"protocol":"TCP"}']],

  ['configmap: keys are file names', 'configmaps', { metadata: { name: 'm' }, data: { 'a b': 'x' } }, [`data[a b]: Invalid value: "a b": ${CONFIG_KEY}`]],
  ['configmap: a key in data and binaryData', 'configmaps', { metadata: { name: 'm' }, data: { k: 'x' }, binaryData: { k: 'eA==' } }, ['data[k]: Invalid value: "k": duplicate of key present in binaryData']],
  ['configmap: at most 1 MiB', 'configmaps', { metadata: { name: 'm' }, data: { a: 'x'.repeat(1024 * 1024), b: 'y' } }, [': Too long: may not be more than 1048576 bytes']],
  ['secret: TLS secrets carry a key pair', 'secrets', { metadata: { name: 's' }, type: 'kubernetes.io/tls', data: { 'tls.crt': 'eA==' } }, ['data[tls.key]: Required value']],
  ['secret: docker config secrets carry a config', 'secrets', { metadata: { name: 's' }, type: 'kubernetes.io/dockerconfigjson', data: {} }, ['data[.dockerconfigjson]: Required value']],
  [
    'secret: the docker config is a JSON object',
    'secrets',
    { metadata: { name: 's' }, type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': '[1]' } },
    ['data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": json: cannot unmarshal array into Go value of type map[string]interface {}'],
  ],
  ['secret: data is base64', 'secrets', { metadata: { name: 's' }, data: { k: 'abc' } }, ['data[k]: Invalid value: "<secret contents redacted>": illegal base64 data at input byte 0']],
  ['secret: at most 1 MiB decoded', 'secrets', { metadata: { name: 's' }, stringData: { a: 'x'.repeat(1024 * 1024 + 1) } }, ['data: Too long: may not be more than 1048576 bytes']],

  [
    'endpoints: addresses are IPs',
    'endpoints',
    { metadata: { name: 'e' }, subsets: [{ addresses: [{ ip: '1.2.3' }] }] },
    ['subsets[0].addresses[0].ip: Invalid value: "1.2.3": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)', 'subsets[0].addresses[0].ip: Invalid value: "1.2.3": must be a valid IP address'],
  ],
  ['endpoints: not loopback', 'endpoints', { metadata: { name: 'e' }, subsets: [{ addresses: [{ ip: '127.0.0.1' }] }] }, ['subsets[0].addresses[0].ip: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)']],
  ['endpoints: a subset has addresses', 'endpoints', { metadata: { name: 'e' }, subsets: [{ ports: [{ port: 80 }] }] }, ['subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`']],
  ['endpointslice: address types', 'endpointslices', { metadata: { name: 'e' }, addressType: 'IPv5', endpoints: [] }, ['addressType: Unsupported value: "IPv5": supported values: "FQDN", "IPv4", "IPv6"']],
  ['endpointslice: addresses of the type', 'endpointslices', { metadata: { name: 'e' }, addressType: 'IPv4', endpoints: [{ addresses: ['fd00::1'] }] }, ['endpoints[0].addresses[0]: Invalid value: "fd00::1": must be a valid IPv4 address']],
  ['node: pod CIDRs are networks', 'nodes', { metadata: { name: 'n' }, spec: { podCIDR: '10.0.0.1/24' } }, ['spec.podCIDRs[0]: Invalid value: "10.0.0.1/24": must not have bits set beyond the prefix length']],
  ['node: taint effects', 'nodes', { metadata: { name: 'n' }, spec: { taints: [{ key: 'k', effect: 'Sometimes' }] } }, ['metadata.taints[0].effect: Unsupported value: "Sometimes": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"']],
  ['lease: a duration is positive', 'leases', { metadata: { name: 'l' }, spec: { leaseDurationSeconds: 0 } }, ['spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0']],
  ['event: the namespace of the object', 'events', { metadata: { name: 'e', namespace: 'default' }, involvedObject: { kind: 'Pod', name: 'p', namespace: 'other' } }, ['involvedObject.namespace: Invalid value: "other": does not match event.namespace']],
  [
    'resourcequota: names and whole counts',
    'resourcequotas',
    { metadata: { name: 'q' }, spec: { hard: { foo: '1', pods: '1.5' } } },
    [
      'spec.hard[foo]: Invalid value: "foo": must be a standard resource type or fully qualified',
      'spec.hard[foo]: Invalid value: "foo": must be a standard resource for quota',
      'spec.hard[pods]: Invalid value: "1500m": must be an integer',
    ],
  ],
  ['resourcequota: conflicting scopes', 'resourcequotas', { metadata: { name: 'q' }, spec: { scopes: ['BestEffort', 'NotBestEffort'] } }, ['spec.scopes: Invalid value: ["BestEffort","NotBestEffort"]: conflicting scopes']],
  ['limitrange: min above max', 'limitranges', { metadata: { name: 'l' }, spec: { limits: [{ type: 'Pod', min: { cpu: '2' }, max: { cpu: '1' } }] } }, ['spec.limits[0].min[cpu]: Invalid value: "2": min value 2 is greater than max value 1']],
  ['replicationcontroller: a selector and a template', 'replicationcontrollers', { metadata: { name: 'rc' }, spec: {} }, ['spec.selector: Required value', 'spec.template: Required value']],
  ['role: rules name verbs', 'roles', { metadata: { name: 'r' }, rules: [{ apiGroups: [''], resources: ['pods'] }] }, ['rules[0].verbs: Required value: verbs must contain at least one value']],
  ['role: no non-resource URLs in a namespace', 'roles', { metadata: { name: 'r' }, rules: [{ verbs: ['get'], nonResourceURLs: ['/healthz'] }] }, ['rules[0].nonResourceURLs: Invalid value: ["/healthz"]: namespaced rules cannot apply to non-resource URLs']],
  [
    'rolebinding: a roleRef is required',
    'rolebindings',
    { metadata: { name: 'b' }, subjects: [] },
    ['roleRef.apiGroup: Unsupported value: "": supported values: "rbac.authorization.k8s.io"', 'roleRef.kind: Unsupported value: "": supported values: "Role", "ClusterRole"', 'roleRef.name: Required value'],
  ],
  [
    'clusterrolebinding: only ClusterRoles, service accounts with a namespace',
    'clusterrolebindings',
    { metadata: { name: 'b' }, roleRef: { kind: 'Role', name: 'r' }, subjects: [{ kind: 'ServiceAccount', name: 'sa' }] },
    ['roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"', 'subjects[0].namespace: Required value'],
  ],
];

for (const [name, resource, obj, expected] of createCases) {
  test(`create: ${name}`, (t) => {
    t.deepEqual(createErrors(resource, obj), expected);
  });
}

// ---- update rules: [name, resource, object, change, exact errors] ----

const updateCases: [string, string, J, (o: J) => void, (string | RegExp)[]][] = [
  ['pod: the image may change', 'pods', pod(), (o) => (o.spec.containers[0].image = 'busybox:2'), []],
  ['pod: labels are metadata, not spec', 'pods', pod(), (o) => (o.metadata.labels = { a: 'b' }), []],
  ['pod: other container fields may not', 'pods', pod({ containers: [container({ ports: [{ containerPort: 80 }] })] }), (o) => (o.spec.containers[0].ports[0].containerPort = 81), [POD_FORBIDDEN]],
  ['pod: containers may not come or go', 'pods', pod(), (o) => o.spec.containers.push(container({ name: 'd' })), ['spec.containers: Forbidden: pod updates may not add or remove containers']],
  ['pod: a deadline may be lowered', 'pods', pod({ activeDeadlineSeconds: 60 }), (o) => (o.spec.activeDeadlineSeconds = 30), []],
  ['pod: a deadline may not be raised', 'pods', pod({ activeDeadlineSeconds: 60 }), (o) => (o.spec.activeDeadlineSeconds = 90), ['spec.activeDeadlineSeconds: Invalid value: 90: must be less than or equal to previous value']],
  ['pod: tolerations may be added', 'pods', pod(), (o) => o.spec.tolerations.push({ key: 'k', operator: 'Exists' }), []],
  ['pod: dropped default tolerations and priority come back (admission runs on updates)', 'pods', pod(), (o) => ((o.spec.tolerations = []), delete o.spec.priority), []],
  ['pod: a status write leaves the spec alone', 'pods', pod(), (o) => (o.status.phase = 'Running'), []],
  [
    'pod: existing tolerations may not change',
    'pods',
    pod({ tolerations: [{ key: 'k', operator: 'Equal', value: 'a' }] }),
    (o) => (o.spec.tolerations[0].value = 'b'),
    ['spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds'],
  ],
  ['pod: scheduling gates may be removed', 'pods', pod({ schedulingGates: [{ name: 'example.com/a' }] }), (o) => (o.spec.schedulingGates = []), []],
  ['pod: a user may not bind a pod by update', 'pods', pod(), (o) => (o.spec.nodeName = 'n1'), [POD_FORBIDDEN]],
  [
    'pod: pods/binding may (its write carries status)',
    'pods',
    pod(),
    (o) => {
      o.spec.nodeName = 'n1';
      o.status.conditions = [{ type: 'PodScheduled', status: 'True' }];
    },
    [],
  ],
  [
    'deployment: the selector is immutable',
    'deployments',
    deployment(),
    (o) => {
      o.spec.selector = { matchLabels: { app: 'api' } };
      o.spec.template.metadata.labels = { app: 'api' };
    },
    ['spec.selector: Invalid value: {"matchLabels":{"app":"api"}}: field is immutable'],
  ],
  ['deployment: replicas and template change freely', 'deployments', deployment(), (o) => ((o.spec.replicas = 5), (o.spec.template.spec.containers[0].image = 'busybox:2')), []],
  ['daemonset: the selector is immutable', 'daemonsets', workload(), (o) => (o.spec.selector.matchLabels.tier = 'x'), [
    `spec.template.metadata.labels: Invalid value: {"app":"web"}: ${MISMATCH}`,
    'spec.selector: Invalid value: {"matchLabels":{"app":"web","tier":"x"}}: field is immutable',
  ]],
  ['statefulset: replicas may change', 'statefulsets', workload(), (o) => (o.spec.replicas = 3), []],
  ['statefulset: the service name may not', 'statefulsets', workload({ serviceName: 'db' }), (o) => (o.spec.serviceName = 'db2'), [STS_FORBIDDEN]],
  [
    'job: the template is immutable',
    'jobs',
    job(),
    (o) => (o.spec.template.spec.containers[0].image = 'busybox:2'),
    [/^spec\.template: Invalid value: \{.*"busybox:2".*\}: field is immutable$/],
  ],
  [
    'job: a suspended job that never ran may move its pods',
    'jobs',
    job({ suspend: true }),
    (o) => (o.spec.template.spec.nodeSelector = { zone: 'a' }),
    [],
  ],
  ['job: completions are immutable', 'jobs', job(), (o) => (o.spec.completions = 2), ['spec.completions: Invalid value: 2: field is immutable']],
  [
    'service: a cluster IP stays',
    'services',
    service({ clusterIP: '10.96.0.10' }),
    (o) => ((o.spec.clusterIP = '10.96.0.11'), (o.spec.clusterIPs = ['10.96.0.11'])),
    ['spec.clusterIPs[0]: Invalid value: ["10.96.0.11"]: may not change once set'],
  ],
  ['service: ports may change', 'services', service({ clusterIP: '10.96.0.10' }), (o) => (o.spec.ports[0].port = 81), []],
  ['configmap: an immutable map keeps its data', 'configmaps', { metadata: { name: 'm' }, data: { a: '1' }, immutable: true }, (o) => (o.data.a = '2'), ['data: Forbidden: field is immutable when `immutable` is set']],
  ['configmap: and stays immutable', 'configmaps', { metadata: { name: 'm' }, data: { a: '1' }, immutable: true }, (o) => (o.immutable = false), ['immutable: Forbidden: field is immutable when `immutable` is set']],
  ['configmap: a mutable map changes', 'configmaps', { metadata: { name: 'm' }, data: { a: '1' } }, (o) => (o.data.a = '2'), []],
  ['secret: the type is immutable', 'secrets', { metadata: { name: 's' }, data: { 'tls.crt': 'eA==', 'tls.key': 'eA==' } }, (o) => (o.type = 'kubernetes.io/tls'), ['type: Invalid value: "kubernetes.io/tls": field is immutable']],
  ['node: pod CIDRs are set once', 'nodes', { metadata: { name: 'n' }, spec: { podCIDR: '10.244.1.0/24' } }, (o) => ((o.spec.podCIDR = '10.244.2.0/24'), (o.spec.podCIDRs = ['10.244.2.0/24'])), [
    'spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid',
  ]],
  ['node: a pod CIDR may be assigned', 'nodes', { metadata: { name: 'n' } }, (o) => (o.spec.podCIDR = '10.244.1.0/24'), []],
  ['endpointslice: the address type is immutable', 'endpointslices', { metadata: { name: 'e' }, addressType: 'IPv4', endpoints: [] }, (o) => (o.addressType = 'IPv6'), ['addressType: Invalid value: "IPv6": field is immutable']],
  [
    'rolebinding: the roleRef is immutable',
    'rolebindings',
    { metadata: { name: 'b' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'r' } },
    (o) => (o.roleRef.name = 'admin'),
    ['roleRef: Invalid value: {"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"admin"}: cannot change roleRef'],
  ],
  ['resourcequota: scopes are fixed', 'resourcequotas', { metadata: { name: 'q' }, spec: { scopes: ['BestEffort'] } }, (o) => (o.spec.scopes = ['NotBestEffort']), ['spec.scopes: Invalid value: ["NotBestEffort"]: field is immutable']],
];

for (const [name, resource, obj, change, expected] of updateCases) {
  test(`update: ${name}`, (t) => {
    const errs = updateErrors(resource, obj, change);
    t.is(errs.length, expected.length, errs.join('\n'));
    expected.forEach((e, i) => (typeof e === 'string' ? t.is(errs[i], e) : t.regex(errs[i] ?? '', e)));
  });
}

// ---- wrong types: a field error at the path, never an exception ----

const wrongTypes: [string, string, J, string][] = [
  ['pod spec', 'pods', { metadata: { name: 'p' }, spec: 'x' }, 'spec: Invalid value: "x": must be of type object'],
  ['containers', 'pods', pod({ containers: 'x' }), 'spec.containers: Invalid value: "x": must be of type array'],
  ['a container', 'pods', pod({ containers: ['x'] }), 'spec.containers[0]: Invalid value: "x": must be of type object'],
  ['a container name', 'pods', pod({ containers: [container({ name: 5 })] }), 'spec.containers[0].name: Invalid value: 5: must be of type string'],
  ['container ports', 'pods', pod({ containers: [container({ ports: { containerPort: 80 } })] }), 'spec.containers[0].ports: Invalid value: {"containerPort":80}: must be of type array'],
  ['a containerPort', 'pods', pod({ containers: [container({ ports: [{ containerPort: '80' }] })] }), 'spec.containers[0].ports[0].containerPort: Invalid value: "80": must be of type integer'],
  ['resource limits', 'pods', pod({ containers: [container({ resources: { limits: 'lots' } })] }), 'spec.containers[0].resources.limits: Invalid value: "lots": must be of type object'],
  ['env', 'pods', pod({ containers: [container({ env: [{ name: 'A', valueFrom: 'x' }] })] }), 'spec.containers[0].env[0].valueFrom: Invalid value: "x": must be of type object'],
  ['tolerations', 'pods', pod({ tolerations: { key: 'k' } }), 'spec.tolerations: Invalid value: {"key":"k"}: must be of type array'],
  ['volumes', 'pods', pod({ volumes: [{ name: 'v', secret: 'x' }] }), 'spec.volumes[0].secret: Invalid value: "x": must be of type object'],
  ['a deployment selector', 'deployments', deployment({ selector: 'app=web' }), 'spec.selector: Invalid value: "app=web": must be of type object'],
  ['selector expressions', 'deployments', deployment({ selector: { matchExpressions: 'x' } }), 'spec.selector.matchExpressions: Invalid value: "x": must be of type array'],
  ['a template', 'deployments', deployment({ template: 5 }), 'spec.template: Invalid value: 5: must be of type object'],
  ['replicas', 'deployments', deployment({ replicas: '3' }), 'spec.replicas: Invalid value: "3": must be of type integer'],
  ['a job template', 'jobs', job({ template: [] }), 'spec.template: Invalid value: []: must be of type object'],
  ['service ports', 'services', service({ ports: 'http' }), 'spec.ports: Invalid value: "http": must be of type array'],
  ['a service port number', 'services', service({ ports: [{ port: '80' }] }), 'spec.ports[0].port: Invalid value: "80": must be of type integer'],
  ['secret data', 'secrets', { metadata: { name: 's' }, data: ['x'] }, 'data: Invalid value: ["x"]: must be of type object'],
  ['configmap values', 'configmaps', { metadata: { name: 'm' }, data: { a: 1 } }, 'data[a]: Invalid value: 1: must be of type string'],
  ['endpoints subsets', 'endpoints', { metadata: { name: 'e' }, subsets: 'x' }, 'subsets: Invalid value: "x": must be of type array'],
  ['node taints', 'nodes', { metadata: { name: 'n' }, spec: { taints: 'x' } }, 'spec.taints: Invalid value: "x": must be of type array'],
  ['binding subjects', 'rolebindings', { metadata: { name: 'b' }, roleRef: 'admin' }, 'roleRef: Invalid value: "admin": must be of type object'],
  ['statefulset update strategy', 'statefulsets', workload({ updateStrategy: 'RollingUpdate' }), 'spec.updateStrategy: Invalid value: "RollingUpdate": must be of type object'],
  ['daemonset update strategy', 'daemonsets', workload({ updateStrategy: ['x'] }), 'spec.updateStrategy: Invalid value: ["x"]: must be of type object'],
  ['lease duration', 'leases', { metadata: { name: 'l' }, spec: { leaseDurationSeconds: '15' } }, 'spec.leaseDurationSeconds: Invalid value: "15": must be of type integer'],
];

for (const [name, resource, obj, expected] of wrongTypes) {
  test(`wrong type: ${name}`, (t) => {
    let errs: string[] = [];
    t.notThrows(() => (errs = createErrors(resource, obj)));
    t.true(errs.includes(expected), errs.join('\n'));
  });
}

// ---- QoS classes: [name, containers, class] ----

const qos: [string, J[], QOSClass][] = [
  ['no resources', [container()], 'BestEffort'],
  ['requests only', [container({ resources: { requests: { cpu: '100m' } } })], 'Burstable'],
  ['limits equal requests for cpu and memory', [container({ resources: { limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '1000m', memory: '1024Mi' } } })], 'Guaranteed'],
  ['limits only (requests default to them)', [container({ resources: { limits: { cpu: '1', memory: '1Gi' } } })], 'Guaranteed'],
  ['memory limit only', [container({ resources: { limits: { memory: '1Gi' } } })], 'Burstable'],
  ['one guaranteed, one best-effort container', [container({ resources: { limits: { cpu: '1', memory: '1Gi' } } }), container({ name: 'd' })], 'Burstable'],
  ['requests below limits', [container({ resources: { limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '500m', memory: '1Gi' } } })], 'Burstable'],
  ['zero quantities do not count', [container({ resources: { requests: { cpu: '0' } } })], 'BestEffort'],
];

for (const [name, containers, expected] of qos) {
  test(`qos: ${name}`, (t) => {
    const p = create('pods', pod({ containers }));
    t.is(p.status.qosClass, expected);
    t.is(podQOSClass(p.spec), expected);
  });
}

// ---- quantities: [input, canonical form or null when malformed] ----

const quantities: [string, string | null][] = [
  ['100m', '100m'],
  ['0.5', '500m'],
  ['1', '1'],
  ['1000', '1k'],
  ['1500m', '1500m'],
  ['1Gi', '1Gi'],
  ['1024Mi', '1Gi'],
  ['1.5Gi', '1536Mi'],
  ['512Ki', '512Ki'],
  ['0.5Ki', '512'],
  ['1e3', '1e3'],
  ['1E6', '1e6'],
  ['129M', '129M'],
  ['0', '0'],
  ['-1Gi', '-1Gi'],
  ['0.0000000001', '1n'],
  ['1.5.5', null],
  ['1K', null],
  ['', null],
  ['1 ', null],
  ['1Gb', null],
];

for (const [input, expected] of quantities) {
  test(`quantity: ${JSON.stringify(input)} → ${JSON.stringify(expected)}`, (t) => {
    const q = parseQuantity(input);
    t.is(q === null ? null : formatQuantity(q), expected);
  });
}

// ---- image tags as the pull policy default reads them ----

const tags: [string, string][] = [
  ['nginx', 'latest'],
  ['nginx:1.25', '1.25'],
  ['localhost:5000/app', 'latest'],
  ['registry.example.com:5000/team/app:v2', 'v2'],
  [`nginx@sha256:${'0'.repeat(64)}`, ''],
  ['Nginx', ''],
];

for (const [image, tag] of tags) {
  test(`image tag: ${image}`, (t) => {
    t.is(imageTag(image), tag);
  });
}
