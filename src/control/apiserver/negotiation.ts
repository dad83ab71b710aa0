/**
 * Content negotiation: what a response is rendered as (`Accept`), and how a
 * request body is decoded (`Content-Type`), with the errors kube-apiserver
 * gives for what it cannot do (406, 415, 400).
 */
import { parse as parseYaml } from 'yaml';
import { ApiError, badRequest, notAcceptable, unsupportedMediaType } from './errors.js';
import { decodeKubeProtobuf, isKubeProtobufError, KUBE_PROTOBUF_CONTENT_TYPE } from './protobuf/index.js';

export type ResponseFormat = { kind: 'json' } | { kind: 'yaml' } | { kind: 'table'; version: 'v1' | 'v1beta1' };

interface MediaRange {
  type: string;
  params: Record<string, string>;
}

function parseAccept(accept: string): MediaRange[] {
  return accept
    .split(',')
    .map((part) => {
      const [type, ...ps] = part.split(';').map((x) => x.trim());
      const params: Record<string, string> = {};
      for (const p of ps) {
        const eq = p.indexOf('=');
        if (eq > 0) params[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim();
      }
      return { type: (type ?? '').toLowerCase(), params };
    })
    .filter((m) => m.type !== '');
}

/**
 * The first acceptable format in the client's order. Tables are offered only
 * where `tableAllowed` (GET, LIST and WATCH of resources).
 */
export function negotiate(accept: string | undefined, tableAllowed: boolean): ResponseFormat {
  if (!accept) return { kind: 'json' };
  for (const m of parseAccept(accept)) {
    const q = m.params.q;
    if (q !== undefined && Number(q) === 0) continue;
    if (m.params.as === 'Table') {
      if (tableAllowed && m.type === 'application/json' && m.params.g === 'meta.k8s.io' && (m.params.v === 'v1' || m.params.v === 'v1beta1')) {
        return { kind: 'table', version: m.params.v };
      }
      continue;
    }
    if (m.params.as) continue; // PartialObjectMetadata and other conversions we do not offer
    if (m.type === 'application/json' || m.type === '*/*' || m.type === 'application/*' || m.type === 'application/json-patch+json') return { kind: 'json' };
    if (m.type === 'application/yaml' || m.type === 'text/yaml') return { kind: 'yaml' };
  }
  throw notAcceptable('only the following media types are accepted: application/json, application/yaml');
}

const JSON_BODY_TYPES = new Set(['application/json', 'application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', '']);

export function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
}

/** Decodes a request body; malformed input is a 400 with the decoder's reason, an unknown type a 415. */
export function decodeBody(body: Buffer, contentType: string | undefined): unknown {
  const type = mediaTypeOf(contentType);
  const text = body.toString('utf8');
  if (JSON_BODY_TYPES.has(type)) {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw badRequest(`error decoding request body: ${(e as Error).message}`);
    }
  }
  if (type === 'application/yaml' || type === 'application/apply-patch+yaml' || type === 'text/yaml') {
    try {
      return parseYaml(text, { maxAliasCount: 100 });
    } catch (e) {
      throw badRequest(`error converting YAML to JSON: ${(e as Error).message.split('\n', 1)[0]}`);
    }
  }
  if (type === KUBE_PROTOBUF_CONTENT_TYPE) {
    // kubectl's typed commands (create namespace|configmap|deployment…, run) send protobuf.
    try {
      return decodeKubeProtobuf(body);
    } catch (e) {
      if (isKubeProtobufError(e)) throw new ApiError(e.reason, e.message);
      throw e;
    }
  }
  throw unsupportedMediaType(contentType ?? '');
}
