import test from 'ava';
import {
  badRequestStatus,
  compileFieldSelector,
  escapeFieldValue,
  fieldValue,
  isSelectorError,
  type LabelSelector,
  labelSelectorAsSelector,
  labelSelectorToString,
  parseFieldSelector,
  parseLabelSelector,
  selectableFields,
  selectorFromSet,
  SelectorError,
  supportedFieldPaths,
  unescapeFieldValue,
  validateLabelSelector,
} from '../src/control/apiserver/selectors/index.js';
import { errorString, FieldPath } from '../src/control/registry/validation/index.js';

// Upstream's wording of the two label-format messages, reused by many cases below.
const KEY_NAME_FORMAT =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const VALUE_FORMAT =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

// ---- label selector strings: input → canonical string ----

const parses: [string, string][] = [
  ['', ''],
  ['   ', ''],
  ['a=b', 'a=b'],
  ['a==b', 'a==b'],
  ['a!=b', 'a!=b'],
  ['a', 'a'],
  ['!a', '!a'],
  ['! a', '!a'],
  ['  !  a  ,  b = c  ', '!a,b=c'],
  ['a\t=\nb', 'a=b'],
  ['a in (x,y)', 'a in (x,y)'],
  ['a in (y,x,y)', 'a in (x,y)'],
  ['a notin (x)', 'a notin (x)'],
  ['a in(x)', 'a in (x)'],
  // "()" is the empty value, not an error; empty entries stand for '' too.
  ['a in ()', 'a in ()'],
  ['x in (foo,,baz),y,z notin ()', 'x in (,baz,foo),y,z notin ()'],
  ['a in (,x)', 'a in (,x)'],
  ['a in (x,)', 'a in (,x)'],
  ['a=', 'a='],
  ['a!=', 'a!='],
  // Requirements come back sorted by key.
  ['b=1,a=2', 'a=2,b=1'],
  ['app.kubernetes.io/name=web', 'app.kubernetes.io/name=web'],
  ['example.com/Key_1.x=Value-2', 'example.com/Key_1.x=Value-2'],
  // Keywords are identifiers where a key or value is expected.
  ['in=notin', 'in=notin'],
  ['a in (in,notin)', 'a in (in,notin)'],
  ['a>3', 'a>3'],
  ['a<10', 'a<10'],
  [`${'k'.repeat(63)}=${'v'.repeat(63)}`, `${'k'.repeat(63)}=${'v'.repeat(63)}`],
  [`${'p'.repeat(253)}/k`, `${'p'.repeat(253)}/k`],
];

for (const [input, canonical] of parses) {
  test(`label selector ${JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}…` : input)} parses to ${JSON.stringify(canonical.slice(0, 40))}`, (t) => {
    t.is(parseLabelSelector(input).toString(), canonical);
  });
}

// ---- label selector strings: input → kube-apiserver's message ----

const parseErrors: [string, string][] = [
  ['a in (', "unable to parse requirement: found '', expected: ',', ')' or identifier"],
  ['a in', "unable to parse requirement: found '' expected: '('"],
  ['a in x', "unable to parse requirement: found 'x' expected: '('"],
  ['a in (x y)', "unable to parse requirement: found 'y', expected: ',' or ')'"],
  ['a in (=)', "unable to parse requirement: found '=', expected: ',', ')' or identifier"],
  ['a in (x,=)', "unable to parse requirement: found '=', expected: ',', or identifier"],
  ['a b', "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"],
  ['a=(', "unable to parse requirement: found '(', expected: identifier"],
  ['!,a', "unable to parse requirement: found ',', expected: identifier"],
  ['a,', "found '', expected: identifier after ','"],
  ['a,,b', "found ',', expected: identifier after ','"],
  ['a=b=c', "found '=', expected: ',' or 'end of string'"],
  ['a=b c', "found 'c', expected: ',' or 'end of string'"],
  ['!a=b', "found '=', expected: ',' or 'end of string'"],
  ['=a', "found '=', expected: !, identifier, or 'end of string'"],
  [',a', "found ',', expected: !, identifier, or 'end of string'"],
  ['-a=b', `unable to parse requirement: <nil>: Invalid value: "-a": name part ${KEY_NAME_FORMAT}`],
  ['/a', 'unable to parse requirement: <nil>: Invalid value: "/a": prefix part must be non-empty'],
  ['a/', `unable to parse requirement: <nil>: Invalid value: "a/": name part must be non-empty; name part ${KEY_NAME_FORMAT}`],
  [
    'a/b/c=d',
    `unable to parse requirement: <nil>: Invalid value: "a/b/c": a valid label key ${KEY_NAME_FORMAT} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
  ],
  [`${'k'.repeat(64)}=v`, `unable to parse requirement: <nil>: Invalid value: "${'k'.repeat(64)}": name part must be no more than 63 bytes`],
  [`${'p'.repeat(254)}/k`, `unable to parse requirement: <nil>: Invalid value: "${'p'.repeat(254)}/k": prefix part must be no more than 253 bytes`],
  ['a=-b', `unable to parse requirement: values[0][a]: Invalid value: "-b": ${VALUE_FORMAT}`],
  [`a=${'v'.repeat(64)}`, `unable to parse requirement: values[0][a]: Invalid value: "${'v'.repeat(64)}": must be no more than 63 bytes`],
  ['a>x', `unable to parse requirement: values[0]: Invalid value: "x": for 'Gt', 'Lt' operators, the value must be an integer`],
  // A negative bound is still a label value, and those may not start with '-'.
  ['a<-3', `unable to parse requirement: values[0][a]: Invalid value: "-3": ${VALUE_FORMAT}`],
];

for (const [input, message] of parseErrors) {
  test(`label selector ${JSON.stringify(input.slice(0, 30))} is refused with upstream's message`, (t) => {
    const e = t.throws(() => parseLabelSelector(input), { instanceOf: SelectorError });
    t.is(e?.code, 'SELECTOR_ERR_LABEL_SYNTAX');
    t.is(e?.message, message);
    t.is(e?.httpStatus, 400);
  });
}

test('a selector error becomes the BadRequest Status kube-apiserver sends', (t) => {
  const e = t.throws(() => parseLabelSelector('a,'), { instanceOf: SelectorError })!;
  t.true(isSelectorError(e, 'SELECTOR_ERR_LABEL_SYNTAX'));
  t.deepEqual(badRequestStatus(e), {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: "found '', expected: identifier after ','",
    reason: 'BadRequest',
    code: 400,
  });
});

// ---- matching ----

const matching: [string, Record<string, string> | undefined, boolean][] = [
  ['', undefined, true],
  ['', { a: 'b' }, true],
  ['a=b', { a: 'b' }, true],
  ['a=b', { a: 'c' }, false],
  ['a=b', undefined, false],
  ['a!=b', {}, true],
  ['a!=b', { a: 'b' }, false],
  ['a in (x,y)', { a: 'y' }, true],
  ['a in (x,y)', { b: 'y' }, false],
  ['a notin (x)', {}, true],
  ['a notin (x)', { a: 'x' }, false],
  ['a', { a: '' }, true],
  ['a', { b: 'a' }, false],
  ['!a', { b: '1' }, true],
  ['!a', { a: '' }, false],
  ['a=', { a: '' }, true],
  ['a=', {}, false],
  ['a in ()', { a: '' }, true],
  ['a>3', { a: '4' }, true],
  ['a>3', { a: '3' }, false],
  ['a>3', { a: 'x' }, false],
  ['a<10', { a: '-2' }, true],
  ['app.kubernetes.io/name=web,tier!=db', { 'app.kubernetes.io/name': 'web', tier: 'front' }, true],
  ['app.kubernetes.io/name=web,tier!=db', { 'app.kubernetes.io/name': 'web', tier: 'db' }, false],
  ['toString', {}, false],
];

for (const [selector, labels, want] of matching) {
  test(`${JSON.stringify(selector)} ${want ? 'matches' : 'does not match'} ${JSON.stringify(labels)}`, (t) => {
    t.is(parseLabelSelector(selector).matches(labels), want);
  });
}

test('requiresExactMatch tells which value a key is pinned to', (t) => {
  const s = parseLabelSelector('a=1,b in (2),c in (3,4),d!=5');
  t.is(s.requiresExactMatch('a'), '1');
  t.is(s.requiresExactMatch('b'), '2');
  t.is(s.requiresExactMatch('c'), undefined);
  t.is(s.requiresExactMatch('d'), undefined);
  t.is(s.requiresExactMatch('e'), undefined);
});

test('selectorFromSet selects exactly the set; an empty set selects everything', (t) => {
  const s = selectorFromSet({ b: '2', a: '1' });
  t.is(s.toString(), 'a=1,b=2');
  t.true(s.matches({ a: '1', b: '2', c: '3' }));
  t.false(s.matches({ a: '1' }));
  t.true(selectorFromSet({}).empty);
  t.true(selectorFromSet(null).matches(undefined));
});

// ---- metav1.LabelSelector objects ----

test('a null LabelSelector selects nothing; an empty one selects everything', (t) => {
  t.false(labelSelectorAsSelector(null).matches({ a: 'b' }));
  t.false(labelSelectorAsSelector(undefined).matches(undefined));
  t.false(labelSelectorAsSelector(null).empty);
  t.true(labelSelectorAsSelector({}).matches({ a: 'b' }));
  t.true(labelSelectorAsSelector({ matchLabels: {}, matchExpressions: [] }).empty);
  t.is(labelSelectorToString(null), '');
  t.is(labelSelectorToString({}), '');
});

const objectSelectors: [LabelSelector, string][] = [
  [{ matchLabels: { app: 'web' } }, 'app=web'],
  [{ matchLabels: { b: '1', a: '2' } }, 'a=2,b=1'],
  [{ matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'back'] }] }, 'tier in (back,front)'],
  [{ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] }, 'tier notin (db)'],
  [{ matchExpressions: [{ key: 'canary', operator: 'Exists' }] }, 'canary'],
  [{ matchExpressions: [{ key: 'canary', operator: 'DoesNotExist', values: [] }] }, '!canary'],
  [
    { matchLabels: { 'app.kubernetes.io/name': 'web' }, matchExpressions: [{ key: 'env', operator: 'In', values: ['prod'] }] },
    'app.kubernetes.io/name=web,env in (prod)',
  ],
];

for (const [selector, canonical] of objectSelectors) {
  test(`LabelSelector ${JSON.stringify(selector)} renders as ${JSON.stringify(canonical)} (status.selector)`, (t) => {
    t.is(labelSelectorToString(selector), canonical);
    // The canonical string parses back into a selector with the same meaning.
    t.is(parseLabelSelector(canonical).toString(), canonical);
  });
}

const objectErrors: [LabelSelector, string][] = [
  [{ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }, 'values: Invalid value: ["x"]: values set must be empty for exists and does not exist'],
  [{ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }, "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"],
  [{ matchExpressions: [{ key: 'a', operator: 'NotIn' }] }, "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"],
  [{ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] }, '"Gt" is not a valid label selector operator'],
  [{ matchLabels: { a: '-b' } }, `values[0][a]: Invalid value: "-b": ${VALUE_FORMAT}`],
  [{ matchLabels: { '-a': 'b' } }, `key: Invalid value: "-a": name part ${KEY_NAME_FORMAT}`],
];

for (const [selector, message] of objectErrors) {
  test(`LabelSelector ${JSON.stringify(selector)} is refused: ${message.slice(0, 50)}`, (t) => {
    const e = t.throws(() => labelSelectorAsSelector(selector), { instanceOf: SelectorError });
    t.is(e?.code, 'SELECTOR_ERR_LABEL_SELECTOR_INVALID');
    t.is(e?.message, message);
  });
}

test('validateLabelSelector reports field errors under the given path', (t) => {
  const path = FieldPath.root('spec', 'selector');
  const errs = validateLabelSelector(
    {
      matchLabels: { ok: 'yes' },
      matchExpressions: [
        { key: 'a', operator: 'Exists', values: ['x'] },
        { key: 'b', operator: 'In' },
        { key: 'c', operator: 'Bogus' },
        { key: 'd', operator: 'In', values: ['ok', '-no'] },
      ],
    },
    path,
  ).map(errorString);
  t.deepEqual(errs, [
    "spec.selector.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
    "spec.selector.matchExpressions[1].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
    'spec.selector.matchExpressions[2].operator: Invalid value: "Bogus": not a valid selector operator',
    `spec.selector.matchExpressions[3].values[1]: Invalid value: "-no": ${VALUE_FORMAT}`,
  ]);
  t.deepEqual(validateLabelSelector(null, path), []);
  t.deepEqual(validateLabelSelector({ matchExpressions: [{ key: 'c', operator: 'Bogus' }] }, path, { allowUnknownOperatorInRequirement: true }), []);
});

// ---- field selectors: syntax ----

const fieldParses: [string, string][] = [
  ['', ''],
  ['metadata.name=x', 'metadata.name=x'],
  ['metadata.name==x', 'metadata.name=x'],
  ['status.phase!=Running', 'status.phase!=Running'],
  ['spec.nodeName=', 'spec.nodeName='],
  // Terms are sorted; empty terms are skipped.
  ['b=2,a=1', 'a=1,b=2'],
  [',,a=1,', 'a=1'],
  ['a=x\\,y', 'a=x\\,y'],
  ['a=x\\=y', 'a=x\\=y'],
  ['a=x\\\\y', 'a=x\\\\y'],
  // != is tried before == before = at each position.
  ['a!=b', 'a!=b'],
];

for (const [input, canonical] of fieldParses) {
  test(`field selector ${JSON.stringify(input)} parses to ${JSON.stringify(canonical)}`, (t) => {
    t.is(parseFieldSelector(input).toString(), canonical);
  });
}

const fieldSyntaxErrors: [string, string][] = [
  ['nonsense', "invalid selector: 'nonsense'; can't understand 'nonsense'"],
  // Sorted first, so 'b' is the term reported.
  ['metadata.name=a,b', "invalid selector: 'metadata.name=a,b'; can't understand 'b'"],
  ['a=b=c', 'invalid field selector: unescaped character in value: 61'],
  // The first operator splits the term, leaving a bare '=' in the value.
  ['a!==b', 'invalid field selector: unescaped character in value: 61'],
  ['a=x,y', "invalid selector: 'a=x,y'; can't understand 'y'"],
  ['a=x\\y', 'invalid field selector: invalid escape sequence: \\y'],
  ['a=x\\', 'invalid field selector: invalid escape sequence: \\'],
];

for (const [input, message] of fieldSyntaxErrors) {
  test(`field selector ${JSON.stringify(input)} is refused: ${message}`, (t) => {
    const e = t.throws(() => parseFieldSelector(input), { instanceOf: SelectorError });
    t.is(e?.code, 'SELECTOR_ERR_FIELD_SYNTAX');
    t.is(e?.message, message);
  });
}

test('escaping and unescaping field values round-trip', (t) => {
  for (const v of ['', 'plain', 'a,b', 'a=b', 'a\\b', '\\,=\\\\', 'ünïcode']) {
    t.is(unescapeFieldValue(escapeFieldValue(v)), v);
    t.true(parseFieldSelector(`f=${escapeFieldValue(v)}`).matches({ f: v }));
  }
});

// ---- field selectors: what each resource supports ----

const supported: [string, string][] = [
  ['pods', 'spec.nodeName=node-1'],
  ['pods', 'metadata.namespace=default,status.phase=Running'],
  ['pods', 'spec.restartPolicy=Always,spec.schedulerName=default-scheduler,spec.serviceAccountName=default'],
  ['pods', 'status.podIP=10.0.0.1,status.nominatedNodeName=n,spec.hostNetwork=true'],
  ['nodes', 'spec.unschedulable=false,metadata.name=n1'],
  ['events', 'involvedObject.kind=Pod,involvedObject.namespace=d,involvedObject.name=p,involvedObject.uid=u'],
  ['events', 'involvedObject.apiVersion=v1,involvedObject.resourceVersion=1,involvedObject.fieldPath=x,reason=Failed,source=kubelet,type=Warning'],
  ['secrets', 'type=kubernetes.io/tls'],
  ['namespaces', 'status.phase=Active'],
  ['configmaps', 'metadata.name=x,metadata.namespace=y'],
  ['deployments.apps', 'metadata.name=x'],
];

for (const [resource, selector] of supported) {
  test(`${resource} accepts ${selector}`, (t) => {
    t.notThrows(() => compileFieldSelector(resource, selector));
  });
}

const unsupported: [string, string, string][] = [
  ['pods', 'metadata.labels=x', 'field label not supported: metadata.labels'],
  ['pods', 'spec.nodename=x', 'field label not supported: spec.nodename'],
  ['pods', 'metadata.name = x', 'field label not supported: metadata.name '],
  ['nodes', 'metadata.namespace=x', 'field label not supported: metadata.namespace'],
  ['events', 'message=x', 'field label not supported: message'],
  ['secrets', 'data=x', 'field label not supported: data'],
  ['jobs', 'status.active=1', 'field label "status.active" not supported for Job'],
  ['configmaps', 'data.key=x', '"data.key" is not a known field selector: only "metadata.name", "metadata.namespace"'],
];

for (const [resource, selector, message] of unsupported) {
  test(`${resource} refuses ${selector} with 400: ${message}`, (t) => {
    const e = t.throws(() => compileFieldSelector(resource, selector), { instanceOf: SelectorError });
    t.is(e?.code, 'SELECTOR_ERR_FIELD_UNSUPPORTED');
    t.is(e?.message, message);
    t.is(badRequestStatus(e!).code, 400);
  });
}

const pod = {
  metadata: { name: 'web-0', namespace: 'default', labels: { app: 'web' } },
  spec: { nodeName: 'node-1', restartPolicy: 'Always', hostNetwork: true },
  status: { phase: 'Running', podIPs: [{ ip: '10.0.0.7' }], podIP: '10.0.0.7' },
};

test('field values are read from the object with Go zero values for what is missing', (t) => {
  t.is(fieldValue('pods', pod, 'spec.nodeName'), 'node-1');
  t.is(fieldValue('pods', pod, 'status.podIP'), '10.0.0.7');
  t.is(fieldValue('pods', pod, 'spec.hostNetwork'), 'true');
  t.is(fieldValue('pods', pod, 'spec.schedulerName'), '');
  t.is(fieldValue('nodes', { metadata: { name: 'n' } }, 'spec.unschedulable'), 'false');
  t.is(fieldValue('replicationcontrollers', { status: { replicas: 3 } }, 'status.replicas'), '3');
  t.is(fieldValue('jobs', {}, 'status.successful'), '0');
  t.is(fieldValue('events', { reportingComponent: 'kubelet' }, 'source'), 'kubelet');
  t.is(fieldValue('pods', pod, 'metadata.labels'), '');
  t.deepEqual(Object.keys(selectableFields('namespaces', { metadata: { name: 'x' } })), ['metadata.name', 'status.phase']);
  t.true(supportedFieldPaths('pods').includes('status.nominatedNodeName'));
  t.deepEqual(supportedFieldPaths('configmaps'), ['metadata.name', 'metadata.namespace']);
});

test('a compiled field selector matches objects; spec.nodeName= finds unscheduled pods', (t) => {
  const unscheduled = { metadata: { name: 'p', namespace: 'default' }, spec: {}, status: { phase: 'Pending' } };
  const pending = compileFieldSelector('pods', 'spec.nodeName=');
  t.true(pending.matches(unscheduled));
  t.false(pending.matches(pod));
  const onNode = compileFieldSelector('pods', 'spec.nodeName=node-1,status.phase!=Succeeded,metadata.namespace=default');
  t.true(onNode.matches(pod));
  t.false(onNode.matches(unscheduled));
  // spec.host is the old spelling of spec.nodeName.
  const legacy = compileFieldSelector('pods', 'spec.host=node-1');
  t.is(legacy.selector.toString(), 'spec.nodeName=node-1');
  t.true(legacy.matches(pod));
  t.is(compileFieldSelector('pods', 'metadata.name=web-0').selector.requiresExactMatch('metadata.name'), 'web-0');
});
