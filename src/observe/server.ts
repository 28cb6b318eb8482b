// The health and metrics endpoint: /healthz (process up), /readyz (config loaded, sources open), /metrics.
import type { Server } from 'node:http';
import { ioReason } from '../config/io-error.ts';
import { listenAddress } from '../config/listen.ts';
import type { Metrics } from './metrics.ts';

// Taken as the plain module: an ESM import of node:http reads every export, and one of them loads Node's own copy
// of undici (~30 ms of the start).
const { createServer } = process.getBuiltinModule('node:http');

export interface HealthState {
  /** Why the agent is not ready, one line each; empty when ready. */
  problems(): readonly string[];
}

export async function startHealthServer(listen: string, metrics: Metrics, health: HealthState): Promise<Server> {
  const { host, port } = listenAddress(listen);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const problems = health.problems();
      const body = problems.length === 0 ? 'ready\n' : `not ready\n${problems.map((p) => `- ${p}\n`).join('')}`;
      res.writeHead(problems.length === 0 ? 200 : 503, { 'content-type': 'text/plain' }).end(body);
    } else if (path === '/metrics') {
      metrics.text().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (err) => res.writeHead(500).end(String(err)),
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(ioReason(err), { cause: err })));
    server.listen(port, host, () => resolve());
  });
  server.unref();
  return server;
}
