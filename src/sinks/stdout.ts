// The `stdout` sink: one JSON document per line on standard output.
import { z } from 'zod';
import type { SinkKind } from './types.ts';
import { encodeNdjson } from './encode.ts';

const options = z.object({});

export const stdoutSink: SinkKind<typeof options> = {
  options,
  async create() {
    return {
      encode: encodeNdjson,
      async send(body: Buffer) {
        // The batch counts as delivered once the stream has taken it (the write callback), not when queued.
        const error = await new Promise<Error | null | undefined>((resolve) => process.stdout.write(body, resolve));
        return error ? { kind: 'retry', reason: `stdout write failed: ${error.message}` } : { kind: 'delivered' };
      },
      async close() {},
    };
  },
};
