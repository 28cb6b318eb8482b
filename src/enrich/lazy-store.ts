// The agent's pod store, loaded only when `kubernetes.enabled` (the client library costs ~74 MiB of RSS and seconds of
// start-up on every node), and kept across config reloads that leave the `kubernetes` section as it was: a new store
// would forget the tombstones of pods already deleted whose lines may still be unread, and list everything again.
import type { Logger } from 'pino';
import type { KubernetesConfig } from '../config/schema.ts';
import type { KubernetesMetrics, Metrics } from '../observe/metrics.ts';
import type { PodStore } from './pod-store.ts';
import type { RecordContext } from './record-context.ts';

interface Held {
  /** The `kubernetes` section it was started with. */
  key: string;
  store: PodStore;
  context: RecordContext;
  /** The metrics of the agent using it now (a reload starts an agent with new metrics). */
  metrics: { target: KubernetesMetrics };
}

export class PodStoreHolder {
  private held: Held | undefined;

  /**
   * The record context of a running store for `k`: the one held when `k` is unchanged, else a new one (the old one
   * stopped). Undefined when `k` is disabled. Throws the KubeConfigError naming the field when the client cannot be set up.
   */
  async acquire(k: KubernetesConfig, metrics: Metrics, log: Logger): Promise<RecordContext | undefined> {
    const key = JSON.stringify(k);
    if (this.held !== undefined && this.held.key === key) {
      this.held.metrics.target = metrics.kubernetes();
      log.info('Kubernetes metadata: the running store is kept (kubernetes section unchanged)');
      return this.held.context;
    }
    await this.close();
    if (!k.enabled) return undefined;
    const { startPodStore, RecordContext } = await import('./index.ts');
    const forward = { target: metrics.kubernetes() };
    const store = startPodStore(k, {
      lookup: (result) => forward.target.lookup(result),
      watchRestart: (resource, reason) => forward.target.watchRestart(resource, reason),
      apiError: (resource, reason) => forward.target.apiError(resource, reason),
    }, log);
    this.held = { key, store, context: new RecordContext(store), metrics: forward };
    return this.held.context;
  }

  /** Stops the store held, if any. */
  async close(): Promise<void> {
    const held = this.held;
    this.held = undefined;
    await held?.store.stop();
  }
}
