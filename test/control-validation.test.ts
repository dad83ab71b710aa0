import test from 'ava';
import {
  aggregateMessage,
  duplicate,
  errorBody,
  errorString,
  type FieldError,
  FieldPath,
  forbidden,
  internalError,
  invalid,
  invalidMessage,
  invalidStatus,
  isCIdentifier,
  isConfigMapKey,
  isDNS1035Label,
  isDNS1123Label,
  isDNS1123Subdomain,
  isEnvVarName,
  isQualifiedName,
  isValidCIDR,
  isValidIP,
  isValidIPForLegacyField,
  isValidLabelValue,
  isValidPortName,
  isValidPortNum,
  nameIsDNSLabel,
  nameIsDNSSubdomain,
  notFound,
  notSupported,
  type ObjectMeta,
  required,
  statusCauses,
  TOTAL_ANNOTATION_SIZE_LIMIT_BYTES,
  tooLong,
  tooMany,
  validateObjectMeta,
  validateObjectMetaUpdate,
} from '../src/control/registry/validation/index.js';

// Upstream's messages, spelled out once (note the double space after the first example).
const LABEL_1123 =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_1123 =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_1035 =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const KEY_NAME =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const ENV_VAR =
  "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')";
const CONFIG_KEY =
  "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

const x = (n: number, c = 'a') => c.repeat(n);

// ---- string formats: [checker, input, expected messages] ----

type Check = (v: string) => string[];
const formats: [string, Check, string, string[]][] = [
  ['dns1123 label', isDNS1123Label, 'my-name', []],
  ['dns1123 label', isDNS1123Label, '123-abc', []],
  ['dns1123 label', isDNS1123Label, x(63), []],
  ['dns1123 label', isDNS1123Label, x(64), ['must be no more than 63 characters']],
  ['dns1123 label', isDNS1123Label, 'My-Name', [LABEL_1123]],
  ['dns1123 label', isDNS1123Label, '-a', [LABEL_1123]],
  ['dns1123 label', isDNS1123Label, '', [LABEL_1123]],
  ['dns1123 label', isDNS1123Label, 'a.b', ['must not contain dots']],
  ['dns1123 label', isDNS1123Label, `${x(60)}.${x(5)}`, ['must be no more than 63 characters', 'must not contain dots']],
  ['dns1123 subdomain', isDNS1123Subdomain, 'example.com', []],
  ['dns1123 subdomain', isDNS1123Subdomain, `${x(63)}.${x(63)}.${x(63)}.${x(61)}`, []],
  ['dns1123 subdomain', isDNS1123Subdomain, `${x(63)}.${x(63)}.${x(63)}.${x(62)}`, ['must be no more than 253 characters']],
  ['dns1123 subdomain', isDNS1123Subdomain, 'Example.com', [SUBDOMAIN_1123]],
  ['dns1123 subdomain', isDNS1123Subdomain, 'a..b', [SUBDOMAIN_1123]],
  ['dns1123 subdomain', isDNS1123Subdomain, 'a_b', [SUBDOMAIN_1123]],
  ['dns1035 label', isDNS1035Label, 'abc-123', []],
  ['dns1035 label', isDNS1035Label, '1abc', [LABEL_1035]],
  ['qualified name', isQualifiedName, 'app.kubernetes.io/name', []],
  ['qualified name', isQualifiedName, 'MyName', []],
  ['qualified name', isQualifiedName, 'my_name.v2', []],
  ['qualified name', isQualifiedName, x(63), []],
  ['qualified name', isQualifiedName, x(64), ['name part must be no more than 63 bytes']],
  ['qualified name', isQualifiedName, `${x(253)}/${x(63)}`, []],
  ['qualified name', isQualifiedName, `${x(254)}/b`, ['prefix part must be no more than 253 bytes']],
  ['qualified name', isQualifiedName, 'Example.com/a', [`prefix part ${SUBDOMAIN_1123}`]],
  ['qualified name', isQualifiedName, '/a', ['prefix part must be non-empty']],
  ['qualified name', isQualifiedName, 'a/', ['name part must be non-empty', KEY_NAME]],
  ['qualified name', isQualifiedName, '', ['name part must be non-empty', KEY_NAME]],
  ['qualified name', isQualifiedName, '_a', [KEY_NAME]],
  [
    'qualified name',
    isQualifiedName,
    'a/b/c',
    [
      "a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ],
  ],
  ['label value', isValidLabelValue, '', []],
  ['label value', isValidLabelValue, 'My_Value-1.0', []],
  ['label value', isValidLabelValue, x(63), []],
  ['label value', isValidLabelValue, x(64), ['must be no more than 63 bytes']],
  // Lengths are UTF-8 bytes, as Go's len() counts them.
  ['label value', isValidLabelValue, x(32, 'é'), ['must be no more than 63 bytes', LABEL_VALUE]],
  ['label value', isValidLabelValue, 'a b', [LABEL_VALUE]],
  ['label value', isValidLabelValue, '-a', [LABEL_VALUE]],
  ['c identifier', isCIdentifier, 'MY_NAME', []],
  [
    'c identifier',
    isCIdentifier,
    '1x',
    ["a valid C identifier must start with alphabetic character or '_', followed by a string of alphanumeric characters or '_' (e.g. 'my_name',  or 'MY_NAME',  or 'MyName', regex used for validation is '[A-Za-z_][A-Za-z0-9_]*')"],
  ],
  ['env var name', isEnvVarName, 'my.env-name', []],
  ['env var name', isEnvVarName, '1ABC', [ENV_VAR]],
  ['env var name', isEnvVarName, 'A=B', [ENV_VAR]],
  ['env var name', isEnvVarName, '..', ["must not be '..'"]],
  ['env var name', isEnvVarName, '..x', ["must not start with '..'"]],
  ['config map key', isConfigMapKey, 'key.name', []],
  ['config map key', isConfigMapKey, 'a/b', [CONFIG_KEY]],
  ['config map key', isConfigMapKey, '.', ["must not be '.'"]],
  ['config map key', isConfigMapKey, x(254), ['must be no more than 253 characters']],
  ['port name', isValidPortName, 'http', []],
  ['port name', isValidPortName, 'h2c-0', []],
  ['port name', isValidPortName, x(16), ['must be no more than 15 characters']],
  ['port name', isValidPortName, '8080', ['must contain at least one letter (a-z)']],
  ['port name', isValidPortName, 'HTTP', ['must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)', 'must contain at least one letter (a-z)']],
  ['port name', isValidPortName, 'a--b', ['must not contain consecutive hyphens']],
  ['port name', isValidPortName, '-http', ['must not begin or end with a hyphen']],
];

for (const [what, check, input, want] of formats) {
  const shown = input.length > 24 ? `${input.slice(0, 12)}…(${input.length})` : input;
  test(`${what} ${JSON.stringify(shown)}: ${want.length === 0 ? 'valid' : want.map((m) => m.slice(0, 30)).join(' / ')}`, (t) => {
    t.deepEqual(check(input), want);
  });
}

test('port numbers are 1..65535, integers only', (t) => {
  t.deepEqual(isValidPortNum(1), []);
  t.deepEqual(isValidPortNum(65535), []);
  for (const bad of [0, -1, 65536, 80.5]) t.deepEqual(isValidPortNum(bad), ['must be between 1 and 65535, inclusive']);
});

// ---- IPs and CIDRs ----

const p = FieldPath.root('spec', 'clusterIP');
const ipCases: [string, string | null][] = [
  ['10.9.8.7', null],
  ['2001:db8::ffff', null],
  ['::', null],
  ['::1', null],
  ['1.2.3', 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'],
  ['256.1.1.1', 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'],
  ['fe80::1%eth0', 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'],
  ['1::2::3', 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'],
  ['010.1.2.3', 'must not have leading 0s'],
  ['::ffff:1.2.3.4', 'must not be an IPv4-mapped IPv6 address'],
  ['2001:DB8::1', 'must be in canonical form ("2001:db8::1")'],
  ['2001:db8:0:0:0:0:0:1', 'must be in canonical form ("2001:db8::1")'],
  ['1:0:0:1:0:0:0:1', 'must be in canonical form ("1:0:0:1::1")'],
  ['::1.2.3.4', 'must be in canonical form ("::102:304")'],
];

for (const [value, detail] of ipCases) {
  test(`IP ${value}: ${detail ?? 'valid'}`, (t) => {
    t.deepEqual(isValidIP(p, value).map(errorString), detail === null ? [] : [`spec.clusterIP: Invalid value: "${value}": ${detail}`]);
  });
}

test('legacy IP fields accept non-canonical forms and already-stored values', (t) => {
  t.deepEqual(isValidIPForLegacyField(p, '2001:DB8::1'), []);
  t.is(isValidIPForLegacyField(p, '010.1.2.3').length, 1);
  t.deepEqual(isValidIPForLegacyField(p, '010.1.2.3', false), []);
  t.deepEqual(isValidIPForLegacyField(p, '010.1.2.3', true, ['010.1.2.3']), []);
});

const cidrCases: [string, string | null][] = [
  ['10.0.0.0/8', null],
  ['0.0.0.0/0', null],
  ['2001:db8::/64', null],
  ['10.0.0.1/8', 'must not have bits set beyond the prefix length'],
  ['10.0.0.0/08', 'must not have leading 0s in IP or prefix length'],
  ['2001:DB8::/64', 'must be in canonical form ("2001:db8::/64")'],
  ['::ffff:1.2.3.0/120', 'must not have an IPv4-mapped IPv6 address'],
  ['1.2.3.0/33', 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'],
  ['1.2.3.0', 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'],
];

for (const [value, detail] of cidrCases) {
  test(`CIDR ${value}: ${detail ?? 'valid'}`, (t) => {
    t.deepEqual(isValidCIDR(p, value).map(errorString), detail === null ? [] : [`spec.clusterIP: Invalid value: "${value}": ${detail}`]);
  });
}

// ---- field paths ----

test('field paths render as upstream names fields', (t) => {
  t.is(FieldPath.ROOT.child('spec').child('containers').index(0).child('name').toString(), 'spec.containers[0].name');
  t.is(FieldPath.root('metadata', 'labels').key('app.kubernetes.io/name').toString(), 'metadata.labels[app.kubernetes.io/name]');
  t.is(FieldPath.root('spec').child('a', 'b').index(2).index(3).toString(), 'spec.a.b[2][3]');
  t.is(FieldPath.ROOT.toString(), '');
  const parent = FieldPath.root('spec');
  parent.child('x');
  t.is(parent.toString(), 'spec', 'paths are immutable');
});

// ---- field errors: rendering ----

const path = FieldPath.root('spec', 'f');
const bodies: [FieldError, string][] = [
  [required(path), 'spec.f: Required value'],
  [required(path, 'must be set'), 'spec.f: Required value: must be set'],
  [forbidden(path, 'not allowed'), 'spec.f: Forbidden: not allowed'],
  [invalid(path, 'a"b\n', 'bad'), 'spec.f: Invalid value: "a\\"b\\n": bad'],
  [invalid(path, 'ü\u0001', 'bad'), 'spec.f: Invalid value: "ü\\x01": bad'],
  [invalid(path, -1, 'must be greater than or equal to 0'), 'spec.f: Invalid value: -1: must be greater than or equal to 0'],
  [invalid(path, true, 'no'), 'spec.f: Invalid value: true: no'],
  [invalid(path, ['a', '<b>'], 'no'), 'spec.f: Invalid value: ["a","\\u003cb\\u003e"]: no'],
  [invalid(path, null, 'no'), 'spec.f: Invalid value: null: no'],
  [notSupported(path, 'Sometimes', ['Always', 'Never']), 'spec.f: Unsupported value: "Sometimes": supported values: "Always", "Never"'],
  [notSupported(path, 'x', []), 'spec.f: Unsupported value: "x"'],
  [tooLong(path, 63), 'spec.f: Too long: may not be more than 63 bytes'],
  [tooLong(path, 1), 'spec.f: Too long: may not be more than 1 byte'],
  [tooMany(path, 5, 4), 'spec.f: Too many: 5: must have at most 4 items'],
  [tooMany(path, -1, 1), 'spec.f: Too many: must have at most 1 item'],
  [duplicate(path, 'x'), 'spec.f: Duplicate value: "x"'],
  [notFound(path, 'x'), 'spec.f: Not found: "x"'],
  [internalError(path, 'boom'), 'spec.f: Internal error: boom'],
  [invalid(null, 'k', 'bad'), '<nil>: Invalid value: "k": bad'],
];

for (const [e, want] of bodies) {
  test(`field error renders as ${JSON.stringify(want)}`, (t) => {
    t.is(errorString(e), want);
    t.is(errorBody(e), want.slice(want.indexOf(': ') + 2));
  });
}

test('an aggregate is one message alone, several in brackets, duplicates once', (t) => {
  const a = required(FieldPath.root('a'));
  const b = forbidden(FieldPath.root('b'), 'no');
  t.is(aggregateMessage([]), null);
  t.is(aggregateMessage([a]), 'a: Required value');
  t.is(aggregateMessage([a, a]), 'a: Required value');
  t.is(aggregateMessage([a, b, a]), '[a: Required value, b: Forbidden: no]');
});

test('a 422 Status carries the aggregated message and one cause per error', (t) => {
  const errs = [required(FieldPath.root('metadata', 'name'), 'name or generateName is required'), invalid(FieldPath.root('spec', 'replicas'), -1, 'must be greater than or equal to 0')];
  t.is(
    invalidMessage({ group: 'apps', kind: 'Deployment' }, 'web', errs),
    'Deployment.apps "web" is invalid: [metadata.name: Required value: name or generateName is required, spec.replicas: Invalid value: -1: must be greater than or equal to 0]',
  );
  t.is(invalidMessage({ group: '', kind: 'Pod' }, 'p', errs.slice(0, 1)), 'Pod "p" is invalid: metadata.name: Required value: name or generateName is required');
  t.is(invalidMessage({ group: '', kind: 'Pod' }, '', []), 'Pod "" is invalid');
  t.deepEqual(statusCauses([...errs, invalid(FieldPath.ROOT, 'x', 'top')]), [
    { reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' },
    { reason: 'FieldValueInvalid', message: 'Invalid value: -1: must be greater than or equal to 0', field: 'spec.replicas' },
    { reason: 'FieldValueInvalid', message: 'Invalid value: "x": top' },
  ]);
  const status = invalidStatus({ group: '', kind: 'Pod' }, 'p', errs.slice(0, 1));
  t.is(status.code, 422);
  t.is(status.reason, 'Invalid');
  t.deepEqual(status.details, {
    kind: 'Pod',
    name: 'p',
    causes: [{ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' }],
  });
});

// ---- ObjectMeta on create: [meta, namespaced, name format, expected errors] ----

const owner = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u1' };
const metaCases: [string, ObjectMeta, boolean, string[]][] = [
  ['a plain namespaced object', { name: 'web', namespace: 'default' }, true, []],
  ['a name is required', { namespace: 'default' }, true, ['metadata.name: Required value: name or generateName is required']],
  [
    'a generateName alone still needs the generated name',
    { generateName: 'web-', namespace: 'default' },
    true,
    ['metadata.name: Required value: name or generateName is required'],
  ],
  ['a bad name', { name: 'Web', namespace: 'default' }, true, [`metadata.name: Invalid value: "Web": ${SUBDOMAIN_1123}`]],
  ['a bad generateName', { name: 'web-x', generateName: 'Web-', namespace: 'd' }, true, [`metadata.generateName: Invalid value: "Web-": ${SUBDOMAIN_1123}`]],
  // generateName drops its last two characters for one 'a': a 254-byte prefix passes a 253 limit.
  ['a generateName one over the limit passes (upstream quirk)', { name: 'n', generateName: `${x(253)}-`, namespace: 'd' }, true, []],
  ['a namespace is required for namespaced kinds', { name: 'web' }, true, ['metadata.namespace: Required value']],
  ['a namespace is forbidden for cluster-scoped kinds', { name: 'node-1', namespace: 'default' }, false, ['metadata.namespace: Forbidden: not allowed on this type']],
  ['a namespace must be a DNS label', { name: 'web', namespace: 'my.ns' }, true, ['metadata.namespace: Invalid value: "my.ns": must not contain dots']],
  ['generation may not be negative', { name: 'w', namespace: 'd', generation: -1 }, true, ['metadata.generation: Invalid value: -1: must be greater than or equal to 0']],
  [
    'labels: keys and values are checked, the path is the map',
    { name: 'w', namespace: 'd', labels: { 'app.kubernetes.io/name': 'web', '-bad': 'ok', good: '-bad' } },
    true,
    [`metadata.labels: Invalid value: "-bad": ${KEY_NAME}`, `metadata.labels: Invalid value: "-bad": ${LABEL_VALUE}`],
  ],
  [
    'annotation keys are qualified names, compared in lower case',
    { name: 'w', namespace: 'd', annotations: { 'Example.COM/Key': 'x', 'bad key': 'y' } },
    true,
    [`metadata.annotations: Invalid value: "bad key": ${KEY_NAME}`],
  ],
  [
    'annotations may total 256 KiB',
    { name: 'w', namespace: 'd', annotations: { k: x(TOTAL_ANNOTATION_SIZE_LIMIT_BYTES - 1) } },
    true,
    [],
  ],
  [
    'annotations over 256 KiB are too long',
    { name: 'w', namespace: 'd', annotations: { k: x(TOTAL_ANNOTATION_SIZE_LIMIT_BYTES) } },
    true,
    ['metadata.annotations: Too long: may not be more than 262144 bytes'],
  ],
  ['a complete owner reference', { name: 'w', namespace: 'd', ownerReferences: [{ ...owner, controller: true }] }, true, []],
  [
    'owner references need apiVersion, kind, name and uid',
    { name: 'w', namespace: 'd', ownerReferences: [{ apiVersion: 'apps/' }] },
    true,
    [
      'metadata.ownerReferences.apiVersion: Invalid value: "apps/": version must not be empty',
      'metadata.ownerReferences.kind: Invalid value: "": must not be empty',
      'metadata.ownerReferences.name: Invalid value: "": must not be empty',
      'metadata.ownerReferences.uid: Invalid value: "": must not be empty',
    ],
  ],
  [
    'an Event cannot own anything',
    { name: 'w', namespace: 'd', ownerReferences: [{ apiVersion: 'v1', kind: 'Event', name: 'e', uid: 'u' }] },
    true,
    ['metadata.ownerReferences: Invalid value: {"apiVersion":"v1","kind":"Event","name":"e","uid":"u"}: /v1, Kind=Event is disallowed from being an owner'],
  ],
  [
    'only one owner may be the controller',
    {
      name: 'w',
      namespace: 'd',
      ownerReferences: [
        { ...owner, controller: true },
        { apiVersion: 'v1', kind: 'Node', name: 'n', uid: 'u2', controller: true },
      ],
    },
    true,
    [
      'metadata.ownerReferences: Invalid value: [{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"u1","controller":true},{"apiVersion":"v1","kind":"Node","name":"n","uid":"u2","controller":true}]: Only one reference can have Controller set to true. Found "true" in references for ReplicaSet/rs and Node/n',
    ],
  ],
  [
    'finalizers are qualified names and orphan excludes foregroundDeletion',
    { name: 'w', namespace: 'd', finalizers: ['kubernetes.io/pv-protection', 'orphan', 'foregroundDeletion'] },
    true,
    ['metadata.finalizers: Invalid value: ["kubernetes.io/pv-protection","orphan","foregroundDeletion"]: finalizer orphan and foregroundDeletion cannot be both set'],
  ],
];

for (const [what, meta, namespaced, want] of metaCases) {
  test(`ObjectMeta: ${what}`, (t) => {
    t.deepEqual(validateObjectMeta(meta, { namespaced, nameFn: nameIsDNSSubdomain }).map(errorString), want);
  });
}

test('ObjectMeta: the name format is the kind\'s choice', (t) => {
  t.deepEqual(validateObjectMeta({ name: 'a.b' }, { namespaced: false, nameFn: nameIsDNSSubdomain }), []);
  t.deepEqual(validateObjectMeta({ name: 'a.b' }, { namespaced: false, nameFn: nameIsDNSLabel }).map(errorString), ['metadata.name: Invalid value: "a.b": must not contain dots']);
  t.deepEqual(
    validateObjectMeta({ name: x(64) }, { namespaced: false, nameFn: nameIsDNSLabel }, FieldPath.root('spec', 'template', 'metadata')).map(errorString),
    [`spec.template.metadata.name: Invalid value: "${x(64)}": must be no more than 63 characters`],
  );
});

// ---- ObjectMeta on update ----

const stored: ObjectMeta = { name: 'web', namespace: 'd', uid: 'u1', resourceVersion: '7', generation: 3, creationTimestamp: '2024-01-01T00:00:00Z', finalizers: ['a.io/x'] };

test('ObjectMeta update: an unchanged object with a resourceVersion is valid', (t) => {
  t.deepEqual(validateObjectMetaUpdate({ ...stored }, stored), []);
});

test('ObjectMeta update: identity is immutable, resourceVersion required, generation monotonic', (t) => {
  const errs = validateObjectMetaUpdate({ ...stored, name: 'other', uid: 'u2', resourceVersion: '', generation: 2, creationTimestamp: null }, stored).map(errorString);
  t.deepEqual(errs, [
    'metadata.resourceVersion: Invalid value: "": must be specified for an update',
    'metadata.generation: Invalid value: 2: must not be decremented',
    'metadata.name: Invalid value: "other": field is immutable',
    'metadata.uid: Invalid value: "u2": field is immutable',
    'metadata.creationTimestamp: Invalid value: null: field is immutable',
  ]);
});

test('ObjectMeta update: no new finalizers once deletion has started', (t) => {
  const deleting = { ...stored, deletionTimestamp: '2024-02-02T00:00:00Z' };
  t.deepEqual(validateObjectMetaUpdate({ ...deleting, finalizers: [] }, deleting), []);
  t.deepEqual(validateObjectMetaUpdate({ ...deleting, finalizers: ['z.io/b', 'a.io/x', 'b.io/a'] }, deleting).map(errorString), [
    'metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"b.io/a", "z.io/b"}',
  ]);
});
