// One walk over every object and array of a parsed JSON value, for the redaction passes that change bodies in place.
import type { Json } from '../detect/json.ts';

/**
 * Calls `visit` on every object and array under `root` (itself included), each before what it holds. Iterative: a
 * deeply nested body cannot overflow the stack. `visit` may change the node in place, and returns false to leave what
 * the node holds unvisited; values under `skipKey` are never visited.
 */
export function walkJson(root: unknown, visit: (node: Json | unknown[]) => boolean, skipKey?: string): void {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (node === null || typeof node !== 'object') continue;
    if (!visit(node as Json | unknown[])) continue;
    if (Array.isArray(node)) {
      for (const v of node) if (v !== null && typeof v === 'object') stack.push(v);
      continue;
    }
    const obj = node as Json;
    for (const k in obj) {
      const v = obj[k];
      if (v !== null && typeof v === 'object' && k !== skipKey) stack.push(v);
    }
  }
}
