// Listen addresses (`host:port`): checked in the config schema, split in one place for the server that binds them.
import { isIP, type Server as NetServer } from 'node:net';
import { z } from 'zod';
import { fieldMarks } from './fields.ts';
import { ioReason } from './io-error.ts';

export interface ListenAddress {
  /** An IPv4 or IPv6 address or a host name; `0.0.0.0` when the config leaves it empty. */
  host: string;
  /** 0: any free port. */
  port: number;
}

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** The host and port of `host:port`, `[ipv6]:port` or `:port`, or what is wrong with the text. */
export function parseListen(text: string): ListenAddress | { problem: string } {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d+)$/.exec(text);
  if (m === null) {
    return { problem: text.split(':').length > 2 && !text.startsWith('[') ? 'an IPv6 address goes in brackets: [::1]:9808' : 'expected host:port' };
  }
  const [, v6, plain, portText] = m;
  const port = Number(portText);
  const host = v6 ?? (plain === '' ? '0.0.0.0' : plain);
  const problems = [hostProblem(host, v6 !== undefined), port > 65535 ? `port ${portText} is out of range (0 to 65535; 0 picks a free port)` : undefined]
    .filter((p) => p !== undefined);
  return problems.length > 0 ? { problem: problems.join(', and ') } : { host, port };
}

function hostProblem(host: string, bracketed: boolean): string | undefined {
  if (bracketed) return isIP(host) === 6 ? undefined : `[${host}] is not an IPv6 address`;
  if (/^[\d.]+$/.test(host)) return isIP(host) === 4 ? undefined : `${host} is not an IPv4 address`;
  return HOST_NAME.test(host) ? undefined : `${JSON.stringify(host)} is not a host name or an IP address`;
}

export const listenSchema = z.string().superRefine((text, ctx) => {
  const parsed = parseListen(text);
  if ('problem' in parsed) ctx.addIssue({ code: 'custom', message: `${parsed.problem}, found "${text}"` });
}).register(fieldMarks, { kind: 'listen' });

/** A listen address the schema accepted. */
export function listenAddress(text: string): ListenAddress {
  const parsed = parseListen(text);
  if ('problem' in parsed) throw new Error(`${text}: ${parsed.problem}`);
  return parsed;
}

/** Binds a server to a listen address the schema accepted; rejects with the reason in words (address in use, …). */
export function listenOn(server: NetServer, text: string): Promise<void> {
  const { host, port } = listenAddress(text);
  return new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(ioReason(err), { cause: err })));
    server.listen(port, host, () => resolve());
  });
}
