// Framing of a syslog byte stream (RFC 6587): octet counting and newline framing, split anywhere, bounded.
import { describe, expect, it } from 'vitest';
import { SyslogStreamFramer } from './syslog-framing.ts';

function frame(chunks: Array<string | Buffer>, max = 64, end = false) {
  const out: Array<[string, boolean]> = [];
  let incomplete = 0;
  const f = new SyslogStreamFramer(max, { message: (b, cut) => out.push([b.toString(), cut]), incomplete: (n) => { incomplete += n; } });
  for (const c of chunks) f.push(typeof c === 'string' ? Buffer.from(c) : c);
  if (end) f.end();
  return { out, incomplete, held: f.held };
}

describe('syslog stream framing', () => {
  it('reads octet-counted and newline-framed messages, mixed on one stream, whatever the chunk boundaries', () => {
    const stream = '11 <13>a\nb c d3 <1>\n<14>plain one\r\n\n<14>plain two\n5 <1>xy';
    const whole = frame([stream]).out;
    expect(whole).toEqual([['<13>a\nb c d', false], ['<1>', false], ['<14>plain one', false], ['<14>plain two', false], ['<1>xy', false]]);
    for (let i = 1; i < stream.length; i++) {
      expect(frame([stream.slice(0, i), stream.slice(i)]).out, `split at ${i}`).toEqual(whole);
    }
    expect(frame([...stream].map((c) => c)).out).toEqual(whole);
  });

  it('cuts a message longer than max, skips the rest of it, and reads the next one; it never holds more than max', () => {
    const long = `<13>${'x'.repeat(100)}`;
    const r = frame([`${long.length} ${long}`, '<13>next\n', `${long}\n<13>after\n`], 32);
    expect(r.out).toEqual([[long.slice(0, 32), true], ['<13>next', false], [long.slice(0, 32), true], ['<13>after', false]]);
    const trickle = frame(Array.from({ length: 200 }, () => 'y'), 32);
    expect(trickle.held).toBeLessThanOrEqual(32);
    expect(trickle.out).toEqual([['y'.repeat(32), true]]);
  });

  it('at the end of the stream, keeps a last newline-framed message without its LF and counts an unfinished count as incomplete', () => {
    expect(frame(['<13>last'], 64, true)).toMatchObject({ out: [['<13>last', false]], incomplete: 0 });
    expect(frame(['40 <13>only part'], 64, true)).toMatchObject({ out: [], incomplete: 13 });
  });
});
