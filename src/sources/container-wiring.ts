// Builds a containers source's options and log lines from its config section (kept out of the agent's start).
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ContainersSourceConfig } from '../config/schema.ts';
import type { CheckpointEvents } from '../delivery/checkpoint.ts';
import type { SourceHealthMetrics } from '../observe/metrics.ts';
import { containerFilter, selfOf } from './container-paths.ts';
import type { ContainerSourceEvents, ContainerSourceOptions } from './containers.ts';
import type { FileSetEvents } from './file-set.ts';
import type { ReadBufferPool } from './read-buffers.ts';

export function containerSourceOptions(
  name: string, src: ContainersSourceConfig, stateDir: string, buffers: ReadBufferPool,
  pipeline: { drained(): Promise<void> }, checkpoints: CheckpointEvents,
): ContainerSourceOptions {
  return {
    source: name, linksDir: src.path, podsDir: src.pods_path, checkpointDir: join(stateDir, 'checkpoints', name),
    readFrom: src.read_from, maxLineBytes: src.max_line_bytes, maxMessageBytes: src.max_message_bytes,
    chunkBytes: src.read_chunk_bytes, pollMs: src.poll_interval, buffers,
    accepts: containerFilter(src.include, src.exclude, src.exclude_self ? selfOf(process.env) : undefined),
    ingressFormat: ingressFormatOf(src.ingress),
    drained: () => pipeline.drained(),
    checkpoints,
  };
}

/** Which containers are ingress controllers: their log_format, or undefined for every other container. */
function ingressFormatOf(ingress: ContainersSourceConfig['ingress']): ContainerSourceOptions['ingressFormat'] {
  if (ingress === undefined) return undefined;
  const none = { namespaces: [], pods: [], containers: [] };
  const picks = containerFilter(ingress, none, undefined);
  return (m) => (picks(m) ? ingress.format : undefined);
}

export function containerEvents(events: FileSetEvents, log: Logger, health: SourceHealthMetrics): ContainerSourceEvents {
  return {
    ...events,
    containerAdded: (c, path) => log.info({ ...c.meta, path }, 'reading container log'),
    containerFinished: (c, path) => log.info({ ...c.meta, path }, 'container log finished (container or pod removed); read to its end'),
    orphanCheckpoint: (path, unreadBytes) => {
      if (unreadBytes === 0) return;
      health.lost(unreadBytes);
      log.error({ path, unreadBytes }, `container log removed while the agent was not running: ${unreadBytes} bytes never read`);
    },
  };
}
