// The webhook's body handling and config checks, without a server: what becomes of an EventList, and what is refused.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../config/load.ts';
import { eventListLines } from './audit-webhook.ts';

const list = (items: unknown[]) => Buffer.from(JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items }));

describe('eventListLines', () => {
  it('gives each item as the line the log backend writes: kind and apiVersion first, one per line', () => {
    const r = eventListLines(list([{ auditID: 'a', stage: 'ResponseComplete', verb: 'get' }, { auditID: 'b', stage: 'ResponseStarted' }]));
    if ('problem' in r) throw new Error(r.problem);
    expect(r.lines.toString()).toBe(
      '{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","stage":"ResponseComplete","verb":"get"}\n'
      + '{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"b","stage":"ResponseStarted"}\n');
    expect(r.keys).toEqual(['a/ResponseComplete', 'b/ResponseStarted']);
    expect(r.events).toBe(2);
  });

  it('leaves out the events already made durable, and keeps items that are not objects for the parse stage to refuse', () => {
    const r = eventListLines(list([{ auditID: 'a', stage: 'ResponseComplete' }, 7, { auditID: 'b', stage: 'ResponseComplete' }]), (k) => k === 'a/ResponseComplete');
    if ('problem' in r) throw new Error(r.problem);
    expect(r.lines.toString()).toBe('7\n{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"b","stage":"ResponseComplete"}\n');
    expect(r.keys).toEqual(['b/ResponseComplete']);
  });

  it('names what is wrong with a body that is not an audit EventList', () => {
    expect(eventListLines(Buffer.from('nope'))).toMatchObject({ problem: expect.stringMatching(/^body is not JSON/) });
    expect(eventListLines(Buffer.from('[]'))).toMatchObject({ problem: expect.stringMatching(/expected an audit\.k8s\.io EventList, found kind undefined/) });
    expect(eventListLines(Buffer.from('{"kind":"EventList","apiVersion":"v1","items":[]}'))).toMatchObject({ problem: expect.stringMatching(/apiVersion "v1"/) });
    expect(eventListLines(Buffer.from('{"kind":"EventList","apiVersion":"audit.k8s.io/v1"}'))).toEqual({ problem: 'EventList has no items list' });
  });
});

describe('audit_webhook config', () => {
  const source = (extra: Record<string, unknown>) => ({
    sources: { hook: { kind: 'audit_webhook', tls: { cert_file: '/x/tls.crt', key_file: '/x/tls.key' }, ...extra } },
  });

  it('refuses an endpoint the apiserver would not authenticate to, naming the fields that would fix it', () => {
    expect(() => parseConfig(source({}))).toThrow(ConfigError);
    expect(() => parseConfig(source({}))).toThrow(/sources\.hook\.tls\.client_ca_file: the apiserver must authenticate: set tls\.client_ca_file \(client certificate\) or bearer_token/);
    expect(parseConfig(source({ bearer_token: { env: 'T' } })).sources.hook).toMatchObject({ listen: '0.0.0.0:9443', path: '/k8s-audit', ack_timeout: 20_000 });
    expect(parseConfig(source({ allow_unauthenticated: true })).sources.hook.kind).toBe('audit_webhook');
  });

  it('requires TLS', () => {
    expect(() => parseConfig({ sources: { hook: { kind: 'audit_webhook', bearer_token: { env: 'T' } } } })).toThrow(/sources\.hook\.tls: required field is missing/);
  });
});
