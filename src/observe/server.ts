// The health and metrics endpoint: /healthz (process up), /readyz (config loaded, sources open), /metrics; /report when on.
import type { Server, ServerResponse } from 'node:http';
import { listenOn } from '../config/listen.ts';
import type { Metrics } from './metrics.ts';

// Taken as the plain module: an ESM import of node:http reads every export, and one of them loads Node's own copy
// of undici (~30 ms of the start).
const { createServer } = process.getBuiltinModule('node:http');

export interface HealthState {
  /** Why the agent is not ready, one line each; empty when ready. */
  problems(): readonly string[];
}

/** The alarm report page (`http.report`): off unless given; `remote: false` answers loopback peers only. */
export interface ReportRoute {
  render(): Promise<string>;
  remote: boolean;
}

export const REPORT_PATH = '/report';

export async function startHealthServer(listen: string, metrics: Metrics, health: HealthState, report?: ReportRoute): Promise<Server> {
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
    } else if (path === REPORT_PATH && report !== undefined) {
      serveReport(report, req.socket.remoteAddress, res);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  await listenOn(server, listen);
  server.unref();
  return server;
}

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 addresses. */
function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

/**
 * The report shows security data (who did what, from where): unless the operator allowed remote peers, only a
 * client on the agent's own loopback gets it (in a pod: kubectl port-forward or exec). Never cached, never framed.
 */
function serveReport(report: ReportRoute, peer: string | undefined, res: ServerResponse): void {
  if (!report.remote && !isLoopback(peer)) {
    res.writeHead(403, { 'content-type': 'text/plain' }).end('the alarm report is served to loopback clients only (http.report.allow_remote)\n');
    return;
  }
  report.render().then(
    (html) => res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer',
    }).end(html),
    (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot render the alarm report: ${err.message}\n`),
  );
}
