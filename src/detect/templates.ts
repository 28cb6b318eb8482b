// Output templates of rules: `{path}` placeholders filled with the path's values, one line, capped.
import type { EvalContext, Getter } from './eval-context.ts';
import { compileGetter } from './field-paths.ts';

const MAX_SUMMARY = 1000;
/** What a placeholder shows for a field the event does not have (a cluster-scoped object's namespace, an anonymous user's name). */
const NO_VALUE = '(none)';

/** `{path}` placeholders filled with the path's values (joined by `,`; `(none)` when the event has none); one line, capped. */
export function compileTemplate(text: string, at: string, record = false): (ctx: EvalContext) => string {
  const parts: Array<string | Getter> = [];
  const re = /\{([^{}]+)\}/g;
  let last = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    parts.push(text.slice(last, m.index));
    parts.push(compileGetter(m[1].trim(), `${at} {${m[1]}}`, record));
    last = m.index + m[0].length;
  }
  parts.push(text.slice(last));
  return (ctx) => {
    const text = parts.map((p) => {
      if (typeof p === 'string') return p;
      const vals = p(ctx);
      return vals.length === 0 ? NO_VALUE : vals.map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(',');
    }).join('').replace(/[\r\n\t]+/g, ' ');
    return text.length > MAX_SUMMARY ? `${text.slice(0, MAX_SUMMARY - 1)}…` : text;
  };
}
