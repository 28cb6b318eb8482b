// Checks Kubernetes objects against the API's own schema, as shipped by kubernetes-models (generated from the
// OpenAPI of a Kubernetes release): the JSON-schema validators for types, enums and required fields, and the
// TypeScript types for fields the API does not know (which the apiserver's strict field validation rejects).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { REPO } from './dockerfile.ts';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** Every document of a YAML stream (a manifest file, kustomize's output). */
export function documents(text: string): K8sObject[] {
  return parseAllDocuments(text).map((d) => d.toJS() as K8sObject).filter((o) => o !== null);
}

/** `kubectl kustomize DIR`, parsed. */
export function kustomize(dir: string): K8sObject[] {
  return documents(execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** API groups of custom resources whose models come from another package of the same project. */
const CUSTOM_MODELS: Record<string, string> = { 'monitoring.coreos.com': '@kubernetes-models/prometheus-operator' };

/** The kubernetes-models module of an object's type: `apps/v1` + `DaemonSet` → `kubernetes-models/apps/v1/DaemonSet`. */
function modelModule(o: K8sObject): string {
  const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : '';
  return `${CUSTOM_MODELS[group] ?? 'kubernetes-models'}/${o.apiVersion}/${o.kind}`;
}

/** The schema's complaints about one object (empty when valid); unknown kinds are a complaint too. */
export async function schemaErrors(o: K8sObject): Promise<string[]> {
  let Model: new (data: unknown) => { validate(): void };
  try {
    Model = ((await import(modelModule(o))) as Record<string, typeof Model>)[o.kind];
  } catch {
    return [`${o.apiVersion} ${o.kind}: not a type of the Kubernetes API`];
  }
  try {
    new Model(o).validate();
    return [];
  } catch (err) {
    return [`${o.kind} ${o.metadata?.name}: ${(err as Error).message}`];
  }
}

/** Kubernetes serialises an unset field as null (`creationTimestamp: null` in kubeadm's manifests): drop them. */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, withoutNulls(v)]));
  }
  return value;
}

/**
 * Fields the API does not know (a misspelt `readOnlyRootFilesytem` would otherwise be dropped, or rejected by the
 * apiserver): each object is type-checked as a literal of its kubernetes-models type, whose excess-property checks
 * name every unknown field.
 */
export function unknownFieldErrors(objects: readonly K8sObject[]): string[] {
  const source = objects.map((o, i) =>
    `import type { I${o.kind} as T${i} } from '${modelModule(o)}';\nexport const o${i}: T${i} = ${JSON.stringify(withoutNulls(o), null, 1)};\n`).join('');
  const fileName = join(REPO, 'test/deploy/manifest-types.check.ts');
  const options: ts.CompilerOptions = {
    strict: true, noEmit: true, skipLibCheck: true, types: [],
    target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, lang, ...rest) => (name === fileName ? ts.createSourceFile(name, source, lang) : getSourceFile.call(host, name, lang, ...rest));
  host.fileExists = (name) => name === fileName || fileExists.call(host, name);
  host.readFile = (name) => (name === fileName ? source : readFile.call(host, name));
  const program = ts.createProgram([fileName], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}
