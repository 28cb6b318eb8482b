// Builds a files source's options and log lines from its config section (kept out of the agent's start).
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config, FilesSourceConfig } from '../config/schema.ts';
import type { CheckpointEvents } from '../delivery/checkpoint.ts';
import type { RecordContext } from '../enrich/record-context.ts';
import type { FileSetEvents } from './file-set.ts';
import type { FilesSourceEvents, FilesSourceOptions } from './files.ts';
import type { ReadBufferPool } from './read-buffers.ts';

export function filesSourceOptions(
  name: string, src: FilesSourceConfig, config: Config, buffers: ReadBufferPool, checkpoints: CheckpointEvents, kubernetes?: RecordContext,
): FilesSourceOptions {
  const lines: FilesSourceOptions['lines'] = { host: hostOf(config), format: src.format };
  if (src.time_field !== undefined) lines.timeField = src.time_field;
  if (src.message_field !== undefined) lines.messageField = src.message_field;
  return {
    ...(kubernetes === undefined ? {} : { kubernetes: (fromPath) => kubernetes.fileKubernetes(fromPath) }),
    source: name, paths: src.paths, exclude: src.exclude, checkpointDir: join(config.state_dir, 'checkpoints', name),
    readFrom: src.read_from, maxLineBytes: src.max_line_bytes, chunkBytes: src.read_chunk_bytes, pollMs: src.poll_interval,
    buffers, lines, checkpoints,
  };
}

/** The records' `host`: the node's name (kubernetes.node_name, else NODE_NAME from the downward API), else the machine's. */
export function hostOf(config: Config, env: NodeJS.ProcessEnv = process.env): string {
  return config.kubernetes.node_name ?? (env.NODE_NAME || hostname());
}

export function filesEvents(events: FileSetEvents, log: Logger): FilesSourceEvents {
  return {
    ...events,
    fileAdded: (path) => log.info({ path }, 'reading host file'),
    fileGone: (path) => log.info({ path }, 'host file gone (removed and no longer matched); read to its end'),
  };
}
