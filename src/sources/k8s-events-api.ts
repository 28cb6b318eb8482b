// The events API the k8s_events source reads: events.k8s.io/v1 where the API server serves it, core v1 otherwise, and
// its lists taken as the server sent them (the generated client turns timestamps into Dates; a watch does not).
import { request } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export interface EventsApi {
  /** The API version of the events (records say which one served them). */
  apiVersion: 'events.k8s.io/v1' | 'v1';
  /** The cluster-wide collection, for the list and the watch. */
  path: string;
}

export const EVENTS_V1: EventsApi = { apiVersion: 'events.k8s.io/v1', path: '/apis/events.k8s.io/v1/events' };
export const CORE_EVENTS: EventsApi = { apiVersion: 'v1', path: '/api/v1/events' };

export interface RawList {
  metadata?: { resourceVersion?: string };
  items: Array<Record<string, unknown>>;
}

/** A failed request, shaped as the Watch's errors are (`statusCode`), so that a 410 relists and describeApiError reads it. */
export class HttpStatusError extends Error {
  readonly statusCode: number;
  constructor(statusCode: number, message: string) {
    super(message);
    this.statusCode = statusCode;
  }
}

/** GETs `path` (with `query`) and parses the JSON body; throws HttpStatusError for any answer but 200. */
export async function getJson(kc: KubeConfig, path: string, query: Record<string, string>, timeoutMs: number): Promise<unknown> {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new Error('no current cluster');
  const url = new URL(cluster.server + path);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const opts: Parameters<KubeConfig['applyToHTTPSOptions']>[0] = { method: 'GET', headers: { accept: 'application/json' } };
  await kc.applyToHTTPSOptions(opts);
  return new Promise((resolve, reject) => {
    const req = request(url, { ...opts, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (p: Buffer) => parts.push(p));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        if (res.statusCode !== 200) {
          let message: unknown;
          try {
            message = (JSON.parse(text) as { message?: unknown }).message;
          } catch { /* not a Status */ }
          reject(new HttpStatusError(res.statusCode ?? 0, `HTTP ${res.statusCode}${typeof message === 'string' ? `: ${message}` : ''}`));
          return;
        }
        try {
          resolve(JSON.parse(text));
        } catch {
          reject(new Error(`${path}: answer is not JSON`));
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** The cluster-wide list, its items given the list's apiVersion (list items carry none). */
export async function listEvents(kc: KubeConfig, api: EventsApi, timeoutMs: number): Promise<RawList> {
  const list = (await getJson(kc, api.path, {}, timeoutMs)) as RawList;
  for (const item of list.items ?? []) item.apiVersion ??= api.apiVersion;
  return { metadata: list.metadata ?? {}, items: list.items ?? [] };
}

/** events.k8s.io/v1 unless `choice` says otherwise or the API server does not serve it (404): then core v1. */
export async function chooseEventsApi(kc: KubeConfig, choice: 'auto' | 'events.k8s.io' | 'core', timeoutMs: number): Promise<EventsApi> {
  if (choice === 'core') return CORE_EVENTS;
  if (choice === 'events.k8s.io') return EVENTS_V1;
  try {
    await getJson(kc, EVENTS_V1.path, { limit: '1' }, timeoutMs);
    return EVENTS_V1;
  } catch (err) {
    if (err instanceof HttpStatusError && err.statusCode === 404) return CORE_EVENTS;
    throw err;
  }
}
