// Dead-letter files: NDJSON of what could not be delivered or parsed, with the reason, fsynced.
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

export class DeadLetterFile {
  readonly path: string;
  private handle: FileHandle | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(path: string) {
    this.path = path;
  }

  /** Appends entries (each one JSON document) and fsyncs; entries are written in call order. */
  write(entries: string[]): Promise<void> {
    const next = this.chain.then(async () => {
      if (!this.handle) {
        await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
        this.handle = await open(this.path, 'a', 0o600);
      }
      await this.handle.write(entries.join('\n') + '\n');
      await this.handle.datasync();
    });
    this.chain = next.catch(() => {});
    return next;
  }

  async close(): Promise<void> {
    await this.chain;
    await this.handle?.close();
    this.handle = undefined;
  }
}
