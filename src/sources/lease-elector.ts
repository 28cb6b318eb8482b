// Leader election over a coordination.k8s.io/v1 Lease, by client-go's rules (client-node has no elector of its own):
// a candidate GETs the Lease every retry period, creates it when there is none, and takes it over (an update with the
// resourceVersion it read, so that of two candidates one gets 409 Conflict) once its holder has not renewed it for the
// lease duration, timed by the candidate's own clock from when it last saw the record change (never by comparing the
// holder's renewTime with the local clock: clocks differ). The leader renews every retry period and gives up leading
// when it could not renew for the renew deadline, before any other candidate may take the Lease. A stop releases the
// Lease (holder emptied, duration 1 s) so that a standby takes over at once. The leader's annotations ride along.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { ApiException, V1MicroTime, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import { describeApiError, requestTimeout } from '../enrich/api-gets.ts';

export interface LeaseElectorOptions {
  namespace: string;
  name: string;
  /** This candidate, unique among all (client-go's form: `<pod>_<uuid>`). */
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface LeaseElectorEvents {
  /** This candidate leads from now on; `annotations` are the Lease's as the previous leader left them. */
  started(annotations: Record<string, string>): void;
  /** This candidate no longer leads (renew deadline passed, or the Lease was taken); it keeps trying to lead again. */
  stopped(reason: string): void;
  /** A request to the API failed (`reason`: a metric label, `detail`: for the log); the election goes on. */
  failed(reason: string, detail: string): void;
}

/** client-go's jitter on the candidates' retry period (wait.JitterUntil with JitterFactor 1.2). */
const JITTER = 1.2;

/** A candidate identity as client-go makes it: the pod (or host) name and a fresh UUID. */
export function candidateIdentity(env: NodeJS.ProcessEnv = process.env): string {
  return `${env.POD_NAME || hostname()}_${randomUUID()}`;
}

export class LeaseElector {
  readonly #o: LeaseElectorOptions;
  readonly #api: CoordinationV1Api;
  readonly #events: LeaseElectorEvents;
  readonly #request: ReturnType<typeof requestTimeout>;
  #leading = false;
  #stopped = true;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> = Promise.resolve();
  /** The record last seen (its resourceVersion) and when it was first seen by this candidate's clock. */
  #observed: { rv: string; at: number } | undefined;
  #lastRenewAt = 0;
  #annotations: Record<string, string> = {};

  constructor(api: CoordinationV1Api, o: LeaseElectorOptions, events: LeaseElectorEvents) {
    this.#api = api;
    this.#o = o;
    this.#events = events;
    // A request may take at most a retry period: a leader whose renewals hang must reach its deadline in time.
    this.#request = requestTimeout(o.retryPeriodMs);
  }

  get leading(): boolean {
    return this.#leading;
  }

  get identity(): string {
    return this.#o.identity;
  }

  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  /**
   * Annotations the leader writes with its next renewals (kept until replaced or leading ends). Ignored while not
   * leading: a candidate that takes the Lease keeps the annotations the previous leader left, never its own old ones.
   */
  annotate(values: Record<string, string>): void {
    if (this.#leading) this.#annotations = { ...this.#annotations, ...values };
  }

  /** Renews now (when leading and no renewal is under way), to write new annotations sooner than the next period. */
  renewSoon(): void {
    if (!this.#leading || this.#stopped) return;
    clearTimeout(this.#timer);
    this.#schedule(0);
  }

  /** Stops taking part; a leader writes its annotations and releases the Lease so that a standby takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#round;
    if (!this.#leading) return;
    this.#leading = false; // the release below still carries the annotations
    await this.#tryWrite(true).catch(() => false);
    this.#annotations = {};
  }

  #unlead(): void {
    this.#leading = false;
    this.#annotations = {};
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#round = this.#round.then(() => this.#tryRound());
    }, ms);
    this.#timer.unref();
  }

  async #tryRound(): Promise<void> {
    if (this.#stopped) return;
    const ok = await this.#tryWrite(false).catch((err: unknown) => {
      const { reason, detail } = describeApiError(err);
      this.#events.failed(reason, detail);
      return false;
    });
    const now = Date.now();
    if (ok) {
      this.#lastRenewAt = now;
    } else if (this.#leading && now - this.#lastRenewAt >= this.#o.renewDeadlineMs) {
      this.#unlead();
      this.#events.stopped(`could not renew the Lease within the renew deadline (${this.#o.renewDeadlineMs} ms)`);
    }
    if (this.#stopped) return;
    // The leader renews every retry period; candidates retry with client-go's jitter.
    this.#schedule(this.#leading ? this.#o.retryPeriodMs : this.#o.retryPeriodMs * (1 + Math.random() * (JITTER - 1)));
  }

  /**
   * One round of client-go's tryAcquireOrRenew: true when this candidate holds the Lease after it. `release`: writes
   * an emptied holder instead (the leader's stop).
   */
  async #tryWrite(release: boolean): Promise<boolean> {
    const { namespace, name, identity } = this.#o;
    let lease: V1Lease;
    let now: number;
    try {
      lease = await this.#api.readNamespacedLease({ name, namespace }, this.#request);
      // Timed once the record is read: a renewal the GET saw may have been made while it was on its way.
      now = Date.now();
    } catch (err) {
      now = Date.now();
      if (!(err instanceof ApiException && err.code === 404) || release) throw err;
      const created = await this.#api.createNamespacedLease({ namespace, body: this.#record(undefined, now) }, this.#request).catch((e: unknown) => {
        if (e instanceof ApiException && e.code === 409) return undefined; // another candidate created it first
        throw e;
      });
      if (created === undefined) return false;
      this.#observed = { rv: created.metadata?.resourceVersion ?? '', at: now };
      this.#lead(created);
      return true;
    }
    const rv = lease.metadata?.resourceVersion ?? '';
    if (this.#observed?.rv !== rv) this.#observed = { rv, at: now };
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const durationMs = (spec.leaseDurationSeconds ?? 0) * 1000;
    if (holder !== identity) {
      if (release) return false; // no longer ours: nothing to release
      if (holder !== '' && this.#observed.at + durationMs > now) {
        if (this.#leading) {
          this.#unlead();
          this.#events.stopped(`the Lease is held by ${holder}`);
        }
        return false;
      }
    }
    const body = release ? this.#released(lease, now) : this.#record(lease, now);
    const updated = await this.#api.replaceNamespacedLease({ name, namespace, body }, this.#request).catch((e: unknown) => {
      if (e instanceof ApiException && e.code === 409) return undefined; // changed since it was read: next round
      throw e;
    });
    if (updated === undefined) return false;
    this.#observed = { rv: updated.metadata?.resourceVersion ?? '', at: now };
    if (!release && !this.#leading) this.#lead(lease);
    return !release;
  }

  #lead(previous: V1Lease): void {
    this.#leading = true;
    this.#lastRenewAt = Date.now();
    this.#events.started({ ...(previous.metadata?.annotations ?? {}) });
  }

  /** The Lease held by this candidate: acquired now if it was another's, renewed now if it was already ours. */
  #record(lease: V1Lease | undefined, now: number): V1Lease {
    const { namespace, name, identity, leaseDurationMs } = this.#o;
    const spec = lease?.spec ?? {};
    const ours = spec.holderIdentity === identity;
    const at = new V1MicroTime(now);
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        ...(lease?.metadata ?? { name, namespace }),
        // Annotations the previous leader left stay until this one replaces them.
        annotations: { ...(lease?.metadata?.annotations ?? {}), ...this.#annotations },
      },
      spec: {
        holderIdentity: identity,
        leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
        acquireTime: ours && spec.acquireTime !== undefined ? spec.acquireTime : at,
        renewTime: at,
        leaseTransitions: lease === undefined ? 0 : (spec.leaseTransitions ?? 0) + (ours ? 0 : 1),
      },
    };
  }

  /** client-go's release: no holder, a 1 s duration, the transitions kept. */
  #released(lease: V1Lease, now: number): V1Lease {
    const at = new V1MicroTime(now);
    return {
      ...this.#record(lease, now),
      spec: { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: at, renewTime: at, leaseTransitions: lease.spec?.leaseTransitions ?? 0 },
    };
  }
}
