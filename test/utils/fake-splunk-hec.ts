// A fake Splunk HTTP Event Collector for sink tests, written from its public documentation: a real HTTP server that
// checks `Authorization: Splunk <token>`, parses stacked JSON events (`/services/collector/event`) and answers as HEC does.
import { Receiver, type Answer, type ReceivedRequest } from './receiver.ts';

export interface HecEvent {
  event: unknown;
  time?: number | string;
  host?: string;
  source?: string;
  sourcetype?: string;
  index?: string;
  fields?: Record<string, unknown>;
}

/** HEC answers JSON `{"text","code"}` (and `invalid-event-number` when an event is at fault). */
const hec = (status: number, text: string, code: number, extra: Record<string, unknown> = {}): Answer =>
  ({ status, headers: { 'content-type': 'application/json; charset=UTF-8' }, body: JSON.stringify({ text, code, ...extra }) });

export class FakeSplunkHec {
  readonly receiver: Receiver;
  readonly events: HecEvent[] = [];
  readonly #token: string;

  private constructor(receiver: Receiver, token: string) {
    this.receiver = receiver;
    this.#token = token;
  }

  static async start(token: string): Promise<FakeSplunkHec> {
    let fake: FakeSplunkHec | undefined;
    const receiver = await Receiver.start({ respond: (req) => fake!.handle(req) });
    fake = new FakeSplunkHec(receiver, token);
    return fake;
  }

  url(): string {
    return this.receiver.url('/services/collector/event');
  }

  close(): Promise<void> {
    return this.receiver.close();
  }

  handle(req: ReceivedRequest): Answer {
    if (new URL(req.url, 'http://hec').pathname !== '/services/collector/event') return hec(404, 'The requested URL was not found on this server.', 404);
    const auth = req.headers.authorization;
    if (auth === undefined) return hec(401, 'Token is required', 2);
    if (auth !== `Splunk ${this.#token}`) return hec(403, 'Invalid token', 4);
    // Events are JSON objects one after the other, with or without whitespace between them.
    const text = req.body.toString('utf8');
    const events: HecEvent[] = [];
    let pos = 0;
    for (let n = 0; ; n++) {
      while (pos < text.length && /\s/.test(text[pos])) pos++;
      if (pos >= text.length) break;
      const end = endOfObject(text, pos);
      if (end < 0) return hec(400, 'Invalid data format', 6, { 'invalid-event-number': n });
      const e = JSON.parse(text.slice(pos, end)) as HecEvent;
      if (e.event === undefined || e.event === '') return hec(400, 'Event field is required', 12, { 'invalid-event-number': n });
      if (e.time !== undefined && Number.isNaN(Number(e.time))) return hec(400, 'Error in handling indexed fields', 15, { 'invalid-event-number': n });
      events.push(e);
      pos = end;
    }
    if (events.length === 0) return hec(400, 'No data', 5);
    this.events.push(...events);
    return hec(200, 'Success', 0);
  }
}

/** Where the JSON object starting at `start` ends (exclusive), or -1 when it is not one. */
function endOfObject(text: string, start: number): number {
  if (text[start] !== '{') return -1;
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) {
        try {
          JSON.parse(text.slice(start, i + 1));
          return i + 1;
        } catch {
          return -1;
        }
      }
    }
  }
  return -1;
}
