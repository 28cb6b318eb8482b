// `kaudit check-config`: the effective config, defaults filled in, paths absolute, secrets shown only by reference.
import { stringify } from 'yaml';
import { mapMarked } from '../config/fields.ts';
import { configSchema, type Config } from '../config/schema.ts';
import { describeSecret, type SecretRef } from '../config/secret.ts';

/** Prints a config that passed loading and the preflight. */
export async function checkConfigCommand(config: Config): Promise<number> {
  const masked = mapMarked(configSchema, config, (mark, value) => (mark.kind === 'secret' ? describeSecret(value as SecretRef) : value));
  process.stdout.write(`# config is valid; effective configuration (relative paths resolved against the config file's directory):\n${stringify(masked)}`);
  return 0;
}
