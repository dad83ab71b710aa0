/**
 * String-format checks from k8s.io/apimachinery pkg/util/validation (and the
 * pkg/api/validate/content package it delegates label keys and values to).
 * Each returns the list of upstream messages, empty when the value is valid.
 *
 * Two wordings of the length limit coexist upstream, and both are kept: the
 * DNS-name and config-key checks say "characters", the label-key and
 * label-value checks say "bytes". Lengths are always counted in UTF-8 bytes,
 * as Go's len() counts them.
 */
import { byteLength } from './go-format.js';

export const DNS1123_LABEL_MAX_LENGTH = 63;
export const DNS1123_SUBDOMAIN_MAX_LENGTH = 253;
export const DNS1035_LABEL_MAX_LENGTH = 63;
export const LABEL_VALUE_MAX_LENGTH = 63;
export const QUALIFIED_NAME_MAX_LENGTH = 63;
export const PORT_NAME_MAX_LENGTH = 15;

// ---- message builders (upstream wording) ----

export function maxLenError(length: number): string {
  return `must be no more than ${length} characters`;
}

/** The label-key/label-value flavour of maxLenError. */
function maxLenBytesError(length: number): string {
  return `must be no more than ${length} bytes`;
}

export function emptyError(): string {
  return 'must be non-empty';
}

export function inclusiveRangeError(lo: number, hi: number): string {
  return `must be between ${lo} and ${hi}, inclusive`;
}

/**
 * `msg (e.g. 'a',  or 'b', regex used for validation is 're')` — the double
 * space after the first example is upstream's, and clients see it.
 */
export function regexError(msg: string, re: string, ...examples: string[]): string {
  if (examples.length === 0) return `${msg} (regex used for validation is '${re}')`;
  const shown = examples.map((e) => `'${e}', `).join(' or ');
  return `${msg} (e.g. ${shown}regex used for validation is '${re}')`;
}

// ---- DNS names ----

const DNS1123_LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT = `${DNS1123_LABEL_FMT}(\\.${DNS1123_LABEL_FMT})*`;
const DNS1123_SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1035_LABEL_FMT = '[a-z]([-a-z0-9]*[a-z0-9])?';
const DNS1035_LABEL_MSG =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";

const anchored = (fmt: string) => new RegExp(`^(?:${fmt})$`);
const DNS1123_LABEL_RE = anchored(DNS1123_LABEL_FMT);
const DNS1123_SUBDOMAIN_RE = anchored(DNS1123_SUBDOMAIN_FMT);
const DNS1035_LABEL_RE = anchored(DNS1035_LABEL_FMT);

/** RFC 1123 label: names of namespaces, services' ports and most cluster-scoped "short" names. */
export function isDNS1123Label(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > DNS1123_LABEL_MAX_LENGTH) errs.push(maxLenError(DNS1123_LABEL_MAX_LENGTH));
  if (!DNS1123_LABEL_RE.test(value)) {
    // A valid subdomain that is not a valid label can only be wrong because of its dots.
    if (DNS1123_SUBDOMAIN_RE.test(value)) errs.push('must not contain dots');
    else errs.push(regexError(DNS1123_LABEL_MSG, DNS1123_LABEL_FMT, 'my-name', '123-abc'));
  }
  return errs;
}

/** RFC 1123 subdomain: the name format of most objects (pods, configmaps, deployments …). */
export function isDNS1123Subdomain(value: string): string[] {
  return subdomainErrors(value, maxLenError);
}

function subdomainErrors(value: string, lengthMessage: (n: number) => string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > DNS1123_SUBDOMAIN_MAX_LENGTH) errs.push(lengthMessage(DNS1123_SUBDOMAIN_MAX_LENGTH));
  if (!DNS1123_SUBDOMAIN_RE.test(value)) errs.push(regexError(DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, 'example.com'));
  return errs;
}

/** RFC 1035 label: must start with a letter (service names). */
export function isDNS1035Label(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > DNS1035_LABEL_MAX_LENGTH) errs.push(maxLenError(DNS1035_LABEL_MAX_LENGTH));
  if (!DNS1035_LABEL_RE.test(value)) errs.push(regexError(DNS1035_LABEL_MSG, DNS1035_LABEL_FMT, 'my-name', 'abc-123'));
  return errs;
}

// ---- label keys (qualified names) and label values ----

const LABEL_KEY_FMT = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const LABEL_KEY_MSG = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_KEY_RE = anchored(LABEL_KEY_FMT);
const LABEL_VALUE_FMT = `(${LABEL_KEY_FMT})?`;
const LABEL_VALUE_MSG =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_RE = anchored(LABEL_VALUE_FMT);

/**
 * A "qualified name": `[prefix/]name`, where the optional prefix is a DNS
 * subdomain and the name is at most 63 bytes. Label keys, annotation keys
 * (after lower-casing), finalizers and many more use this format.
 */
export function isQualifiedName(value: string): string[] {
  const parts = value.split('/');
  if (parts.length > 2) {
    const shape = regexError(LABEL_KEY_MSG, LABEL_KEY_FMT, 'MyName', 'my.name', '123-abc');
    return [`a valid label key ${shape} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`];
  }
  const name = parts.length === 2 ? parts[1]! : parts[0]!;
  const errs = parts.length === 2 ? prefixErrors(parts[0]!) : [];
  if (name.length === 0) errs.push(`name part ${emptyError()}`);
  else if (byteLength(name) > QUALIFIED_NAME_MAX_LENGTH) errs.push(`name part ${maxLenBytesError(QUALIFIED_NAME_MAX_LENGTH)}`);
  // Upstream checks the pattern even after reporting an empty name, so both messages appear.
  if (!LABEL_KEY_RE.test(name)) errs.push(`name part ${regexError(LABEL_KEY_MSG, LABEL_KEY_FMT, 'MyName', 'my.name', '123-abc')}`);
  return errs;
}

function prefixErrors(prefix: string): string[] {
  if (prefix.length === 0) return [`prefix part ${emptyError()}`];
  return subdomainErrors(prefix, maxLenBytesError).map((m) => `prefix part ${m}`);
}

/** A label value: empty, or up to 63 bytes of [-A-Za-z0-9_.] starting and ending alphanumeric. */
export function isValidLabelValue(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > LABEL_VALUE_MAX_LENGTH) errs.push(maxLenBytesError(LABEL_VALUE_MAX_LENGTH));
  if (!LABEL_VALUE_RE.test(value)) errs.push(regexError(LABEL_VALUE_MSG, LABEL_VALUE_FMT, 'MyValue', 'my_value', '12345'));
  return errs;
}

// ---- identifiers, env vars, config keys ----

const C_IDENTIFIER_FMT = '[A-Za-z_][A-Za-z0-9_]*';
const C_IDENTIFIER_MSG = "a valid C identifier must start with alphabetic character or '_', followed by a string of alphanumeric characters or '_'";
const C_IDENTIFIER_RE = anchored(C_IDENTIFIER_FMT);
const ENV_VAR_NAME_FMT = '[-._a-zA-Z][-._a-zA-Z0-9]*';
const ENV_VAR_NAME_MSG = "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit";
const ENV_VAR_NAME_RE = anchored(ENV_VAR_NAME_FMT);
const CONFIG_MAP_KEY_FMT = '[-._a-zA-Z0-9]+';
const CONFIG_MAP_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'";
const CONFIG_MAP_KEY_RE = anchored(CONFIG_MAP_KEY_FMT);

/** A C identifier (format only, no length limit). */
export function isCIdentifier(value: string): string[] {
  if (C_IDENTIFIER_RE.test(value)) return [];
  return [regexError(C_IDENTIFIER_MSG, C_IDENTIFIER_FMT, 'my_name', 'MY_NAME', 'MyName')];
}

/** An environment variable name (the strict, pre-relaxation rule). */
export function isEnvVarName(value: string): string[] {
  const errs: string[] = [];
  if (!ENV_VAR_NAME_RE.test(value)) errs.push(regexError(ENV_VAR_NAME_MSG, ENV_VAR_NAME_FMT, 'my.env-name', 'MY_ENV.NAME', 'MyEnvName1'));
  return [...errs, ...chDirPrefixErrors(value)];
}

/** A key of a ConfigMap or Secret: it becomes a file name when mounted, hence the '.'/'..' rules. */
export function isConfigMapKey(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > DNS1123_SUBDOMAIN_MAX_LENGTH) errs.push(maxLenError(DNS1123_SUBDOMAIN_MAX_LENGTH));
  if (!CONFIG_MAP_KEY_RE.test(value)) errs.push(regexError(CONFIG_MAP_KEY_MSG, CONFIG_MAP_KEY_FMT, 'key.name', 'KEY_NAME', 'key-name'));
  return [...errs, ...chDirPrefixErrors(value)];
}

/** Names that would step out of a mounted directory. */
function chDirPrefixErrors(value: string): string[] {
  if (value === '.') return ["must not be '.'"];
  if (value === '..') return ["must not be '..'"];
  if (value.startsWith('..')) return ["must not start with '..'"];
  return [];
}

// ---- ports and ranges ----

/** A non-zero TCP/UDP port number. */
export function isValidPortNum(port: number): string[] {
  return isInRange(port, 1, 65535);
}

export function isInRange(value: number, min: number, max: number): string[] {
  if (Number.isInteger(value) && value >= min && value <= max) return [];
  return [inclusiveRangeError(min, max)];
}

const PORT_NAME_CHARSET_RE = /^[-a-z0-9]+$/;
const PORT_NAME_LETTER_RE = /[a-z]/;

/** An IANA_SVC_NAME (RFC 6335), lower case only: at most 15 chars, one letter, no '--', no edge '-'. */
export function isValidPortName(port: string): string[] {
  const errs: string[] = [];
  if (byteLength(port) > PORT_NAME_MAX_LENGTH) errs.push(maxLenError(PORT_NAME_MAX_LENGTH));
  if (!PORT_NAME_CHARSET_RE.test(port)) errs.push('must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)');
  if (!PORT_NAME_LETTER_RE.test(port)) errs.push('must contain at least one letter (a-z)');
  if (port.includes('--')) errs.push('must not contain consecutive hyphens');
  if (port.length > 0 && (port.startsWith('-') || port.endsWith('-'))) errs.push('must not begin or end with a hyphen');
  return errs;
}
