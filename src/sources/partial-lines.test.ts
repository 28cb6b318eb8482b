// Partial (P) lines held back between blocks: every line reaches the parser whole, and a file's checkpoint never
// passes a fragment whose line is not yet durable.
import { describe, expect, it } from 'vitest';
import type { SourceChunk } from './file-set.ts';
import { PartialLines } from './partial-lines.ts';

const T = '2026-12-07T10:41:17.123456789Z';
const full = (m: string) => `${T} stdout F ${m}\n`;
const part = (m: string) => `${T} stdout P ${m}\n`;

/** Blocks of one file as its reader hands them out, each acknowledging its end when called durable. */
function blocks(texts: string[], acked: number[], fileKey = 'f') {
  let offset = 0;
  return texts.map((text): SourceChunk => {
    const data = Buffer.from(text);
    const end = offset + data.length;
    const chunk: SourceChunk = {
      source: 's', fileKey, path: '/p/0.log', kind: 'lines', offset, data, commitOffset: end, owned: false,
      onDurable: () => acked.push(end),
    };
    offset = end;
    return chunk;
  });
}

function harness(maxMessageBytes = 1024) {
  const passed: SourceChunk[] = [];
  const lines = new PartialLines(async (c) => {
    passed.push(c);
  }, { parser: 'containers', kubernetes: '{}', maxMessageBytes });
  return { passed, lines };
}

describe('PartialLines', () => {
  it('holds a block\'s trailing fragments for the next block, and acknowledges the first block only with the line', async () => {
    const acked: number[] = [];
    const texts = [full('one') + part('two-a'), part('two-b'), full('two-c') + full('three')];
    const [b1, b2, b3] = blocks(texts, acked);
    const { passed, lines } = harness();
    await lines.push(b1);
    await lines.push(b2);
    await lines.push(b3);
    expect(passed.map((c) => c.data.toString())).toEqual([full('one'), part('two-a') + part('two-b') + full('two-c') + full('three')]);
    expect(passed.map((c) => [c.offset, c.origin])).toEqual([
      [0, expect.objectContaining({ fileKey: 'f', offset: 0, continues: false })],
      [full('one').length, expect.objectContaining({ fileKey: 'f', offset: full('one').length, continues: false })],
    ]);
    // The first block passed on is durable: its file may not move past "one" (two-a is only held).
    passed[0].onDurable();
    expect(acked).toEqual([]);
    passed[1].onDurable();
    expect(acked).toEqual([b1.commitOffset, b2.commitOffset, b3.commitOffset]);
  });

  it('passes on a run of fragments longer than it may hold, and marks the next block as the rest of a cut line', async () => {
    const acked: number[] = [];
    const long = 'x'.repeat(600);
    const [b1, b2] = blocks([full('one') + part(long) + part(long), part(long) + full('end') + full('next')], acked);
    const { passed, lines } = harness(512);
    await lines.push(b1);
    await lines.push(b2);
    expect(passed.map((c) => [c.data.length, (c.origin as { continues: boolean }).continues])).toEqual([[b1.data.length, false], [b2.data.length, true]]);
    passed[0].onDurable();
    expect(acked).toEqual([b1.commitOffset]);
  });

  it('lets go of what it holds when the next block is another file (a rotation inside a line), or on flush', async () => {
    const acked: number[] = [];
    const [b1] = blocks([full('one') + part('half')], acked, 'old');
    const [b2] = blocks([full('other')], acked, 'new');
    const { passed, lines } = harness();
    await lines.push(b1);
    await lines.push(b2);
    expect(passed.map((c) => [c.fileKey, c.data.toString()])).toEqual([['old', full('one')], ['old', part('half')], ['new', full('other')]]);
    for (const c of passed) c.onDurable();
    expect(acked).toEqual([b1.commitOffset, b2.commitOffset]);
    const [b3] = blocks([part('tail')], acked, 'new');
    await lines.push(b3);
    expect(passed).toHaveLength(3);
    await lines.flush();
    expect(passed.at(-1)!.data.toString()).toBe(part('tail'));
  });
});
