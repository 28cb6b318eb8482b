// The k8s_events source: Kubernetes Events cluster-wide, list and watch (src/enrich/list-watch.ts: 410 → relist,
// reconnect with backoff), only while this agent leads (a Lease, lease-elector.ts) unless leader election is off.
// Events go to the pipeline as lines of their JSON (the k8s_event parser makes the records); each is forwarded once
// by identity (event-dedupe.ts), and the resourceVersion up to which everything is durable is kept in the state
// directory and, for the next leader, on the Lease. See docs/events.md.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { QuarantineReport } from '../delivery/quarantine.ts';
import { describeApiError } from '../enrich/api-gets.ts';
import type { KubeClient } from '../enrich/kube-client.ts';
import { DEFAULT_LIST_WATCH, ResourceListWatch } from '../enrich/list-watch.ts';
import { eventIdentity, type ApiEvent } from '../parse/k8s-event.ts';
import { EventDedupe } from './event-dedupe.ts';
import type { ChunkConsumer, SourceChunk } from './file-set.ts';
import { chooseEventsApi, listEvents, type EventsApi } from './k8s-events-api.ts';
import { LeaseElector, type LeaseElectorOptions } from './lease-elector.ts';

/** The Lease annotation that hands the resourceVersion mark to the next leader. */
export const MARK_ANNOTATION = 'kaudit.io/events-resource-version';

/** Events per chunk handed to the pipeline. */
const MAX_EVENTS_PER_CHUNK = 500;
/** Least time between two Lease writes made only to carry a new mark (the leader renews every retry period anyway). */
const MARK_WRITE_INTERVAL_MS = 1000;
/** A watch failing this many times in a row makes the agent unready (while it leads). */
const FAILURES_UNREADY = 3;

export interface K8sEventsMetrics {
  leader(leading: boolean): void;
  /** Events made durable in the sink buffers. */
  forwarded(n: number): void;
  /** Events listed or watched again that were already forwarded (by this agent, or by the leader before it). */
  skipped(n: number): void;
  /** A list: `start` (on leading), `expired` (410 Gone), `error` (after a failed list or watch). */
  relist(reason: string): void;
}

export interface K8sEventsOptions {
  source: string;
  client: KubeClient;
  api: 'auto' | 'events.k8s.io' | 'core';
  /** Undefined: leader election off, this agent always reads. */
  leaderElection: LeaseElectorOptions | undefined;
  /** The state file (mark and identities). */
  statePath: string;
  /** Identities of forwarded events remembered (the bounded set). */
  remember: number;
  /** The API server ends each watch after this long, and it is started again from where it was. */
  watchSeconds: number;
  checkpointMs: number;
  submit: ChunkConsumer;
  metrics: K8sEventsMetrics;
  quarantined: QuarantineReport;
  logger: Logger;
}

type Queued = { event: ApiEvent; key: string; mark?: string } | { mark: string };

export class K8sEventsSource {
  readonly #o: K8sEventsOptions;
  readonly #dedupe: EventDedupe;
  readonly #elector: LeaseElector | undefined;
  readonly #log: Logger;
  #watch: ResourceListWatch<ApiEvent & KubernetesObject> | undefined;
  #api: EventsApi | undefined;
  #leading = false;
  #stopping = false;
  /** Bumped when leading starts or ends: work of an earlier term is dropped. */
  #term = 0;
  #queue: Queued[] = [];
  #pump: Promise<void> | undefined;
  #offset = 0;
  /** Resolves once every chunk submitted so far is durable. */
  #durable: Promise<void> = Promise.resolve();
  #nextListReason = 'start';
  #lastMarkWrite = 0;
  #checkpointTimer: NodeJS.Timeout | undefined;
  #problem: string | undefined;

  constructor(o: K8sEventsOptions) {
    this.#o = o;
    this.#dedupe = new EventDedupe(o.remember);
    this.#log = o.logger.child({ source: o.source });
    this.#elector = o.leaderElection === undefined ? undefined : new LeaseElector(o.client.coordination, o.leaderElection, {
      started: (annotations) => this.#lead(annotations[MARK_ANNOTATION]),
      stopped: (reason) => {
        this.#log.warn({ reason }, 'no longer the events leader; another agent forwards Kubernetes events');
        void this.#unlead();
      },
      failed: (reason, detail) => this.#log.warn({ reason, error: detail }, 'leader election: Lease request failed; trying again'),
    });
  }

  async start(): Promise<void> {
    await this.#dedupe.load(this.#o.statePath, this.#o.quarantined);
    this.#o.metrics.leader(false);
    this.#checkpointTimer = setInterval(() => void this.#save(), this.#o.checkpointMs).unref();
    if (this.#elector === undefined) {
      this.#lead(undefined);
      return;
    }
    const { namespace, name, identity } = this.#o.leaderElection!;
    this.#log.info({ lease: `${namespace}/${name}`, identity }, 'standing for events leader');
    this.#elector.start();
  }

  /**
   * Why the agent is not ready: while it leads, the events API cannot be reached at all, or the list-and-watch has
   * failed FAILURES_UNREADY times in a row (one failed watch, retried at once, is not a problem yet).
   */
  problems(): string[] {
    if (!this.#leading || this.#problem === undefined) return [];
    return this.#watch === undefined || this.#watch.failing >= FAILURES_UNREADY ? [this.#problem] : [];
  }

  /** Stops listing and watching and hands what was queued to the pipeline; the Lease is kept until release(). */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#watch?.stop();
    await this.#pump;
  }

  /** Once what was read is durable (or given up): saves the state and releases the Lease with the last mark. */
  async release(): Promise<void> {
    clearInterval(this.#checkpointTimer);
    await this.#save();
    if (this.#dedupe.mark !== undefined) this.#elector?.annotate({ [MARK_ANNOTATION]: this.#dedupe.mark });
    await this.#elector?.stop();
    this.#o.metrics.leader(false);
  }

  #lead(leaseMark: string | undefined): void {
    if (this.#stopping) return;
    this.#dedupe.adopt(leaseMark);
    this.#term++;
    this.#leading = true;
    this.#nextListReason = 'start';
    this.#o.metrics.leader(true);
    // The Lease carries the later of its mark and this agent's own from now on.
    if (this.#dedupe.mark !== undefined) this.#elector?.annotate({ [MARK_ANNOTATION]: this.#dedupe.mark });
    this.#log.info({ resourceVersion: this.#dedupe.mark ?? null }, this.#elector === undefined ? 'reading Kubernetes events (leader election off)' : 'became the events leader; reading Kubernetes events');
    void this.#watchEvents(this.#term);
  }

  async #unlead(): Promise<void> {
    this.#term++;
    this.#leading = false;
    this.#o.metrics.leader(false);
    const queued = this.#queue.splice(0);
    this.#dedupe.dropped(queued.flatMap((q) => ('key' in q ? [q.key] : [])));
    const watch = this.#watch;
    this.#watch = undefined;
    await watch?.stop();
  }

  async #watchEvents(term: number): Promise<void> {
    const { client, api } = this.#o;
    const opts = { ...DEFAULT_LIST_WATCH, watchSeconds: this.#o.watchSeconds, silenceMs: (this.#o.watchSeconds + 60) * 1000 };
    // The API is chosen once per process (retried with backoff until the API server answers).
    for (let attempt = 0; this.#api === undefined; attempt++) {
      try {
        this.#api = await chooseEventsApi(client.config, api, opts.listTimeoutMs);
        this.#log.info({ api: this.#api.apiVersion, server: client.server }, this.#api.apiVersion === 'v1' && api === 'auto' ? 'events.k8s.io/v1 not served; reading core v1 events' : 'reading events');
      } catch (err) {
        this.#failing(err);
        await new Promise((r) => setTimeout(r, Math.min(opts.maxBackoffMs, opts.initialBackoffMs * 2 ** attempt)).unref());
      }
      if (term !== this.#term || this.#stopping) return;
    }
    const eventsApi = this.#api;
    const watch = new ResourceListWatch<ApiEvent & KubernetesObject>(client.watch, eventsApi.path, async () => {
      this.#o.metrics.relist(this.#nextListReason);
      const list = await listEvents(client.config, eventsApi, opts.listTimeoutMs);
      if (term === this.#term) this.#listed(list.items as ApiEvent[], list.metadata?.resourceVersion);
      return list as unknown as { items: Array<ApiEvent & KubernetesObject>; metadata: { resourceVersion?: string } };
    }, undefined, {
      added: (e) => term === this.#term && this.#watched(e, eventsApi),
      updated: (e) => term === this.#term && this.#watched(e, eventsApi),
      deleted: () => {}, // an event expiring (its TTL) is nothing to forward
    }, {
      synced: () => {
        if (this.#problem !== undefined) this.#log.info('Kubernetes events are listed and watched again');
        this.#problem = undefined;
      },
      restarting: (reason, err) => {
        this.#nextListReason = reason;
        if (reason === 'error') this.#failing(err);
        else this.#log.info('event watch expired (410 Gone); relisting (events already forwarded are not forwarded again)');
      },
    }, opts);
    if (term !== this.#term || this.#stopping) return;
    this.#watch = watch;
    watch.start();
  }

  #failing(err: unknown): void {
    const { detail } = describeApiError(err);
    // Said once per outage (its end is said by synced); the latest reason is what /readyz shows.
    if (this.#problem === undefined) this.#log.warn({ error: detail, server: this.#o.client.server }, 'cannot list or watch Kubernetes events; retrying with backoff');
    this.#problem = `cannot list or watch Kubernetes events: ${detail}`;
  }

  /** A list's events, then its resourceVersion: everything up to it is durable once they are. */
  #listed(items: ApiEvent[], resourceVersion: string | undefined): void {
    // Those already forwarded are counted as skipped when the ListWatch passes them on (#watched).
    for (const e of items) if (this.#dedupe.take(e) === 'new') this.#queue.push({ event: e, key: eventIdentity(e) });
    if (resourceVersion) this.#queue.push({ mark: resourceVersion });
    this.#pumpSoon();
  }

  /** A watched event: in resourceVersion order, so once it is durable its own resourceVersion is the mark. */
  #watched(e: ApiEvent, api: EventsApi): void {
    e.apiVersion ??= api.apiVersion;
    // The ListWatch also passes on each list's items new or changed since its previous list: #listed took them already.
    const taken = this.#dedupe.take(e);
    if (taken === 'seen') this.#o.metrics.skipped(1);
    if (taken !== 'new') return;
    const rv = e.metadata?.resourceVersion;
    this.#queue.push({ event: e, key: eventIdentity(e), ...(rv ? { mark: rv } : {}) });
    this.#pumpSoon();
  }

  #pumpSoon(): void {
    // On the next turn: a list's events, queued one by one, go as one chunk.
    this.#pump ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#drainQueue()).finally(() => (this.#pump = undefined));
  }

  async #drainQueue(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_EVENTS_PER_CHUNK);
      await this.#submit(batch);
    }
  }

  async #submit(batch: Queued[]): Promise<void> {
    const keys: string[] = [];
    const lines: string[] = [];
    let mark: string | undefined;
    for (const q of batch) {
      if ('key' in q) {
        keys.push(q.key);
        lines.push(eventLine(q.event));
      }
      if (q.mark !== undefined) mark = q.mark;
    }
    const before = this.#durable;
    if (lines.length === 0) {
      // Only a mark (a list with nothing new): it holds once what was submitted before is durable.
      this.#durable = before.then(() => this.#advance([], mark));
      return;
    }
    const data = Buffer.from(`${lines.join('\n')}\n`);
    let durable!: () => void;
    const isDurable = new Promise<void>((resolve) => (durable = resolve));
    this.#durable = Promise.all([before, isDurable]).then(() => this.#advance(keys, mark));
    const chunk: SourceChunk = {
      source: this.#o.source, fileKey: `k8s_events:${this.#o.source}`, path: this.#api?.path ?? 'events', kind: 'lines',
      offset: this.#offset, data, commitOffset: this.#offset + data.length, owned: false, onDurable: durable,
      origin: { parser: 'k8s_events' },
    };
    this.#offset += data.length;
    await this.#o.submit(chunk);
  }

  #advance(keys: string[], mark: string | undefined): void {
    this.#dedupe.durable(keys, mark);
    if (keys.length > 0) this.#o.metrics.forwarded(keys.length);
    const now = Date.now();
    if (this.#elector === undefined || !this.#leading || this.#dedupe.mark === undefined) return;
    this.#elector.annotate({ [MARK_ANNOTATION]: this.#dedupe.mark });
    // The next leader starts from the Lease's mark: written soon, so that a kill repeats little (docs/events.md).
    if (now - this.#lastMarkWrite >= MARK_WRITE_INTERVAL_MS) {
      this.#lastMarkWrite = now;
      this.#elector.renewSoon();
    }
  }

  async #save(): Promise<void> {
    await this.#dedupe.save(this.#o.statePath).catch((err: Error) => {
      this.#log.error({ path: this.#o.statePath, err: (err as NodeJS.ErrnoException).code ?? err.message }, 'cannot save the k8s_events state; trying again at every checkpoint interval');
    });
  }
}

/** The line handed to the parser: the event as served, without managedFields (bookkeeping no record shows). */
function eventLine(e: ApiEvent): string {
  const { managedFields: _m, ...metadata } = (e.metadata ?? {}) as Record<string, unknown>;
  return JSON.stringify({ ...e, metadata });
}
