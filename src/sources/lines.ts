// Splits a byte stream into blocks of whole lines, tracking offsets, cutting lines past a size cap.
const NL = 0x0a;

/** Whole lines (each ending in "\n", except a final line flushed at end of file) starting at `offset`. */
export interface LineBlock {
  kind: 'lines';
  offset: number;
  data: Buffer;
}

/** The first `maxLineBytes` of a line longer than the cap; the rest of the line is skipped. */
export interface OversizeLine {
  kind: 'oversize';
  offset: number;
  data: Buffer;
  /** Length of the whole line without its newline, when known (the line ended); -1 while still skipping. */
  length: number;
}

export type SplitOutput = LineBlock | OversizeLine;

export class LineSplitter {
  private readonly maxLineBytes: number;
  /** Bytes of an unfinished line, kept between pushes (copied: pushed buffers may be transferred). */
  private carry: Buffer | undefined;
  /** Offset of the next byte to be pushed. */
  private next: number;
  /** Inside an overlong line: its start offset; bytes are dropped until its newline. */
  private skipping: { offset: number } | undefined;

  constructor(startOffset: number, maxLineBytes: number) {
    this.next = startOffset;
    this.maxLineBytes = maxLineBytes;
  }

  /** Offset just past the last byte handed out (lines emitted or skipped). */
  get emittedOffset(): number {
    return this.next - (this.carry?.length ?? 0);
  }

  /** Bytes held back waiting for a newline. */
  get pendingBytes(): number {
    return this.carry?.length ?? 0;
  }

  /** Nothing held back and not inside an over-long line: the next push starts on a line boundary. */
  get atLineStart(): boolean {
    return this.carry === undefined && this.skipping === undefined;
  }

  push(chunk: Buffer): SplitOutput[] {
    const out: SplitOutput[] = [];
    let data = chunk;
    let dataOffset = this.next;
    this.next += chunk.length;

    if (this.skipping) {
      const nl = data.indexOf(NL);
      if (nl < 0) return out;
      this.skipping = undefined;
      data = data.subarray(nl + 1);
      dataOffset += nl + 1;
    }
    if (this.carry) {
      dataOffset -= this.carry.length;
      data = Buffer.concat([this.carry, data]);
      this.carry = undefined;
    }
    // Emit lines while checking each against the cap; lines of normal size go out as one block.
    let blockStart = 0;
    let pos = 0;
    while (pos < data.length) {
      const nl = data.indexOf(NL, pos);
      const lineEnd = nl < 0 ? data.length : nl;
      if (lineEnd - pos > this.maxLineBytes) {
        if (pos > blockStart) out.push({ kind: 'lines', offset: dataOffset + blockStart, data: data.subarray(blockStart, pos) });
        out.push({
          kind: 'oversize',
          offset: dataOffset + pos,
          data: Buffer.from(data.subarray(pos, pos + this.maxLineBytes)),
          length: nl < 0 ? -1 : lineEnd - pos,
        });
        if (nl < 0) {
          this.skipping = { offset: dataOffset + pos };
          return out;
        }
        pos = nl + 1;
        blockStart = pos;
        continue;
      }
      if (nl < 0) {
        // An unfinished line: keep it until its newline arrives.
        if (pos > blockStart) out.push({ kind: 'lines', offset: dataOffset + blockStart, data: data.subarray(blockStart, pos) });
        this.carry = Buffer.from(data.subarray(pos));
        return out;
      }
      pos = nl + 1;
    }
    if (pos > blockStart) out.push({ kind: 'lines', offset: dataOffset + blockStart, data: data.subarray(blockStart, pos) });
    return out;
  }

  /**
   * A read of `bytesRead` bytes at the start of `buf`, for readers that re-read rather than carry: on a line
   * boundary only the whole lines are taken (the caller reads the unfinished last one again, from `taken` on), so
   * the block handed out is the read buffer itself. `owned`: the single block is the only view of `buf`'s memory,
   * which may then be lent out (transferred) instead of copied.
   */
  pushRead(buf: Buffer, bytesRead: number): { parts: SplitOutput[]; taken: number; owned: boolean } {
    const lastNewline = this.atLineStart ? buf.lastIndexOf(NL, bytesRead - 1) : -1;
    const taken = lastNewline >= 0 ? lastNewline + 1 : bytesRead;
    const parts = this.push(buf.subarray(0, taken));
    return { parts, taken, owned: lastNewline >= 0 && parts.length === 1 && parts[0].kind === 'lines' };
  }

  /** End of a file that will not grow: an unfinished last line is emitted as it is. */
  flush(): SplitOutput[] {
    if (this.skipping) {
      this.skipping = undefined;
      return [];
    }
    const carry = this.carry;
    this.carry = undefined;
    if (!carry || carry.length === 0) return [];
    return [{ kind: 'lines', offset: this.next - carry.length, data: carry }];
  }
}
