// Dead-letter entries of rejected lines: bodies dropped and credentials blanked from text that does not parse.
import { describe, expect, it } from 'vitest';
import type { RedactionSettings } from './redact.ts';
import { compileRejectedLine } from './rejected-line.ts';

const DEFAULTS: RedactionSettings = { secrets: true, token_requests: true, paths: [] };
const b64 = (s: string) => Buffer.from(s).toString('base64');
const rejected = (text: string | Buffer, cfg: RedactionSettings = DEFAULTS, raw = false) =>
  compileRejectedLine(cfg, raw)(typeof text === 'string' ? Buffer.from(text) : text);

const head = '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a-1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/p/secrets?access_token=uri-token-1","verb":"create","user":{"username":"alice"},"objectRef":{"resource":"secrets","namespace":"p","name":"db"}';
const tail = ',"requestReceivedTimestamp":"2026-11-22T12:04:13Z","stageTimestamp":"2026-11-22T12:04:13Z","annotations":{"authorization.k8s.io/decision":"allow"}}';

describe('a rejected line in the dead-letter file', () => {
  it('keeps the head (its query blanked) and the tail, and drops the bodies, whatever they hold', () => {
    const body = `,"requestObject":{"kind":"Secret","data":{"password":"${b64('secret-value-1')}"},"type":Opaque"},"responseObject":{"kind":"Secret"}`;
    const { line, line_base64 } = rejected(head + body + tail);
    expect(line_base64).toBeUndefined();
    expect(line).toBe(`${head.replace('uri-token-1', '[redacted: token]')},"bodies":"[redacted: ${body.length} characters of request and response bodies; dead_letter_raw keeps them]"${tail}`);
  });

  it('a line cut inside its body: the head stays, the rest goes', () => {
    const { line } = rejected(`${head},"requestObject":{"kind":"Secret","data":{"password":"${b64('secret-value-2')}`);
    expect(line).not.toContain(b64('secret-value-2'));
    expect(line.startsWith(head.replace('uri-token-1', '[redacted: token]'))).toBe(true);
  });

  it('with its body key damaged: Secret values, kubectl\'s escaped copy of them, tokens and patterns are blanked as text', () => {
    const text = `${head},"requestObjekt"{"kind":"Secret","metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\\"data\\":{\\"ca.key\\":\\"${b64('secret-value-3')}\\"},\\"stringData\\":{\\"pw\\":\\"secret-value-4\\"}}\\n"}},"data":{"tls.key":"${b64('secret-value-5')}", "tls.crt" : "${b64('secret-value-6')}"},"stringData":{"x":"secret-value-7`;
    const { line } = rejected(text);
    for (const v of [b64('secret-value-3'), 'secret-value-4', b64('secret-value-5'), b64('secret-value-6'), 'secret-value-7', 'uri-token-1']) expect(line).not.toContain(v);
    expect(line).toContain('"data":{"tls.key":"[redacted: secret value]", "tls.crt" : "[redacted: secret value]"}');
    expect(line).toContain('{\\"data\\":{\\"ca.key\\":\\"[redacted: secret value]\\"}');
    const token = rejected('{"kind":"TokenRequest","status":{"token":"eyJ-not-quite-a-jwt-1","expirationTimestamp":"x"}}').line;
    expect(token).toBe('{"kind":"TokenRequest","status":{"token":"[redacted: token]","expirationTimestamp":"x"}}');
    const configMap = rejected('{"kind":"ConfigMap","data":{"DB_PASSWORD":"cm-value-1","app.env":"API_TOKEN=cm-value-2\\n"}').line;
    expect(configMap).toBe('{"kind":"ConfigMap","data":{"DB_PASSWORD":"[redacted: password]","app.env":"API_TOKEN=[redacted: token]\\n"}');
  });

  it('each mechanism follows its setting', () => {
    const text = '{"kind":"Secret","data":{"k":"c2VjcmV0LXZhbHVl"},"x":{"token":"t-1"},"y":{"password":"p-1"}}';
    const off = { secrets: false, token_requests: false, paths: [], patterns: { enabled: false, keys: {}, values: {}, skip: [] } };
    expect(rejected(text, off).line).toBe(text);
    expect(rejected(text, { ...off, secrets: true }).line).toBe('{"kind":"Secret","data":{"k":"[redacted: secret value]"},"x":{"token":"t-1"},"y":{"password":"p-1"}}');
  });

  it('dead_letter_raw keeps the line as read, and the bytes of one that is not UTF-8', () => {
    const text = `${head},"requestObject":{"kind":"Secret","data":{"password":"${b64('secret-value-8')}"}}${tail}`;
    expect(rejected(text, DEFAULTS, true)).toEqual({ line: text });
    const bytes = Buffer.concat([Buffer.from(head), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from(tail)]);
    const kept = rejected(bytes, DEFAULTS, true);
    expect(Buffer.from(kept.line_base64!, 'base64').equals(bytes)).toBe(true);
    expect(kept.line).toContain('\uFFFD');
  });
});
