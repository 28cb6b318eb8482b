// Benchmark floor: a plain single-threaded loop that reads an audit log in large chunks, splits lines and JSON.parses each.
import { closeSync, openSync, readSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: node bench/floor.ts FILE\n');
  process.exit(2);
}

const CHUNK = 4 * 1024 * 1024;
const fd = openSync(file, 'r');
const buf = Buffer.allocUnsafe(CHUNK);
let carry = Buffer.alloc(0);
let events = 0;
let bytes = 0;
let writes = 0; // uses each parsed value, so the parse cannot be skipped

for (;;) {
  const n = readSync(fd, buf, 0, CHUNK, null);
  if (n === 0) break;
  bytes += n;
  const data = carry.length > 0 ? Buffer.concat([carry, buf.subarray(0, n)]) : buf.subarray(0, n);
  const last = data.lastIndexOf(10);
  if (last < 0) {
    carry = Buffer.from(data);
    continue;
  }
  // Decode up to the last newline only, so a UTF-8 sequence is never cut in two.
  const text = data.toString('utf8', 0, last);
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    if (end > start) {
      const ev = JSON.parse(text.slice(start, end)) as { verb?: string };
      events++;
      if (ev.verb !== 'get' && ev.verb !== 'list' && ev.verb !== 'watch') writes++;
    }
    start = end + 1;
  }
  carry = Buffer.from(data.subarray(last + 1)); // copied: `buf` is reused
}
if (carry.length > 0) {
  JSON.parse(carry.toString('utf8'));
  events++;
}
closeSync(fd);
process.stdout.write(`${JSON.stringify({ events, bytes, writes })}\n`);
