// Conservative load-time check that a rule's regular expression cannot backtrack catastrophically.

/** The reason `source` is refused, or undefined when it is accepted. Refuses some safe patterns on purpose. */
export function unsafeRegexReason(source: string): string | undefined {
  // One frame per open group: does it hold a quantifier, an alternation, and the first characters of its branches.
  interface Frame { quantified: boolean; branches: string[]; current: string; plain: boolean }
  const stack: Frame[] = [{ quantified: false, branches: [], current: '', plain: true }];
  let lastAtom: { kind: 'char' | 'class' | 'group'; frame?: Frame } | undefined;
  let i = 0;
  const top = () => stack[stack.length - 1];
  const addAtom = (text: string, plain: boolean) => {
    const f = top();
    f.current += text;
    if (!plain) f.plain = false;
  };
  while (i < source.length) {
    const c = source[i];
    if (c === '\\') {
      const n = source[i + 1] ?? '';
      if (/[1-9]/.test(n) || (n === 'k' && source[i + 2] === '<')) return 'backreferences are not allowed';
      const literal = /[\\^$.|?*+()[\]{}\/-]/.test(n);
      addAtom(literal ? n : `\\${n}`, literal);
      lastAtom = { kind: literal ? 'char' : 'class' };
      i += 2;
      continue;
    }
    if (c === '[') {
      let j = i + 1;
      if (source[j] === '^') j++;
      if (source[j] === ']') j++;
      while (j < source.length && source[j] !== ']') j += source[j] === '\\' ? 2 : 1;
      addAtom(source.slice(i, j + 1), false);
      lastAtom = { kind: 'class' };
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
      stack.push({ quantified: false, branches: [], current: '', plain: true });
      lastAtom = undefined;
      i += skip;
      continue;
    }
    if (c === ')') {
      if (stack.length === 1) return 'unbalanced parenthesis';
      const frame = stack.pop()!;
      frame.branches.push(frame.current);
      const outer = top();
      outer.current += `(${frame.branches.join('|')})`;
      outer.plain = false;
      if (frame.quantified) outer.quantified = true;
      lastAtom = { kind: 'group', frame };
      i++;
      continue;
    }
    if (c === '|') {
      const f = top();
      f.branches.push(f.current);
      f.current = '';
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
      top().quantified = true;
      top().plain = false;
      lastAtom = undefined;
      i += q.length;
      continue;
    }
    addAtom(c, c !== '.' && c !== '^' && c !== '$');
    lastAtom = { kind: c === '.' ? 'class' : 'char' };
    i++;
  }
  if (stack.length !== 1) return 'unbalanced parenthesis';
  return undefined;
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
