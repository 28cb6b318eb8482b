// `kaudit check-config`: the effective config, defaults filled in, secrets shown only by reference.
import { stringify } from 'yaml';
import type { Config } from '../config/schema.ts';
import { describeSecret, type SecretRef } from '../config/secret.ts';

export async function checkConfigCommand(config: Config): Promise<number> {
  process.stdout.write(`# config is valid; effective configuration:\n${stringify(mask(config))}`);
  return 0;
}

/** Replaces every secret reference by a description of where it comes from. */
function mask(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(mask);
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 1 && (keys[0] === 'env' || keys[0] === 'file')) return describeSecret(value as SecretRef);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mask(v)]));
  }
  return value;
}
