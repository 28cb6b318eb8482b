// `kaudit check-config`: the effective config, defaults filled in, paths absolute, secrets shown only by reference.
import { stringify } from 'yaml';
import { mapMarked } from '../config/fields.ts';
import { configSchema, type Config } from '../config/schema.ts';
import { describeSecret, type SecretRef } from '../config/secret.ts';
import { sinkKinds } from '../sinks/index.ts';
import type { SinkKind } from '../sinks/types.ts';

/** Prints a config that passed loading and the preflight. */
export async function checkConfigCommand(config: Config): Promise<number> {
  const masked = mapMarked(configSchema, withEffectiveSinkOptions(config), (mark, value) => (mark.kind === 'secret' ? describeSecret(value as SecretRef) : value));
  process.stdout.write(`# config is valid; effective configuration (relative paths resolved against the config file's directory):\n${stringify(masked)}`);
  return 0;
}

/**
 * The config with each sink's options as they are in force: a preset's format and template over the defaults, and
 * the batch size the sink can send (one record per request).
 */
function withEffectiveSinkOptions(config: Config): Config {
  const sinks = Object.fromEntries(Object.entries(config.sinks).map(([name, sink]) => {
    const kind = sinkKinds[sink.kind as keyof typeof sinkKinds] as SinkKind;
    const most = kind.maxBatchEvents?.(sink);
    const batch = most === undefined ? sink.batch : { ...sink.batch, max_events: Math.min(sink.batch.max_events, most) };
    return [name, { ...sink, ...kind.effective?.(sink), batch }];
  }));
  return { ...config, sinks };
}
