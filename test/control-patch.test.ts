import test from 'ava';
import type { ExecutionContext } from 'ava';
import {
  applyJsonPatch,
  applyMergePatch,
  applyPatch,
  applyStrategicMergePatch,
  isPatchError,
  lookupFieldPatchMeta,
  PATCH_ERRORS,
  PATCH_SCHEMA,
  PatchType,
  patchTypeFromContentType,
  strategicMergeTypeFor,
  type JsonObject,
  type JsonPatchOptions,
  type JsonValue,
  type PatchErrorCode,
} from '../src/control/apiserver/patch/index.js';

// ---------------------------------------------------------------------------
// Harness: every case runs on deeply frozen inputs (a write to them throws),
// checks the inputs are unchanged, and that the result shares no node with
// them (every object in the result must be writable).

interface Case {
  readonly name: string;
  readonly original: JsonValue;
  readonly patch: unknown;
  /** The patched document, or the code of the error it must fail with. */
  readonly expected?: JsonValue;
  readonly error?: PatchErrorCode;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}

function assertFresh(t: ExecutionContext, value: unknown, where = '$'): void {
  if (typeof value !== 'object' || value === null) return;
  t.false(Object.isFrozen(value), `result shares ${where} with an input`);
  for (const [k, v] of Object.entries(value)) assertFresh(t, v, `${where}.${k}`);
}

function check(t: ExecutionContext, c: Case, apply: (original: JsonValue, patch: unknown) => JsonValue): void {
  const before = JSON.stringify([c.original, c.patch]);
  const original = deepFreeze(structuredClone(c.original));
  const patch = deepFreeze(structuredClone(c.patch));
  if (c.error !== undefined) {
    const e = t.throws(() => apply(original, patch));
    t.true(isPatchError(e, c.error), `expected ${c.error}, got ${String(e)}`);
  } else {
    const result = apply(original, patch);
    t.deepEqual(result, c.expected!);
    assertFresh(t, result);
  }
  t.is(JSON.stringify([c.original, c.patch]), before, 'inputs changed');
}

// ---------------------------------------------------------------------------
// JSON Patch: RFC 6902 appendix A, then kube-apiserver's behaviour.

const jsonPatchCases: Array<Case & { options?: JsonPatchOptions }> = [
  {
    name: 'A.1 adding an object member',
    original: { foo: 'bar' },
    patch: [{ op: 'add', path: '/baz', value: 'qux' }],
    expected: { baz: 'qux', foo: 'bar' },
  },
  {
    name: 'A.2 adding an array element',
    original: { foo: ['bar', 'baz'] },
    patch: [{ op: 'add', path: '/foo/1', value: 'qux' }],
    expected: { foo: ['bar', 'qux', 'baz'] },
  },
  {
    name: 'A.3 removing an object member',
    original: { baz: 'qux', foo: 'bar' },
    patch: [{ op: 'remove', path: '/baz' }],
    expected: { foo: 'bar' },
  },
  {
    name: 'A.4 removing an array element',
    original: { foo: ['bar', 'qux', 'baz'] },
    patch: [{ op: 'remove', path: '/foo/1' }],
    expected: { foo: ['bar', 'baz'] },
  },
  {
    name: 'A.5 replacing a value',
    original: { baz: 'qux', foo: 'bar' },
    patch: [{ op: 'replace', path: '/baz', value: 'boo' }],
    expected: { baz: 'boo', foo: 'bar' },
  },
  {
    name: 'A.6 moving a value',
    original: { foo: { bar: 'baz', waldo: 'fred' }, qux: { corge: 'grault' } },
    patch: [{ op: 'move', from: '/foo/waldo', path: '/qux/thud' }],
    expected: { foo: { bar: 'baz' }, qux: { corge: 'grault', thud: 'fred' } },
  },
  {
    name: 'A.7 moving an array element',
    original: { foo: ['all', 'grass', 'cows', 'eat'] },
    patch: [{ op: 'move', from: '/foo/1', path: '/foo/3' }],
    expected: { foo: ['all', 'cows', 'eat', 'grass'] },
  },
  {
    name: 'A.8 testing a value: success',
    original: { baz: 'qux', foo: ['a', 2, 'c'] },
    patch: [
      { op: 'test', path: '/baz', value: 'qux' },
      { op: 'test', path: '/foo/1', value: 2 },
    ],
    expected: { baz: 'qux', foo: ['a', 2, 'c'] },
  },
  {
    name: 'A.9 testing a value: error',
    original: { baz: 'qux' },
    patch: [{ op: 'test', path: '/baz', value: 'bar' }],
    error: 'PATCH_ERR_TEST_FAILED',
  },
  {
    name: 'A.10 adding a nested member object',
    original: { foo: 'bar' },
    patch: [{ op: 'add', path: '/child', value: { grandchild: {} } }],
    expected: { foo: 'bar', child: { grandchild: {} } },
  },
  {
    name: 'A.11 ignoring unrecognized elements',
    original: { foo: 'bar' },
    patch: [{ op: 'add', path: '/baz', value: 'qux', xyz: 123 }],
    expected: { foo: 'bar', baz: 'qux' },
  },
  {
    name: 'A.12 adding to a nonexistent target',
    original: { foo: 'bar' },
    patch: [{ op: 'add', path: '/baz/bat', value: 'qux' }],
    error: 'PATCH_ERR_PATH',
  },
  {
    name: 'A.14 ~ escape ordering',
    original: { '/': 9, '~1': 10 },
    patch: [{ op: 'test', path: '/~01', value: 10 }],
    expected: { '/': 9, '~1': 10 },
  },
  {
    name: 'A.15 comparing strings and numbers',
    original: { '/': 9, '~1': 10 },
    patch: [{ op: 'test', path: '/~01', value: '10' }],
    error: 'PATCH_ERR_TEST_FAILED',
  },
  {
    name: 'A.16 adding an array value',
    original: { foo: ['bar'] },
    patch: [{ op: 'add', path: '/foo/-', value: ['abc', 'def'] }],
    expected: { foo: ['bar', ['abc', 'def']] },
  },
  {
    name: 'copy duplicates a subtree; test compares objects whatever their member order',
    original: { metadata: { labels: { app: 'web', tier: 'fe' } }, spec: {} },
    patch: [
      { op: 'copy', from: '/metadata/labels', path: '/spec/selector' },
      { op: 'test', path: '/spec/selector', value: { tier: 'fe', app: 'web' } },
    ],
    expected: { metadata: { labels: { app: 'web', tier: 'fe' } }, spec: { selector: { app: 'web', tier: 'fe' } } },
  },
  {
    name: 'a label key with "/" is addressed with ~1',
    original: { metadata: { labels: {} } },
    patch: [{ op: 'add', path: '/metadata/labels/app.kubernetes.io~1name', value: 'web' }],
    expected: { metadata: { labels: { 'app.kubernetes.io/name': 'web' } } },
  },
  {
    name: 'kubectl patch --type=json: replace an image by index',
    original: { spec: { containers: [{ name: 'app', image: 'nginx:1.25' }] } },
    patch: [{ op: 'replace', path: '/spec/containers/0/image', value: 'nginx:1.26' }],
    expected: { spec: { containers: [{ name: 'app', image: 'nginx:1.26' }] } },
  },
  {
    name: 'a failing operation leaves nothing applied (the error is the only outcome)',
    original: { a: 1 },
    patch: [
      { op: 'add', path: '/b', value: 2 },
      { op: 'remove', path: '/missing' },
    ],
    error: 'PATCH_ERR_PATH',
  },
  {
    name: 'as upstream, replace of a missing member adds it',
    original: { metadata: { labels: {} } },
    patch: [{ op: 'replace', path: '/metadata/labels/app', value: 'web' }],
    expected: { metadata: { labels: { app: 'web' } } },
  },
  {
    name: 'strict: replace of a missing member fails',
    original: { metadata: { labels: {} } },
    patch: [{ op: 'replace', path: '/metadata/labels/app', value: 'web' }],
    options: { strict: true },
    error: 'PATCH_ERR_PATH',
  },
  {
    name: 'as upstream, negative indices count from the end (-1 appends for add)',
    original: { l: ['a', 'b', 'c'] },
    patch: [
      { op: 'remove', path: '/l/-1' },
      { op: 'add', path: '/l/-1', value: 'z' },
    ],
    expected: { l: ['a', 'b', 'z'] },
  },
  {
    name: 'strict: negative indices and leading zeros are refused',
    original: { l: ['a', 'b'] },
    patch: [{ op: 'remove', path: '/l/01' }],
    options: { strict: true },
    error: 'PATCH_ERR_PATH',
  },
  {
    name: 'as upstream, test of a missing member against null passes',
    original: { metadata: {} },
    patch: [{ op: 'test', path: '/metadata/deletionTimestamp', value: null }],
    expected: { metadata: {} },
  },
  {
    name: 'as upstream, the root can be replaced by an object but not added to',
    original: { a: 1 },
    patch: [
      { op: 'replace', path: '', value: { b: 2 } },
      { op: 'test', path: '', value: { b: 2 } },
    ],
    expected: { b: 2 },
  },
  {
    name: 'as upstream, add at the root pointer fails',
    original: { a: 1 },
    patch: [{ op: 'add', path: '', value: { b: 2 } }],
    error: 'PATCH_ERR_PATH',
  },
  {
    name: 'strict: add at the root pointer replaces the document (RFC 6902)',
    original: { a: 1 },
    patch: [{ op: 'add', path: '', value: { b: 2 } }],
    options: { strict: true },
    expected: { b: 2 },
  },
  {
    name: 'as upstream, move removes then adds, so the target may lie in the shifted source array',
    original: { l: [1, []] },
    patch: [{ op: 'move', from: '/l/0', path: '/l/0/-' }],
    expected: { l: [[1]] },
  },
  {
    name: 'array index past the end fails',
    original: { l: ['a'] },
    patch: [{ op: 'add', path: '/l/2', value: 'x' }],
    error: 'PATCH_ERR_PATH',
  },
  {
    name: 'a value cannot move into its own child',
    original: { a: { b: {} } },
    patch: [{ op: 'move', from: '/a', path: '/a/b/c' }],
    error: 'PATCH_ERR_PATH',
  },
  {
    name: 'strict: a move target inside the source is refused up front',
    original: { l: [1, []] },
    patch: [{ op: 'move', from: '/l/0', path: '/l/0/-' }],
    options: { strict: true },
    error: 'PATCH_ERR_PATH',
  },
  {
    name: 'an unknown op is invalid (422)',
    original: {},
    patch: [{ op: 'merge', path: '/a', value: 1 }],
    error: 'PATCH_ERR_INVALID_OP',
  },
  {
    name: 'add without a value is invalid',
    original: {},
    patch: [{ op: 'add', path: '/a' }],
    error: 'PATCH_ERR_INVALID_OP',
  },
  {
    name: 'a patch that is not an array is malformed (400)',
    original: {},
    patch: { op: 'add', path: '/a', value: 1 },
    error: 'PATCH_ERR_MALFORMED',
  },
  {
    name: 'more than 10,000 operations is too large (413)',
    original: {},
    patch: Array.from({ length: 10_001 }, () => ({ op: 'test', path: '', value: {} })),
    error: 'PATCH_ERR_TOO_MANY_OPERATIONS',
  },
  {
    name: 'copies past the byte limit fail',
    original: { a: 'x'.repeat(100) },
    patch: [
      { op: 'copy', from: '/a', path: '/b' },
      { op: 'copy', from: '/a', path: '/c' },
    ],
    options: { maxCopyBytes: 150 },
    error: 'PATCH_ERR_COPY_TOO_LARGE',
  },
  {
    name: 'a "__proto__" member is an ordinary member',
    original: {},
    patch: [
      { op: 'add', path: '/__proto__', value: { polluted: true } },
      { op: 'test', path: '/constructor', value: null },
    ],
    expected: JSON.parse('{"__proto__":{"polluted":true}}') as JsonValue,
  },
];

for (const c of jsonPatchCases) {
  test(`json patch: ${c.name}`, (t) => check(t, c, (o, p) => applyJsonPatch(o, p, c.options)));
}

// ---------------------------------------------------------------------------
// JSON Merge Patch: RFC 7386 appendix A, and what kubectl sends.

const mergePatchCases: Case[] = [
  ...(
    [
      [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
      [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
      [{ a: 'b' }, { a: null }, {}],
      [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
      [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
      [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
      [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
      [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
      [['a', 'b'], ['c', 'd'], ['c', 'd']],
      [{ a: 'b' }, ['c'], ['c']],
      [{ e: null }, { a: 1 }, { e: null, a: 1 }],
      [[1, 2], { a: 'b', c: null }, { a: 'b' }],
      [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
    ] as Array<[JsonValue, JsonValue, JsonValue]>
  ).map(([original, patch, expected], i) => ({ name: `RFC 7386 example ${i + 1}`, original, patch, expected })),
  {
    name: 'as upstream, a null patch is refused (RFC 7386 would return null)',
    original: { a: 'foo' },
    patch: null,
    error: 'PATCH_ERR_MALFORMED',
  },
  {
    name: 'as upstream, a scalar patch is refused',
    original: { a: 'foo' },
    patch: 'bar',
    error: 'PATCH_ERR_MALFORMED',
  },
  {
    name: 'as upstream, a replacing value loses null members inside arrays too',
    original: { a: 'x' },
    patch: { e: [{ a: 1, d: null }, null] },
    expected: { a: 'x', e: [{ a: 1 }, null] },
  },
  {
    name: 'as upstream, an array replacing an object keeps its nulls',
    original: { e: { a: 1 } },
    patch: { e: [{ d: null }] },
    expected: { e: [{ d: null }] },
  },
  {
    name: 'kubectl scale: spec.replicas on the scale subresource',
    original: { kind: 'Scale', apiVersion: 'autoscaling/v1', metadata: { name: 'web' }, spec: { replicas: 2 } },
    patch: { spec: { replicas: 5 } },
    expected: { kind: 'Scale', apiVersion: 'autoscaling/v1', metadata: { name: 'web' }, spec: { replicas: 5 } },
  },
  {
    name: 'kubectl label/annotate on a custom resource: set one label, remove another',
    original: { metadata: { labels: { app: 'web', old: 'x' }, annotations: { a: '1' } } },
    patch: { metadata: { labels: { old: null, tier: 'fe' }, annotations: { b: '2' } } },
    expected: { metadata: { labels: { app: 'web', tier: 'fe' }, annotations: { a: '1', b: '2' } } },
  },
  {
    name: 'lists are replaced whole, containers included',
    original: { spec: { containers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'y' }] } },
    patch: { spec: { containers: [{ name: 'a', image: 'z' }] } },
    expected: { spec: { containers: [{ name: 'a', image: 'z' }] } },
  },
];

for (const c of mergePatchCases) {
  test(`merge patch: ${c.name}`, (t) => check(t, c, (o, p) => applyMergePatch(o, p)));
}

// ---------------------------------------------------------------------------
// Strategic merge patch: the payloads kubectl sends, and the directives.

const container = (name: string, extra: JsonObject = {}): JsonObject => ({ name, image: `${name}:1`, ...extra });

function deployment(podSpec: JsonObject = {}, meta: JsonObject = {}, spec: JsonObject = {}): JsonObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', labels: { app: 'web', tier: 'fe' }, ...meta },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [
            container('app', {
              ports: [{ containerPort: 80, protocol: 'TCP' }],
              env: [
                { name: 'A', value: '1' },
                { name: 'B', value: '2' },
              ],
            }),
            container('sidecar'),
          ],
          volumes: [{ name: 'data', emptyDir: {} }],
          tolerations: [{ key: 'dedicated', operator: 'Exists' }],
          ...podSpec,
        },
      },
      ...spec,
    },
  };
}

/** A fresh {@link deployment} changed by `edit`, which gets its pod template and the whole object. */
function deploymentWith(edit: (template: JsonObject, d: JsonObject) => void): JsonObject {
  const d = deployment();
  edit((d['spec'] as JsonObject)['template'] as JsonObject, d);
  return d;
}
const podSpecOf = (d: JsonObject): JsonObject => ((d['spec'] as JsonObject)['template'] as JsonObject)['spec'] as JsonObject;
const editPodSpec = (edit: (podSpec: JsonObject, d: JsonObject) => void): JsonObject => deploymentWith((_, d) => edit(podSpecOf(d), d));
const containersOf = (podSpec: JsonObject) => podSpec['containers'] as JsonObject[];
const podPatch = (podSpec: JsonObject): JsonObject => ({ spec: { template: { spec: podSpec } } });

interface SmpCase extends Case {
  readonly type?: string;
}

const smpCases: SmpCase[] = [
  {
    name: 'kubectl apply: change one image ($setElementOrder + the changed container)',
    original: deployment(),
    patch: podPatch({
      '$setElementOrder/containers': [{ name: 'app' }, { name: 'sidecar' }],
      containers: [{ name: 'app', image: 'app:2' }],
    }),
    expected: editPodSpec((s) => void (containersOf(s)[0]!['image'] = 'app:2')),
  },
  {
    name: 'kubectl apply: remove a container with $patch: delete',
    original: deployment(),
    patch: podPatch({
      '$setElementOrder/containers': [{ name: 'app' }],
      containers: [{ $patch: 'delete', name: 'sidecar' }],
    }),
    expected: editPodSpec((s) => void containersOf(s).splice(1, 1)),
  },
  {
    name: 'kubectl apply: remove an env var with {name, $patch: delete}',
    original: deployment(),
    patch: podPatch({
      '$setElementOrder/containers': [{ name: 'app' }, { name: 'sidecar' }],
      containers: [{ name: 'app', '$setElementOrder/env': [{ name: 'B' }], env: [{ $patch: 'delete', name: 'A' }] }],
    }),
    expected: editPodSpec((s) => void (containersOf(s)[0]!['env'] as JsonValue[]).splice(0, 1)),
  },
  {
    name: 'kubectl apply: add a container at the end via $setElementOrder',
    original: deployment(),
    patch: podPatch({
      '$setElementOrder/containers': [{ name: 'app' }, { name: 'sidecar' }, { name: 'log' }],
      containers: [{ name: 'log', image: 'log:1' }],
    }),
    expected: editPodSpec((s) => void containersOf(s).push(container('log'))),
  },
  {
    name: 'kubectl set image: containers merged by name, order kept',
    original: deployment(),
    patch: podPatch({ containers: [{ name: 'sidecar', image: 'sidecar:2' }] }),
    expected: editPodSpec((s) => void (containersOf(s)[1]!['image'] = 'sidecar:2')),
  },
  {
    name: 'without $setElementOrder a new element goes before the server-only ones (upstream order)',
    original: deployment(),
    patch: podPatch({ containers: [{ name: 'app', env: [{ name: 'C', value: '3' }] }] }),
    expected: editPodSpec((s) => void (containersOf(s)[0]!['env'] as JsonValue[]).unshift({ name: 'C', value: '3' })),
  },
  {
    name: 'ports merge by containerPort: change one, add one in order',
    original: deployment(),
    patch: podPatch({
      containers: [
        {
          name: 'app',
          '$setElementOrder/ports': [{ containerPort: 80 }, { containerPort: 443 }],
          ports: [
            { containerPort: 80, name: 'http' },
            { containerPort: 443, protocol: 'TCP' },
          ],
        },
      ],
    }),
    expected: editPodSpec((s) => {
      containersOf(s)[0]!['ports'] = [
        { containerPort: 80, protocol: 'TCP', name: 'http' },
        { containerPort: 443, protocol: 'TCP' },
      ];
    }),
  },
  {
    name: 'kubectl label: a null removes a label, other labels stay',
    original: deployment(),
    patch: { metadata: { labels: { tier: null, track: 'stable' } } },
    expected: deploymentWith((_, d) => void ((d['metadata'] as JsonObject)['labels'] = { app: 'web', track: 'stable' })),
  },
  {
    name: 'kubectl scale / rollout pause: scalars replace',
    original: deployment(),
    patch: { spec: { replicas: 5, paused: true } },
    expected: deploymentWith((_, d) => Object.assign(d['spec'] as JsonObject, { replicas: 5, paused: true })),
  },
  {
    name: 'kubectl rollout restart: a template annotation is added',
    original: deployment(),
    patch: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': '2024-05-01T10:00:00Z' } } } } },
    expected: deploymentWith((tpl) => {
      (tpl['metadata'] as JsonObject)['annotations'] = { 'kubectl.kubernetes.io/restartedAt': '2024-05-01T10:00:00Z' };
    }),
  },
  {
    name: 'finalizers merge as a set (duplicates dropped, the new one first)',
    original: deployment({}, { finalizers: ['a.io/x', 'b.io/y'] }),
    patch: { metadata: { finalizers: ['b.io/y', 'c.io/z'] } },
    expected: deployment({}, { finalizers: ['a.io/x', 'b.io/y', 'c.io/z'] }),
  },
  {
    name: 'finalizers: a new one alone lands first without $setElementOrder',
    original: deployment({}, { finalizers: ['a.io/x', 'b.io/y'] }),
    patch: { metadata: { finalizers: ['c.io/z'] } },
    expected: deployment({}, { finalizers: ['c.io/z', 'a.io/x', 'b.io/y'] }),
  },
  {
    name: 'finalizers: $deleteFromPrimitiveList removes one',
    original: deployment({}, { finalizers: ['a.io/x', 'b.io/y'] }),
    patch: { metadata: { '$deleteFromPrimitiveList/finalizers': ['a.io/x', 'not.there/q'] } },
    expected: deployment({}, { finalizers: ['b.io/y'] }),
  },
  {
    name: 'finalizers: kubectl apply adds and deletes in one patch',
    original: deployment({}, { finalizers: ['a.io/x', 'b.io/y', 'server.io/s'] }),
    patch: {
      metadata: {
        '$setElementOrder/finalizers': ['b.io/y', 'c.io/z'],
        '$deleteFromPrimitiveList/finalizers': ['a.io/x'],
        finalizers: ['c.io/z'],
      },
    },
    expected: deployment({}, { finalizers: ['b.io/y', 'c.io/z', 'server.io/s'] }),
  },
  {
    name: 'ownerReferences merge by uid',
    original: deployment({}, { ownerReferences: [{ uid: 'u1', kind: 'A', name: 'a' }] }),
    patch: { metadata: { ownerReferences: [{ uid: 'u1', controller: true }] } },
    expected: deployment({}, { ownerReferences: [{ uid: 'u1', kind: 'A', name: 'a', controller: true }] }),
  },
  {
    name: '$retainKeys: kubectl apply switches a Deployment to Recreate',
    original: deployment(),
    patch: { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate', rollingUpdate: null } } },
    expected: deploymentWith((_, d) => void ((d['spec'] as JsonObject)['strategy'] = { type: 'Recreate' })),
  },
  {
    name: '$retainKeys in a volume: emptyDir becomes hostPath',
    original: deployment(),
    patch: podPatch({
      volumes: [{ name: 'data', hostPath: { path: '/srv' }, $retainKeys: ['hostPath', 'name'] }],
    }),
    expected: editPodSpec((s) => void (s['volumes'] = [{ name: 'data', hostPath: { path: '/srv' } }])),
  },
  {
    name: '$retainKeys must list every member the patch sets',
    original: deployment(),
    patch: { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate', rollingUpdate: { maxSurge: 2 } } } },
    error: 'PATCH_ERR_BAD_DIRECTIVE',
  },
  {
    name: 'tolerations have no strategy: replaced whole',
    original: deployment(),
    patch: podPatch({ tolerations: [{ key: 'gpu', operator: 'Exists', effect: 'NoSchedule' }] }),
    expected: editPodSpec((s) => void (s['tolerations'] = [{ key: 'gpu', operator: 'Exists', effect: 'NoSchedule' }])),
  },
  {
    name: 'envFrom has no strategy: replaced whole',
    original: deployment({ initContainers: [container('init', { envFrom: [{ configMapRef: { name: 'a' } }] })] }),
    patch: podPatch({ initContainers: [{ name: 'init', envFrom: [{ secretRef: { name: 'b' } }] }] }),
    expected: deployment({ initContainers: [container('init', { envFrom: [{ secretRef: { name: 'b' } }] })] }),
  },
  {
    name: 'resources is an object: limits merge member by member',
    original: deployment({ containers: [container('app', { resources: { limits: { cpu: '1', memory: '1Gi' } } })] }),
    patch: podPatch({ containers: [{ name: 'app', resources: { limits: { cpu: '2' }, requests: { cpu: '1' } } }] }),
    expected: deployment({
      containers: [container('app', { resources: { limits: { cpu: '2', memory: '1Gi' }, requests: { cpu: '1' } } })],
    }),
  },
  {
    name: '$patch: replace as a list element replaces the list',
    original: deployment(),
    patch: podPatch({ containers: [{ $patch: 'replace' }, { name: 'only', image: 'only:1' }] }),
    expected: editPodSpec((s) => void (s['containers'] = [container('only')])),
  },
  {
    name: '$patch: replace in an object replaces it',
    original: deployment(),
    patch: { metadata: { labels: { $patch: 'replace', app: 'web2' } } },
    expected: deploymentWith((_, d) => void ((d['metadata'] as JsonObject)['labels'] = { app: 'web2' })),
  },
  {
    name: '$patch: delete in an object empties it',
    original: deployment(),
    patch: { metadata: { labels: { $patch: 'delete' } } },
    expected: deploymentWith((_, d) => void ((d['metadata'] as JsonObject)['labels'] = {})),
  },
  {
    name: '$patch: delete removes every element with the key, and ignores absent ones',
    original: deployment({ imagePullSecrets: [{ name: 'r' }, { name: 's' }, { name: 'r' }] }),
    patch: podPatch({ imagePullSecrets: [{ name: 'r', $patch: 'delete' }, { name: 'nope', $patch: 'delete' }] }),
    expected: deployment({ imagePullSecrets: [{ name: 's' }] }),
  },
  {
    name: 'as upstream, $patch: merge is refused',
    original: deployment(),
    patch: { metadata: { labels: { $patch: 'merge', x: 'y' } } },
    error: 'PATCH_ERR_UNKNOWN_DIRECTIVE',
  },
  {
    name: 'a list element without its merge key fails (500 upstream)',
    original: deployment(),
    patch: podPatch({ containers: [{ image: 'nginx:1.27' }] }),
    error: 'PATCH_ERR_MERGE_KEY_MISSING',
  },
  {
    name: '$setElementOrder that contradicts the patch list fails',
    original: deployment(),
    patch: podPatch({
      '$setElementOrder/containers': [{ name: 'app' }, { name: 'sidecar' }],
      containers: [
        { name: 'sidecar', image: 's:2' },
        { name: 'app', image: 'a:2' },
      ],
    }),
    error: 'PATCH_ERR_ORDER_MISMATCH',
  },
  {
    name: 'new values lose their nulls and directives (as upstream decoding does)',
    original: deployment(),
    patch: podPatch({
      securityContext: { runAsUser: 1000, fsGroup: null },
      containers: [{ name: 'log', image: 'log:1', '$setElementOrder/env': [{ name: 'X' }], env: [{ name: 'X', value: null }] }],
    }),
    expected: editPodSpec((s) => {
      s['securityContext'] = { runAsUser: 1000 };
      containersOf(s).unshift({ name: 'log', image: 'log:1', env: [{ name: 'X' }] });
    }),
  },
  {
    name: 'a replaced struct keeps nested structs, less their directive members (as upstream decoding)',
    original: deployment({ securityContext: { runAsUser: 0, fsGroup: 2 } }),
    patch: podPatch({ securityContext: { $patch: 'replace', runAsUser: 1, seLinuxOptions: { $patch: 'delete', level: 's0' } } }),
    expected: deployment({ securityContext: { runAsUser: 1, seLinuxOptions: { level: 's0' } } }),
  },
  {
    name: '$setElementOrder: a directive element left over after the order list fails, as upstream',
    original: deployment(),
    patch: podPatch({
      '$setElementOrder/containers': [{ name: 'app' }],
      containers: [{ name: 'app', image: 'app:2' }, { $patch: 'replace' }],
    }),
    error: 'PATCH_ERR_ORDER_MISMATCH',
  },
  {
    name: '$setElementOrder naming a list that stays empty is not an error (upstream fails it)',
    original: deployment({}, { finalizers: [] }),
    patch: { metadata: { '$setElementOrder/finalizers': ['a'] } },
    expected: deployment({}, { finalizers: [] }),
  },
  {
    name: 'a field of an unknown name: objects merge, lists replace',
    original: deployment({ futureField: { a: 1, list: [1, 2] } }),
    patch: podPatch({ futureField: { b: 2, list: [3] } }),
    expected: deployment({ futureField: { a: 1, b: 2, list: [3] } }),
  },
  {
    name: 'a value of another kind replaces the original',
    original: deployment(),
    patch: { spec: { strategy: 'Recreate' } },
    expected: deploymentWith((_, d) => void ((d['spec'] as JsonObject)['strategy'] = 'Recreate')),
  },
  {
    name: 'lists of lists cannot merge',
    original: deployment({}, { finalizers: ['a'] }),
    patch: { metadata: { finalizers: [['b']] } },
    error: 'PATCH_ERR_LIST_OF_LISTS',
  },
  {
    name: 'list elements of mixed types cannot merge',
    original: deployment({}, { finalizers: ['a'] }),
    patch: { metadata: { finalizers: [1] } },
    error: 'PATCH_ERR_TYPE_MISMATCH',
  },
  {
    name: '$deleteFromPrimitiveList needs a list of scalars',
    original: deployment(),
    patch: podPatch({ '$deleteFromPrimitiveList/containers': [{ name: 'app' }] }),
    error: 'PATCH_ERR_BAD_DIRECTIVE',
  },
  {
    name: 'a malformed directive key is a bad request',
    original: deployment(),
    patch: { metadata: { '$setElementOrderfinalizers': ['a'] } },
    error: 'PATCH_ERR_BAD_DIRECTIVE',
  },
  {
    name: 'a kind without metadata is unsupported (415, as for custom resources)',
    type: 'example.com/v1.Widget',
    original: { spec: {} },
    patch: { spec: { a: 1 } },
    error: 'PATCH_ERR_UNSUPPORTED_KIND',
  },
  {
    name: 'CronJob: the job template reaches the pod spec',
    type: 'batch/v1.CronJob',
    original: { spec: { schedule: '* * * * *', jobTemplate: { spec: { template: { spec: { containers: [container('a'), container('b')] } } } } } },
    patch: { spec: { jobTemplate: { spec: { template: { spec: { containers: [{ name: 'b', image: 'b:2' }] } } } } } },
    expected: {
      spec: {
        schedule: '* * * * *',
        jobTemplate: { spec: { template: { spec: { containers: [container('a'), { name: 'b', image: 'b:2' }] } } } },
      },
    },
  },
  {
    name: 'Node status: conditions and addresses merge by type (kubelet heartbeat)',
    type: 'v1.Node',
    original: {
      status: {
        conditions: [
          { type: 'MemoryPressure', status: 'False' },
          { type: 'Ready', status: 'False', reason: 'KubeletNotReady' },
        ],
        addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
      },
    },
    patch: {
      status: {
        '$setElementOrder/conditions': [{ type: 'MemoryPressure' }, { type: 'Ready' }],
        conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }],
        addresses: [{ type: 'Hostname', address: 'n1' }],
      },
    },
    expected: {
      status: {
        conditions: [
          { type: 'MemoryPressure', status: 'False' },
          { type: 'Ready', status: 'True', reason: 'KubeletReady' },
        ],
        addresses: [
          { type: 'Hostname', address: 'n1' },
          { type: 'InternalIP', address: '10.0.0.1' },
        ],
      },
    },
  },
  {
    name: 'kubectl taint / cordon: taints are replaced, unschedulable set',
    type: 'v1.Node',
    original: { spec: { podCIDRs: ['10.1.0.0/24'], taints: [{ key: 'a', effect: 'NoSchedule' }] } },
    patch: { spec: { unschedulable: true, taints: [{ key: 'b', effect: 'NoExecute' }] } },
    expected: { spec: { podCIDRs: ['10.1.0.0/24'], unschedulable: true, taints: [{ key: 'b', effect: 'NoExecute' }] } },
  },
  {
    name: 'Service ports merge by port',
    type: 'v1.Service',
    original: { spec: { ports: [{ port: 80, targetPort: 8080 }] } },
    patch: { spec: { '$setElementOrder/ports': [{ port: 80 }, { port: 443 }], ports: [{ port: 443, targetPort: 8443 }] } },
    expected: { spec: { ports: [{ port: 80, targetPort: 8080 }, { port: 443, targetPort: 8443 }] } },
  },
  {
    name: 'Pod status conditions merge by type',
    type: 'v1.Pod',
    original: { status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True' }] } },
    patch: { status: { phase: 'Running', conditions: [{ type: 'PodScheduled', status: 'True' }, { type: 'Ready', status: 'True' }] } },
    expected: { status: { phase: 'Running', conditions: [{ type: 'PodScheduled', status: 'True' }, { type: 'Ready', status: 'True' }] } },
  },
  {
    name: 'PodDisruptionBudget selector has strategy replace',
    type: 'policy/v1.PodDisruptionBudget',
    original: {
      spec: { selector: { matchLabels: { app: 'a' }, matchExpressions: [{ key: 'x', operator: 'Exists' }] }, minAvailable: 1 },
    },
    patch: { spec: { selector: { matchLabels: { app: 'b' } } } },
    expected: { spec: { selector: { matchLabels: { app: 'b' } }, minAvailable: 1 } },
  },
  {
    name: '$patch: delete at the root empties the object',
    original: deployment(),
    patch: { $patch: 'delete' },
    expected: {},
  },
  {
    name: 'a patch that is not an object is malformed',
    original: deployment(),
    patch: [{ op: 'add', path: '/a', value: 1 }],
    error: 'PATCH_ERR_MALFORMED',
  },
];

for (const c of smpCases) {
  test(`strategic merge patch: ${c.name}`, (t) =>
    check(t, c, (o, p) => applyStrategicMergePatch(o as JsonObject, p, c.type ?? 'apps/v1.Deployment')));
}

// ---------------------------------------------------------------------------
// Limits, content types, status mapping, metadata table.

function nested(depth: number): JsonValue {
  let v: JsonValue = 'leaf';
  for (let i = 0; i < depth; i += 1) v = { a: v };
  return v;
}

const depthCases: Array<[string, () => unknown]> = [
  ['json patch', () => applyJsonPatch({}, [{ op: 'add', path: '/x', value: nested(50) }], { maxDepth: 20 })],
  ['json patch copy', () => applyJsonPatch({ a: nested(15) }, [{ op: 'copy', from: '/a', path: '/a/a/a/a/a/a/a/a' }], { maxDepth: 20 })],
  ['merge patch', () => applyMergePatch({}, { x: nested(50) }, { maxDepth: 20 })],
  ['strategic merge patch', () => applyStrategicMergePatch({}, { x: nested(50) }, 'v1.Pod', { maxDepth: 20 })],
  ['strategic merge patch, default limit', () => applyStrategicMergePatch({}, { x: nested(5_000) }, 'v1.Pod')],
];

for (const [name, run] of depthCases) {
  test(`limits: ${name} refuses nesting past the depth limit`, (t) => {
    t.true(isPatchError(t.throws(run), 'PATCH_ERR_TOO_DEEP'));
  });
}

test('limits: exactly 10,000 operations are accepted', (t) => {
  const patch = Array.from({ length: 10_000 }, (_, i) => ({ op: 'add', path: `/k${i % 10}`, value: i }));
  const result = applyJsonPatch({}, patch) as JsonObject;
  t.is(result['k9'], 9_999);
});

test('content types map to patch types, parameters ignored', (t) => {
  t.is(patchTypeFromContentType('application/json-patch+json'), PatchType.Json);
  t.is(patchTypeFromContentType('application/merge-patch+json'), PatchType.Merge);
  t.is(patchTypeFromContentType('Application/Strategic-Merge-Patch+JSON; charset=utf-8'), PatchType.StrategicMerge);
  t.is(patchTypeFromContentType('application/apply-patch+yaml'), undefined);
  t.is(patchTypeFromContentType('application/json'), undefined);
});

test('errors carry the status kube-apiserver answers with', (t) => {
  const statuses: Array<[PatchErrorCode, number]> = [
    ['PATCH_ERR_MALFORMED', 400],
    ['PATCH_ERR_BAD_DIRECTIVE', 400],
    ['PATCH_ERR_TOO_MANY_OPERATIONS', 413],
    ['PATCH_ERR_UNSUPPORTED_KIND', 415],
    ['PATCH_ERR_TEST_FAILED', 422],
    ['PATCH_ERR_PATH', 422],
    ['PATCH_ERR_MERGE_KEY_MISSING', 500],
  ];
  for (const [code, status] of statuses) t.is(PATCH_ERRORS[code][0] as number, status, code);
  const e = t.throws(() => applyJsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }]));
  t.true(isPatchError(e));
  t.like(e, { code: 'PATCH_ERR_TEST_FAILED', httpStatus: 422, reason: 'Invalid' });
  t.regex(e!.message, /operation 0 \(test \/a\)/);
});

test('applyPatch dispatches on the patch type', (t) => {
  const doc = { metadata: { finalizers: ['a'] } };
  const patch = { metadata: { finalizers: ['b'] } };
  t.deepEqual(applyPatch(PatchType.Merge, doc, patch), { metadata: { finalizers: ['b'] } });
  t.deepEqual(applyPatch(PatchType.StrategicMerge, doc, patch, { schemaType: 'v1.ConfigMap' }), {
    metadata: { finalizers: ['b', 'a'] },
  });
  t.deepEqual(applyPatch(PatchType.Json, doc, [{ op: 'add', path: '/metadata/finalizers/-', value: 'c' }]), {
    metadata: { finalizers: ['a', 'c'] },
  });
  t.true(isPatchError(t.throws(() => applyPatch(PatchType.StrategicMerge, doc, patch)), 'PATCH_ERR_UNSUPPORTED_KIND'));
});

test('schema: kinds resolve to root types; unknown kinds do not', (t) => {
  t.is(strategicMergeTypeFor('apps/v1', 'Deployment'), 'apps/v1.Deployment');
  t.is(strategicMergeTypeFor('v1', 'Pod'), 'v1.Pod');
  t.is(strategicMergeTypeFor('example.com/v1', 'Widget'), undefined);
  t.is(strategicMergeTypeFor('v1', 'PodSpec'), undefined, 'only roots are kinds');
});

test('schema: field metadata matches upstream struct tags', (t) => {
  const expected: Array<[string, string, string[], string | undefined]> = [
    ['ObjectMeta', 'finalizers', ['merge'], undefined],
    ['ObjectMeta', 'ownerReferences', ['merge'], 'uid'],
    ['PodSpec', 'containers', ['merge'], 'name'],
    ['PodSpec', 'initContainers', ['merge'], 'name'],
    ['PodSpec', 'ephemeralContainers', ['merge'], 'name'],
    ['PodSpec', 'volumes', ['merge', 'retainKeys'], 'name'],
    ['PodSpec', 'imagePullSecrets', ['merge'], 'name'],
    ['PodSpec', 'hostAliases', ['merge'], 'ip'],
    ['PodSpec', 'topologySpreadConstraints', ['merge'], 'topologyKey'],
    ['PodSpec', 'tolerations', [], undefined],
    ['Container', 'ports', ['merge'], 'containerPort'],
    ['Container', 'env', ['merge'], 'name'],
    ['Container', 'volumeMounts', ['merge'], 'mountPath'],
    ['Container', 'volumeDevices', ['merge'], 'devicePath'],
    ['Container', 'envFrom', [], undefined],
    ['ServiceSpec', 'ports', ['merge'], 'port'],
    ['NodeSpec', 'taints', [], undefined],
    ['NodeSpec', 'podCIDRs', ['merge'], undefined],
    ['NodeStatus', 'conditions', ['merge'], 'type'],
    ['NodeStatus', 'addresses', ['merge'], 'type'],
    ['PodStatus', 'conditions', ['merge'], 'type'],
    ['DeploymentSpec', 'strategy', ['retainKeys'], undefined],
    ['v1.ServiceAccount', 'secrets', ['merge'], 'name'],
    ['v1.ServiceAccount', 'imagePullSecrets', [], undefined],
    ['PodSpec', 'noSuchField', [], undefined],
  ];
  for (const [type, field, strategies, mergeKey] of expected) {
    const meta = lookupFieldPatchMeta(type, field);
    t.deepEqual([...meta.strategies], strategies, `${type}.${field}`);
    t.is(meta.mergeKey, mergeKey, `${type}.${field}`);
  }
  for (const root of ['apps/v1.Deployment', 'apps/v1.ReplicaSet', 'apps/v1.StatefulSet', 'apps/v1.DaemonSet', 'batch/v1.Job']) {
    const spec = lookupFieldPatchMeta(root, 'spec').type!;
    t.is(lookupFieldPatchMeta(spec, 'template').type, 'PodTemplateSpec', root);
    t.is(lookupFieldPatchMeta(lookupFieldPatchMeta(root, 'status').type, 'conditions').mergeKey, 'type', root);
  }
  t.true(Object.isFrozen(PATCH_SCHEMA));
});
