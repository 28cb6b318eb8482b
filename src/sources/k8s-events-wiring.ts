// Builds a k8s_events source's options from its config section: the API client (kubernetes.kubeconfig or the pod's
// service account), the Lease's namespace and this candidate's identity (kept out of the agent's start).
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config, K8sEventsSourceConfig } from '../config/schema.ts';
import type { QuarantineReport } from '../delivery/quarantine.ts';
import { connect } from '../enrich/kube-client.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { ChunkConsumer } from './file-set.ts';
import type { K8sEventsOptions } from './k8s-events.ts';
import { candidateIdentity, type LeaseElectorOptions } from './lease-elector.ts';

/** Throws naming the field when the API client cannot be configured or the Lease has no namespace. */
export function k8sEventsOptions(
  name: string, src: K8sEventsSourceConfig, config: Config, submit: ChunkConsumer, metrics: Metrics,
  quarantined: QuarantineReport, logger: Logger, env: NodeJS.ProcessEnv = process.env,
): K8sEventsOptions {
  const client = connect(config.kubernetes.kubeconfig);
  return {
    source: name, client, api: src.api, leaderElection: leaderElection(name, src, env),
    statePath: join(config.state_dir, 'k8s-events', `${name}.json`), remember: src.remember,
    watchSeconds: Math.round(src.watch_timeout / 1000), checkpointMs: config.checkpoint_interval,
    submit, metrics: metrics.k8sEvents(name), quarantined, logger,
  };
}

function leaderElection(name: string, src: K8sEventsSourceConfig, env: NodeJS.ProcessEnv): LeaseElectorOptions | undefined {
  const l = src.leader_election;
  if (!l.enabled) return undefined;
  const namespace = l.namespace ?? (env.POD_NAMESPACE || undefined);
  if (namespace === undefined) {
    throw new Error(`sources.${name}.leader_election.namespace: not set, and POD_NAMESPACE is not in the environment; name the namespace of the Lease (kaudit's own)`);
  }
  return {
    namespace, name: l.lease_name, identity: candidateIdentity(env),
    leaseDurationMs: l.lease_duration, renewDeadlineMs: l.renew_deadline, retryPeriodMs: l.retry_period,
  };
}
