import { describe, expect, it } from 'vitest';
import { LineSplitter, type SplitOutput } from './lines.ts';

const text = (outs: SplitOutput[]) => outs.filter((o) => o.kind === 'lines').map((o) => o.data.toString()).join('');

describe('LineSplitter', () => {
  it('emits only whole lines and holds a partial last line until its newline arrives', () => {
    const s = new LineSplitter(0, 1000);
    const a = s.push(Buffer.from('one\ntwo\nthr'));
    expect(text(a)).toBe('one\ntwo\n');
    expect(a[0].offset).toBe(0);
    expect(s.pendingBytes).toBe(3);
    const b = s.push(Buffer.from('ee\nfour'));
    expect(text(b)).toBe('three\n');
    expect(b[0].offset).toBe(8);
    expect(s.emittedOffset).toBe(14);
  });

  it('keeps offsets true when it starts mid-file', () => {
    const s = new LineSplitter(5000, 1000);
    const out = s.push(Buffer.from('x\ny\n'));
    expect(out[0]).toMatchObject({ kind: 'lines', offset: 5000 });
    expect(s.emittedOffset).toBe(5004);
  });

  it('cuts a line longer than the cap, flags it with its length, and goes on with the next line', () => {
    const s = new LineSplitter(0, 10);
    const out = s.push(Buffer.from(`ok\n${'a'.repeat(25)}\nnext\n`));
    expect(out.map((o) => o.kind)).toEqual(['lines', 'oversize', 'lines']);
    expect(out[1]).toMatchObject({ offset: 3, length: 25 });
    expect(out[1].data.toString()).toBe('a'.repeat(10));
    expect(out[2]).toMatchObject({ offset: 29 });
    expect(out[2].data.toString()).toBe('next\n');
  });

  it('skips the rest of an overlong line across pushes until its newline', () => {
    const s = new LineSplitter(0, 10);
    const first = s.push(Buffer.from('b'.repeat(15)));
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ kind: 'oversize', offset: 0, length: -1 });
    expect(s.push(Buffer.from('b'.repeat(1000)))).toEqual([]);
    const after = s.push(Buffer.from('bbb\nnext\n'));
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ kind: 'lines', offset: 1019 });
    expect(after[0].data.toString()).toBe('next\n');
  });

  it('accepts a line exactly at the cap', () => {
    const s = new LineSplitter(0, 10);
    expect(text(s.push(Buffer.from(`${'c'.repeat(10)}\n`)))).toBe(`${'c'.repeat(10)}\n`);
  });

  it('flushes an unfinished last line of a file that will not grow', () => {
    const s = new LineSplitter(0, 100);
    s.push(Buffer.from('a\nlast-without-newline'));
    const out = s.flush();
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ kind: 'lines', offset: 2 });
    expect(out[0].data.toString()).toBe('last-without-newline');
    expect(s.flush()).toEqual([]);
  });

  it('does not hand out bytes that a later push could overwrite (the carry is a copy)', () => {
    const s = new LineSplitter(0, 100);
    const chunk = Buffer.from('a\npart');
    s.push(chunk);
    chunk.fill(0x7a);
    expect(text(s.push(Buffer.from('ial\n')))).toBe('partial\n');
  });
});
