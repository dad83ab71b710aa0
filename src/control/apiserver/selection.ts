/**
 * `?labelSelector=` and `?fieldSelector=` of a LIST, WATCH or
 * DELETECOLLECTION as one Selection; a malformed selector is a 400.
 */
import type { ResourceInfo } from '../registry/resources.js';
import { badRequest } from './errors.js';
import type { KubeObject } from './object-store.js';
import { EVERYTHING, type Selection } from './rest.js';
import { compileFieldSelector, isSelectorError, parseLabelSelector } from './selectors/index.js';

export function parseSelection(r: ResourceInfo, labelSelector: string, fieldSelector: string, name = ''): Selection {
  try {
    const labels = labelSelector.trim() ? parseLabelSelector(labelSelector) : null;
    const fsel = [fieldSelector.trim(), name ? `metadata.name=${name}` : ''].filter(Boolean).join(',');
    const fields = fsel ? compileFieldSelector(r.resource, fsel) : null;
    if ((!labels || labels.empty) && !fields) return EVERYTHING;
    return {
      everything: false,
      matches: (o: KubeObject) => (!labels || labels.matches(o.metadata.labels ?? {})) && (!fields || fields.matches(o)),
    };
  } catch (e) {
    if (isSelectorError(e)) throw badRequest(e.message);
    throw e;
  }
}
