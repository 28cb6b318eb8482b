// Keeps a container log line's fragments in one block: a block ending in partial (P) lines holds them back and hands
// them out at the front of the next block, so the parser (stateless, in a worker) always sees the line whole.
//
// The checkpoint never passes a held fragment: the source's acknowledgement of a block whose end was held back waits
// until the block carrying that end is durable. What is held is bounded (twice the message cap); a longer run is
// passed on as it is (the parser cuts it at the cap and flags it) and the rest of that line is dropped.
import { partialTailStart, type ContainerOrigin } from '../parse/container.ts';
import type { ChunkConsumer, SourceChunk } from './file-set.ts';

/** What the origin of every block of one container file says besides its offset and file. */
export type FileOrigin = Omit<ContainerOrigin, 'fileKey' | 'offset' | 'continues'>;

export class PartialLines {
  private readonly consume: ChunkConsumer;
  private readonly origin: FileOrigin;
  private readonly maxHeld: number;
  private held: { data: Buffer; offset: number; chunk: SourceChunk } | undefined;
  /** Acknowledgements of blocks whose last bytes are held: due once the block carrying those bytes is durable. */
  private deferred: Array<() => void> = [];
  /** The last block passed on ended inside a line that was cut. */
  private cutting = false;

  constructor(consume: ChunkConsumer, origin: FileOrigin) {
    this.consume = consume;
    this.origin = origin;
    this.maxHeld = 2 * origin.maxMessageBytes;
  }

  /** The consumer to give the file's reader. */
  push = async (chunk: SourceChunk): Promise<void> => {
    // Another file (a rotation in the middle of a line) or a line too long to read: what is held goes as it is.
    if (this.held !== undefined && (chunk.kind !== 'lines' || chunk.fileKey !== this.held.chunk.fileKey)) await this.flush();
    if (chunk.kind !== 'lines') {
      this.cutting = false;
      await this.consume(chunk);
      return;
    }
    const held = this.held;
    this.held = undefined;
    const data = held === undefined ? chunk.data : Buffer.concat([held.data, chunk.data]);
    const offset = held?.offset ?? chunk.offset;
    const continues = this.cutting;
    const tail = partialTailStart(data);
    // Held back: the line's end is still to come. Not when the block is nothing but the rest of a line already cut.
    const hold = tail < data.length && data.length - tail <= this.maxHeld && (tail > 0 || !continues);
    const end = hold ? tail : data.length;
    this.cutting = !hold && tail < data.length;
    const due = this.deferred;
    this.deferred = [];
    if (hold) {
      // Copied: the block's memory goes to a worker and back to the read pool.
      this.held = { data: Buffer.from(data.subarray(tail)), offset: offset + tail, chunk };
      this.deferred.push(chunk.onDurable);
    } else {
      due.push(chunk.onDurable);
    }
    if (end === 0) {
      this.deferred.unshift(...due);
      return;
    }
    await this.pass(chunk, data.subarray(0, end), offset, held === undefined && chunk.owned, continues, due);
  };

  /** Passes on what is held (the file ended or is left with a line unfinished). */
  async flush(): Promise<void> {
    const held = this.held;
    if (held === undefined) return;
    this.held = undefined;
    const due = this.deferred;
    this.deferred = [];
    await this.pass(held.chunk, held.data, held.offset, true, false, due);
  }

  private pass(chunk: SourceChunk, data: Buffer, offset: number, owned: boolean, continues: boolean, due: Array<() => void>): Promise<void> {
    return this.consume({
      ...chunk, data, offset, owned, commitOffset: offset + data.length,
      origin: { ...this.origin, parser: 'containers', fileKey: chunk.fileKey, offset, continues },
      onDurable: () => {
        for (const ack of due) ack();
      },
    });
  }
}
