// The Kubernetes API client: in-cluster service account or a kubeconfig file, the server's certificate always verified.
import { AppsV1Api, BatchV1Api, CoordinationV1Api, CoreV1Api, EventsV1Api, KubeConfig, Watch } from '@kubernetes/client-node';

export interface KubeClient {
  core: CoreV1Api;
  apps: AppsV1Api;
  batch: BatchV1Api;
  /** events.k8s.io/v1 events and coordination.k8s.io/v1 Leases (the k8s_events source). */
  events: EventsV1Api;
  coordination: CoordinationV1Api;
  watch: Watch;
  /** The loaded configuration, for requests the generated clients cannot make (a list kept as the server sent it). */
  config: KubeConfig;
  /** The API server's URL, for log lines. */
  server: string;
}

/** A client configuration kaudit refuses: the message names the config field (or the environment) and the reason. */
export class KubeConfigError extends Error {}

/**
 * Loads `kubeconfig` (its current context) or, without one, the pod's service account (KUBERNETES_SERVICE_HOST/PORT,
 * token and CA under /var/run/secrets/kubernetes.io/serviceaccount, the token re-read as kubelet rotates it).
 */
export function connect(kubeconfig: string | undefined): KubeClient {
  const kc = new KubeConfig();
  if (kubeconfig === undefined) {
    if (!process.env.KUBERNETES_SERVICE_HOST || !process.env.KUBERNETES_SERVICE_PORT) {
      throw new KubeConfigError('kubernetes.kubeconfig: not set, and KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not in the environment (not running in a pod); give a kubeconfig file to run outside a cluster');
    }
    kc.loadFromCluster();
  } else {
    try {
      kc.loadFromFile(kubeconfig);
    } catch (err) {
      throw new KubeConfigError(`kubernetes.kubeconfig: cannot load ${kubeconfig}: ${reasonOf(err)}`);
    }
  }
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new KubeConfigError(`kubernetes.kubeconfig: ${kubeconfig} has no current context with a cluster`);
  if (cluster.skipTLSVerify) {
    throw new KubeConfigError(`kubernetes.kubeconfig: cluster "${cluster.name}" sets insecure-skip-tls-verify; kaudit verifies the API server's certificate (give its CA as certificate-authority)`);
  }
  if (!cluster.server.startsWith('https://')) {
    throw new KubeConfigError(`kubernetes.kubeconfig: cluster "${cluster.name}" has server ${cluster.server}; expected an https:// URL`);
  }
  return {
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    batch: kc.makeApiClient(BatchV1Api),
    events: kc.makeApiClient(EventsV1Api),
    coordination: kc.makeApiClient(CoordinationV1Api),
    watch: new Watch(kc),
    config: kc,
    server: cluster.server,
  };
}

function reasonOf(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES') return 'permission denied';
  // js-yaml's messages say what is wrong and where (line, column); a stack is never shown.
  return err instanceof Error ? err.message.split('\n')[0]! : String(err);
}
