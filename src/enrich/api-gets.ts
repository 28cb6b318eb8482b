// Direct GETs of single objects: rate-limited and bounded in concurrency (p-queue), one request per object at a
// time however many lookups wait for it, each with a timeout, the outcome reduced to found / not found / error.
import { ApiException, type ConfigurationOptions, type RequestContext, type ResponseContext } from '@kubernetes/client-node';
import PQueue from 'p-queue';

export type GetResult<T> =
  | { kind: 'found'; obj: T }
  | { kind: 'not_found' }
  /** `reason`: a metric label (timeout, connection, unauthorized, forbidden, server_error, http_error); `detail`: for the log. */
  | { kind: 'error'; reason: string; detail: string };

export interface ApiGetsOptions {
  perSecond: number;
  concurrency: number;
  timeoutMs: number;
}

/** What the generated API methods take as their last argument: here, a request signal that ends the request after the timeout. */
export type RequestOptions = ConfigurationOptions;

export class ApiGets {
  private readonly queue: PQueue;
  private readonly pending = new Map<string, Promise<GetResult<unknown>>>();
  private readonly options: RequestOptions;

  constructor(opts: ApiGetsOptions) {
    this.queue = new PQueue({ concurrency: opts.concurrency, intervalCap: opts.perSecond, interval: 1000 });
    this.options = requestTimeout(opts.timeoutMs);
  }

  /** GETs the object named by `key` (`pods/demo/web-0`) once, however many callers ask while it is on its way. */
  get<T>(key: string, fetch: (options: RequestOptions) => Promise<T>): Promise<GetResult<T>> {
    const waiting = this.pending.get(key);
    if (waiting !== undefined) return waiting as Promise<GetResult<T>>;
    const request = this.queue.add(async () => outcome(await settle(fetch(this.options))))
      .finally(() => this.pending.delete(key));
    this.pending.set(key, request);
    return request;
  }

  /** Requests waiting for their turn (the rate limit holds them). */
  get queued(): number {
    return this.queue.size;
  }

  stop(): void {
    this.queue.clear();
  }
}

/** A client configuration whose middleware gives every request an abort signal that fires after `ms`. */
export function requestTimeout(ms: number): RequestOptions {
  return {
    middleware: [{
      pre: (ctx: RequestContext) => {
        ctx.setSignal(AbortSignal.timeout(ms));
        return { toPromise: () => Promise.resolve(ctx) };
      },
      post: (res: ResponseContext) => ({ toPromise: () => Promise.resolve(res) }),
    }] as unknown as RequestOptions['middleware'],
    middlewareMergeStrategy: 'append',
  };
}

async function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; err: unknown }> {
  try {
    return { ok: true, value: await p };
  } catch (err) {
    return { ok: false, err };
  }
}

function outcome<T>(r: { ok: true; value: T } | { ok: false; err: unknown }): GetResult<T> {
  if (r.ok) return { kind: 'found', obj: r.value };
  if (r.err instanceof ApiException && r.err.code === 404) return { kind: 'not_found' };
  return { kind: 'error', ...describeApiError(r.err) };
}

/** The API server's Status message, from a body the client parsed or left as text. */
function statusMessage(body: unknown): unknown {
  if (typeof body !== 'string') return (body as { message?: unknown } | undefined)?.message;
  try {
    return (JSON.parse(body) as { message?: unknown }).message;
  } catch {
    return undefined;
  }
}

/** A metric label and a log text for a failed request: the status and the API server's message, never a stack. */
export function describeApiError(err: unknown): { reason: string; detail: string } {
  if (err instanceof ApiException) {
    const code = err.code;
    const message = statusMessage(err.body);
    const detail = `HTTP ${code}${typeof message === 'string' ? `: ${message}` : ''}`;
    if (code === 401) return { reason: 'unauthorized', detail };
    if (code === 403) return { reason: 'forbidden', detail };
    return { reason: code >= 500 ? 'server_error' : 'http_error', detail };
  }
  const e = err as { name?: string; code?: string; statusCode?: number; message?: string };
  if (e.name === 'AbortError' || e.name === 'TimeoutError') return { reason: 'timeout', detail: 'no answer within the timeout' };
  if (typeof e.statusCode === 'number') {
    const reason = e.statusCode === 401 ? 'unauthorized' : e.statusCode === 403 ? 'forbidden' : e.statusCode >= 500 ? 'server_error' : 'http_error';
    return { reason, detail: `HTTP ${e.statusCode}` };
  }
  if (typeof e.code === 'string') return { reason: 'connection', detail: e.code };
  return { reason: 'connection', detail: (e.message ?? String(err)).split('\n')[0]! };
}
