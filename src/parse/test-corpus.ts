// Test helper: loads the shared corpora of real audit events (`../shared/corpus` beside the repository).
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';

export const CORPUS = path.resolve(import.meta.dirname, '../../../shared/corpus');

export interface CorpusFile {
  name: string;
  lines: string[];
}

/** The twelve files of the real kube-apiserver capture, oldest first, `.gz` backups decompressed. */
export function realApiserverFiles(): CorpusFile[] {
  const dir = path.join(CORPUS, 'real-apiserver');
  return readdirSync(dir)
    .filter((n) => n.startsWith('kubernetes'))
    .sort()
    .map((name) => {
      let bytes = readFileSync(path.join(dir, name));
      if (name.endsWith('.gz')) bytes = gunzipSync(bytes);
      return { name, lines: splitLines(bytes.toString('utf8')) };
    });
}

export function realApiserverLines(): string[] {
  return realApiserverFiles().flatMap((f) => f.lines);
}

export function audit2rbacLines(): string[] {
  return splitLines(readFileSync(path.join(CORPUS, 'audit2rbac', 'demo.log'), 'utf8'));
}

/** Each Falco trace file with the JSON texts it holds (one, or several one after another). */
export function falcoFiles(): Array<{ name: string; text: string; objects: string[] }> {
  const dir = path.join(CORPUS, 'falco');
  return readdirSync(dir)
    .filter((n) => n.endsWith('.json') && n !== 'LABELS.json')
    .sort()
    .map((name) => {
      const text = readFileSync(path.join(dir, name), 'utf8');
      return { name, text, objects: splitJsonTexts(text) };
    });
}

export function falcoEvent(name: string): string {
  const file = falcoFiles().find((f) => f.name === name);
  if (file === undefined || file.objects.length !== 1) throw new Error(`no single event in ${name}`);
  return JSON.stringify(JSON.parse(file.objects[0]));
}

function splitLines(text: string): string[] {
  return text.split('\n').filter((l) => l.length > 0);
}

/** Splits concatenated JSON texts (`{…}{…}` or one per line, pretty-printed or not) without parsing them. */
export function splitJsonTexts(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (depth === 0) start = i;
      depth++;
    } else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) out.push(text.slice(start, i + 1));
    }
  }
  return out;
}
