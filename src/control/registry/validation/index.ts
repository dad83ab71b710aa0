/**
 * Validation primitives shared by every registry strategy: the string
 * formats of k8s.io/apimachinery pkg/util/validation, ObjectMeta checks,
 * field errors with upstream's exact wording, and their rendering into the
 * 422 Status kube-apiserver sends. Pure functions; nothing here throws on a
 * user's mistake — errors are returned as data.
 */
export { FieldPath } from './field-path.js';
export {
  aggregateMessage,
  duplicate,
  errorBody,
  errorString,
  type FieldError,
  type FieldErrorList,
  type FieldErrorType,
  forbidden,
  internalError,
  invalid,
  notFound,
  notSupported,
  OMIT_VALUE,
  required,
  tooLong,
  tooMany,
  typeInvalid,
} from './field-errors.js';
export {
  type GroupKind,
  HTTP_UNPROCESSABLE_ENTITY,
  invalidMessage,
  invalidStatus,
  type InvalidStatus,
  qualifiedKind,
  statusCauses,
  type StatusCause,
} from './status.js';
export { byteLength, compareGoStrings, goJson, goQuote } from './go-format.js';
export {
  DNS1035_LABEL_MAX_LENGTH,
  DNS1123_LABEL_MAX_LENGTH,
  DNS1123_SUBDOMAIN_MAX_LENGTH,
  emptyError,
  inclusiveRangeError,
  isCIdentifier,
  isConfigMapKey,
  isDNS1035Label,
  isDNS1123Label,
  isDNS1123Subdomain,
  isEnvVarName,
  isInRange,
  isQualifiedName,
  isValidLabelValue,
  isValidPortName,
  isValidPortNum,
  LABEL_VALUE_MAX_LENGTH,
  maxLenError,
  PORT_NAME_MAX_LENGTH,
  QUALIFIED_NAME_MAX_LENGTH,
  regexError,
} from './names.js';
export { isValidCIDR, isValidCIDRForLegacyField, isValidIP, isValidIPForLegacyField } from './ip.js';
export {
  annotationsSizeBytes,
  FIELD_IMMUTABLE_ERROR_MSG,
  FINALIZER_DELETE_DEPENDENTS,
  FINALIZER_ORPHAN_DEPENDENTS,
  IS_NEGATIVE_ERROR_MSG,
  nameIsDNS1035Label,
  nameIsDNSLabel,
  nameIsDNSSubdomain,
  type ObjectMeta,
  type ObjectMetaOptions,
  type OwnerReference,
  TOTAL_ANNOTATION_SIZE_LIMIT_BYTES,
  validateAnnotations,
  validateFinalizers,
  validateImmutableField,
  validateLabelName,
  validateLabels,
  type ValidateNameFunc,
  validateNamespaceName,
  validateNoNewFinalizers,
  validateNonnegativeField,
  validateObjectMeta,
  validateObjectMetaUpdate,
  validateOwnerReferences,
} from './object-meta.js';
