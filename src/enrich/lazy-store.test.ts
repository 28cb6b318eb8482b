// The Kubernetes client library is loaded only when `kubernetes.enabled`: the real agent, run with a module hook that
// reports every module resolved, never resolves @kubernetes/client-node with it off (every node pays ~74 MiB for it).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, writeAgentConfig } from '../../test/utils/agent.ts';

let dir: string;
let hook: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kaudit-lazy-'));
  hook = join(dir, 'report-client-node.mjs');
  await writeFile(hook, `import { registerHooks } from 'node:module';
registerHooks({ resolve(specifier, context, next) {
  if (specifier.startsWith('@kubernetes/client-node')) process.stderr.write('RESOLVED @kubernetes/client-node\\n');
  return next(specifier, context);
} });
`);
  await writeFile(join(dir, 'audit.log'), '');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function runOnce(kubernetes: Record<string, unknown>) {
  const config = await writeAgentConfig(dir, {
    state_dir: join(dir, `state-${Date.now()}`), http: null, detection: { enabled: false }, kubernetes,
    sources: { audit: { kind: 'audit', path: join(dir, 'audit.log') } }, sinks: { out: { kind: 'stdout' } },
  });
  return runCli(['run', '--config', config, '--once'], { NODE_OPTIONS: `--import=${pathToFileURL(hook).href}` });
}

describe('the enrich stage, loaded on demand', () => {
  it('is never loaded by an agent with kubernetes off, and is with it on', async () => {
    const off = await runOnce({ enabled: false });
    expect(off.code, off.stderr).toBe(0);
    expect(off.stderr).not.toContain('RESOLVED @kubernetes/client-node');
    // On, outside a pod and without a kubeconfig: loaded, then refused naming the field.
    const on = await runOnce({ enabled: true });
    expect(on.stderr).toContain('RESOLVED @kubernetes/client-node');
    expect(on.code).not.toBe(0);
    expect(on.stderr).toContain('kubernetes.kubeconfig: not set');
  });
});
