/**
 * Label and field selectors for the API server (`?labelSelector=`,
 * `?fieldSelector=`) and for controllers (metav1.LabelSelector in workload
 * specs). Parse once, match many times; every user mistake is a
 * SelectorError carrying kube-apiserver's message, answered with 400.
 */
export { badRequestStatus, type BadRequestStatus, HTTP_BAD_REQUEST, isSelectorError, SELECTOR_ERRORS, SelectorError, type SelectorErrorCode } from './errors.js';
export { type Labels, type Operator, type Requirement, requirementMatches, requirementToString } from './requirement.js';
export {
  everything,
  type LabelSelector,
  labelSelectorAsSelector,
  type LabelSelectorOperator,
  type LabelSelectorRequirement,
  labelSelectorToString,
  type LabelSelectorValidationOptions,
  nothing,
  parseLabelSelector,
  type Selector,
  selectorFromSet,
  validateLabelSelector,
} from './label-selector.js';
export {
  escapeFieldValue,
  type FieldSource,
  type FieldTerm,
  FieldSelector,
  type FieldTransform,
  parseFieldSelector,
  unescapeFieldValue,
} from './field-selector.js';
export {
  compileFieldSelector,
  convertFieldLabel,
  DEFAULT_RESOURCE_FIELDS,
  fieldValue,
  type KubeObject,
  resourceFields,
  type ResourceFields,
  type ResourceFieldSelector,
  SELECTABLE_FIELDS,
  selectableFields,
  supportedFieldPaths,
} from './selectable-fields.js';
