// The `stdout` sink: one JSON document per line on standard output.
import { z } from 'zod';
import type { SendVerdict, SinkKind } from './types.ts';
import { encodeNdjson } from './encode.ts';

const options = z.object({});

const CLOSED = 'stdout is closed (EPIPE: nothing reads the pipe any more); the records stay buffered';

export const stdoutSink: SinkKind<typeof options> = {
  options,
  async create() {
    guardStdout();
    return {
      encode: encodeNdjson,
      async send(body: Buffer): Promise<SendVerdict> {
        if (process.stdout.destroyed) return { kind: 'retry', reason: CLOSED };
        // The batch counts as delivered once the stream has taken it (the write callback), not when queued.
        const error = await new Promise<Error | null | undefined>((resolve) => process.stdout.write(body, resolve));
        if (!error) return { kind: 'delivered' };
        return { kind: 'retry', reason: (error as NodeJS.ErrnoException).code === 'EPIPE' ? CLOSED : `stdout write failed: ${error.message}` };
      },
      async close() {},
    };
  },
};

let guarded = false;

/**
 * A failed write also emits 'error' on the stream, which would end the process with a stack trace: the write callback
 * already reports it as a verdict (the delivery layer keeps the records and retries), so the event is let go. For the
 * life of the process: the event may come after the sink has closed.
 */
function guardStdout(): void {
  if (guarded) return;
  guarded = true;
  process.stdout.on('error', () => {});
}
