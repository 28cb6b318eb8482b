// ingress-nginx access-log lines, written from the controller's documented default format, parsed field by field.
import { describe, expect, it } from 'vitest';
import { accessLogFormatOf, compileAccessLogFormat, DEFAULT_INGRESS_FORMAT, parseAccessLine } from './ingress.ts';

const DEFAULT = accessLogFormatOf('default');
const parse = (line: string) => parseAccessLine(line, DEFAULT);

describe('ingress-nginx default access-log format', () => {
  it('reads every field of an ordinary line', () => {
    const line = '203.0.113.7 - - [07/Dec/2026:10:41:17 +0000] "GET /api/v1/orders?page=2 HTTP/1.1" 200 1534 "https://shop.example.com/cart" '
      + '"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36" 512 0.012 '
      + '[shop-web-80] [] 10.244.1.17:8080 1534 0.011 200 9f2c3e1d5b7a4c6e8f0a1b2c3d4e5f60';
    expect(parse(line)).toEqual({
      remote_addr: '203.0.113.7', client_ip: '203.0.113.7', time: '2026-12-07T10:41:17.000Z',
      method: 'GET', path: '/api/v1/orders?page=2', protocol: 'HTTP/1.1', status: 200, bytes_out: 1534,
      referer: 'https://shop.example.com/cart',
      user_agent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
      bytes_in: 512, request_time: 0.012, upstream_name: 'shop-web-80', upstream_addr: '10.244.1.17:8080',
      upstream_bytes: 1534, upstream_time: 0.011, upstream_status: 200, request_id: '9f2c3e1d5b7a4c6e8f0a1b2c3d4e5f60',
    });
  });

  it('reads IPv6 clients and upstreams, a user, a time zone offset', () => {
    const line = '2001:db8:85a3::8a2e:370:7334 - alice [07/Dec/2026:11:41:17 +0100] "POST /login HTTP/2.0" 302 0 "-" "curl/8.5.0" 231 0.003 '
      + '[auth-api-8443] [auth-api-canary-8443] [fd00:10:244::5]:8443 0 0.003 302 0c1d2e3f';
    expect(parse(line)).toMatchObject({
      client_ip: '2001:db8:85a3::8a2e:370:7334', remote_user: 'alice', time: '2026-12-07T10:41:17.000Z', method: 'POST', path: '/login',
      protocol: 'HTTP/2.0', status: 302, bytes_out: 0, user_agent: 'curl/8.5.0', upstream_name: 'auth-api-8443',
      upstream_alternative_name: 'auth-api-canary-8443', upstream_addr: '[fd00:10:244::5]:8443', upstream_status: 302,
    });
    expect(parse(line)).not.toHaveProperty('referer');
  });

  it('turns nginx\'s \\xHH escapes in quoted fields back into the text, UTF-8 included', () => {
    const line = '198.51.100.4 - - [07/Dec/2026:10:41:17 +0000] "GET /search?q=\\x22caf\\xC3\\xA9\\x22\\x5C HTTP/1.1" 200 10 "-" '
      + '"Mozilla/5.0 \\x22quoted\\x22 agent" 100 0.001 [shop-web-80] [] 10.244.1.17:8080 10 0.001 200 abc';
    expect(parse(line)).toMatchObject({ path: '/search?q="café"\\', user_agent: 'Mozilla/5.0 "quoted" agent' });
  });

  it('gives - as absent: no upstream for a request the controller answered itself', () => {
    const line = '192.0.2.10 - - [07/Dec/2026:10:41:17 +0000] "GET /favicon.ico HTTP/1.1" 404 548 "-" "-" 87 0.000 [] [] - - - - 5e6f';
    const f = parse(line)!;
    expect(f).toMatchObject({ status: 404, bytes_out: 548, request_time: 0, path: '/favicon.ico', request_id: '5e6f' });
    for (const k of ['user_agent', 'referer', 'upstream_name', 'upstream_addr', 'upstream_status', 'upstream_time', 'upstream_bytes', 'remote_user']) expect(f).not.toHaveProperty(k);
  });

  it('takes the upstream that answered from the lists of retried upstreams and internal redirects', () => {
    const line = '192.0.2.10 - - [07/Dec/2026:10:41:17 +0000] "GET /a HTTP/1.1" 200 5 "-" "k6/0.48" 90 0.210 [shop-web-80] [] '
      + '10.244.1.17:8080, 10.244.2.9:8080 : 10.244.3.3:8080 0, 0 : 5 0.100, 0.100 : 0.010 502, 504 : 200 77aa';
    expect(parse(line)).toMatchObject({ upstream_addr: '10.244.3.3:8080', upstream_bytes: 5, upstream_time: 0.01, upstream_status: 200, request_id: '77aa' });
  });

  it('keeps a request line that is not METHOD PATH PROTOCOL whole (a TLS handshake on the plain port)', () => {
    const line = '192.0.2.77 - - [07/Dec/2026:10:41:17 +0000] "\\x16\\x03\\x01\\x00\\xF1\\x01" 400 150 "-" "-" 0 0.001 [] [] - - - - 1a2b';
    const f = parse(line)!;
    expect(f.status).toBe(400);
    expect(f).not.toHaveProperty('method');
    expect(typeof f.request).toBe('string');
  });

  it('is not fooled by the controller\'s own log lines or a line cut short', () => {
    expect(parse('I1207 10:41:17.123456       7 controller.go:190] "Configuration changes detected, backend reload required"')).toBeUndefined();
    expect(parse('2026/12/07 10:41:17 [error] 33#33: *1 connect() failed (111: Connection refused) while connecting to upstream')).toBeUndefined();
    expect(parse('192.0.2.10 - - [07/Dec/2026:10:41:17 +0000] "GET / HTTP/1.1" 200 5 "-" "x" 90 0.2 [w] []')).toBeUndefined();
    expect(parse('192.0.2.10 - - [yesterday] "GET / HTTP/1.1" 200 5 "-" "x" 90 0.2 [w] [] - - - - id')).toBeUndefined();
    expect(parse('192.0.2.10 - - [07/Dec/2026:10:41:17 +0000] "GET / HTTP/1.1" OK 5 "-" "x" 90 0.2 [w] [] - - - - id')).toBeUndefined();
  });
});

describe('a configured nginx log_format', () => {
  it('reads the variables it names, with the same escapes and upstream lists', () => {
    const f = compileAccessLogFormat('$the_real_ip $host "$request_method $request_uri $server_protocol" $status $request_time ua="$http_user_agent" xff="$http_x_forwarded_for" $upstream_status');
    const line = '203.0.113.50 shop.example.com "GET /.env HTTP/1.1" 404 0.002 ua="sqlmap/1.7.2#stable (https://sqlmap.org)" xff="203.0.113.50, 10.0.0.1" 404';
    expect(parseAccessLine(line, f)).toEqual({
      real_ip: '203.0.113.50', client_ip: '203.0.113.50', host: 'shop.example.com', method: 'GET', path: '/.env', protocol: 'HTTP/1.1',
      status: 404, request_time: 0.002, user_agent: 'sqlmap/1.7.2#stable (https://sqlmap.org)', x_forwarded_for: '203.0.113.50, 10.0.0.1', upstream_status: 404,
    });
  });

  it('refuses formats it could not read back, saying why', () => {
    expect(() => compileAccessLogFormat('plain text')).toThrow(/names no \$variable/);
    expect(() => compileAccessLogFormat('$remote_addr$request')).toThrow(/\$remote_addr and \$request have nothing between them/);
    expect(() => compileAccessLogFormat('$remote_addr $status')).toThrow(/not an access log/);
    expect(compileAccessLogFormat(DEFAULT_INGRESS_FORMAT).vars).toHaveLength(17);
  });
});
