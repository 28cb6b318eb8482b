// Conservative load-time check that a rule's regular expression cannot backtrack catastrophically.

/** The reason `source` is refused, or undefined when it is accepted. Refuses some safe patterns on purpose. */
export function unsafeRegexReason(source: string): string | undefined {
  // One frame per open group: does it hold a quantifier, an alternation, and the first characters of its branches.
  // `run`: the repeated atoms of the current branch since its last required one (`.*`, `a+`, `\s*` in `.*a+\s*`),
  // which can share the same text; `required`: the branch has an atom that must match once (not under a quantifier).
  interface Frame { quantified: boolean; branches: string[]; current: string; plain: boolean; run: string[]; required: boolean; optionalBranch: boolean }
  const frame = (): Frame => ({ quantified: false, branches: [], current: '', plain: true, run: [], required: false, optionalBranch: false });
  const stack: Frame[] = [frame()];
  let lastAtom: { kind: 'char' | 'class' | 'group'; frame?: Frame; text: string } | undefined;
  let refused: string | undefined;
  // The atom before the current position, once it is known to stand without a quantifier: required, so it ends the run.
  const settle = () => {
    if (lastAtom === undefined) return;
    const f = top();
    if (lastAtom.kind !== 'group' || !lastAtom.frame!.optionalBranch) {
      f.run = [];
      f.required = true;
    } else if (lastAtom.frame!.quantified) {
      // A group that can match nothing yet repeats inside (`(?:.*)`) extends the run as its repeated atoms would.
      if (f.run.length > 0) refused = ADJACENT;
      f.run.push('.');
    }
  };
  let i = 0;
  const top = () => stack[stack.length - 1];
  const addAtom = (text: string, plain: boolean) => {
    const f = top();
    f.current += text;
    if (!plain) f.plain = false;
  };
  while (i < source.length) {
    if (refused !== undefined) return refused;
    const c = source[i];
    if (c === '\\') {
      const n = source[i + 1] ?? '';
      if (/[1-9]/.test(n) || (n === 'k' && source[i + 2] === '<')) return 'backreferences are not allowed';
      const literal = /[\\^$.|?*+()[\]{}\/-]/.test(n);
      settle();
      addAtom(literal ? n : `\\${n}`, literal);
      lastAtom = { kind: literal ? 'char' : 'class', text: literal ? n : `\\${n}` };
      i += 2;
      continue;
    }
    if (c === '[') {
      let j = i + 1;
      if (source[j] === '^') j++;
      if (source[j] === ']') j++;
      while (j < source.length && source[j] !== ']') j += source[j] === '\\' ? 2 : 1;
      settle();
      addAtom(source.slice(i, j + 1), false);
      lastAtom = { kind: 'class', text: source.slice(i, j + 1) };
      i = j + 1;
      continue;
    }
    if (c === '(') {
      if (source.startsWith('(?=', i) || source.startsWith('(?!', i) || source.startsWith('(?<=', i) || source.startsWith('(?<!', i)) {
        return 'lookarounds are not allowed';
      }
      let skip = 1;
      if (source.startsWith('(?:', i)) skip = 3;
      else if (source.startsWith('(?<', i)) skip = source.indexOf('>', i) - i + 1;
      settle();
      stack.push(frame());
      lastAtom = undefined;
      i += skip;
      continue;
    }
    if (c === ')') {
      if (stack.length === 1) return 'unbalanced parenthesis';
      settle();
      const inner = stack.pop()!;
      inner.branches.push(inner.current);
      if (!inner.required) inner.optionalBranch = true;
      const outer = top();
      outer.current += `(${inner.branches.join('|')})`;
      outer.plain = false;
      if (inner.quantified) outer.quantified = true;
      lastAtom = { kind: 'group', frame: inner, text: '.' };
      i++;
      continue;
    }
    if (c === '|') {
      settle();
      const f = top();
      f.branches.push(f.current);
      f.current = '';
      if (!f.required) f.optionalBranch = true;
      f.run = [];
      f.required = false;
      lastAtom = undefined;
      i++;
      continue;
    }
    const q = readQuantifier(source, i);
    if (q !== undefined) {
      if (lastAtom === undefined) return 'quantifier without a target';
      if (q.repeats && lastAtom.kind === 'group') {
        const inner = lastAtom.frame!;
        if (inner.quantified) return 'nested quantifiers';
        if (inner.branches.length > 1 && overlapping(inner.branches)) return 'quantified group with overlapping alternatives';
      }
      if (q.repeats) {
        // `.*.*=`, `a*a*b`, `\s*\s*$`: each split of the text between them is tried, a polynomial as steep as
        // their number.
        if (top().run.some((other) => mayOverlap(other, lastAtom!.text))) return ADJACENT;
        top().run.push(lastAtom.text);
      }
      top().quantified = true;
      top().plain = false;
      lastAtom = undefined;
      i += q.length;
      continue;
    }
    settle();
    if (c === '^' || c === '$') {
      // Anchors match no text: they neither end a run nor repeat.
      addAtom(c, false);
      lastAtom = undefined;
      i++;
      continue;
    }
    addAtom(c, c !== '.');
    lastAtom = { kind: c === '.' ? 'class' : 'char', text: c };
    i++;
  }
  if (stack.length !== 1) return 'unbalanced parenthesis';
  settle();
  return refused;
}

function readQuantifier(s: string, i: number): { length: number; repeats: boolean } | undefined {
  const c = s[i];
  let length: number;
  let repeats: boolean;
  if (c === '*' || c === '+') {
    length = 1;
    repeats = true;
  } else if (c === '?') {
    length = 1;
    repeats = false;
  } else if (c === '{') {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(s.slice(i));
    if (!m) return undefined;
    length = m[0].length;
    repeats = m[2] === undefined ? Number(m[1]) > 1 : m[3] === '' || Number(m[3]) > 1;
  } else {
    return undefined;
  }
  if (s[i + length] === '?') length++;
  return { length, repeats };
}

const ADJACENT = 'adjacent quantifiers that can match the same text';

/** Two repeated atoms may match the same character unless both are literal characters that differ. */
function mayOverlap(a: string, b: string): boolean {
  const literal = (t: string) => t.length === 1 && t !== '.';
  return !(literal(a) && literal(b) && a.toLowerCase() !== b.toLowerCase());
}

// Alternatives are safe under repetition only when each is a plain literal and no two can start alike.
function overlapping(branches: string[]): boolean {
  const firsts = new Set<string>();
  for (const b of branches) {
    if (b === '' || /[\\[(.]/.test(b)) return true;
    const first = b[0].toLowerCase();
    if (firsts.has(first)) return true;
    firsts.add(first);
  }
  return false;
}
