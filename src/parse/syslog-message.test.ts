// Syslog messages into fields: the examples of RFC 5424 and RFC 3164 themselves, what senders write in practice, and
// what is not syslog.
import { describe, expect, it } from 'vitest';
import { parseSyslogMessage } from './syslog-message.ts';

const RECEIVED = new Date('2026-12-07T10:41:30Z');
const parse = (text: string, received = RECEIVED) => parseSyslogMessage(text, received);

describe('syslog message parser', () => {
  it('reads the examples of RFC 5424: header fields, nil values, structured data, the BOM before MSG', () => {
    expect(parse('<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \ufeff\'su root\' failed for lonvick on /dev/pts/8')).toEqual({
      format: 'rfc5424', facility: 'auth', facility_code: 4, severity: 'crit', severity_code: 2, time: '2003-10-11T22:14:15.003Z',
      hostname: 'mymachine.example.com', app_name: 'su', msg_id: 'ID47', message: '\'su root\' failed for lonvick on /dev/pts/8',
    });
    expect(parse('<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It\'s time to make the do-nuts.')).toMatchObject({
      facility: 'local4', severity: 'notice', time: '2003-08-24T05:14:15.000003-07:00', hostname: '192.0.2.1', app_name: 'myproc', proc_id: '8710',
      message: '%% It\'s time to make the do-nuts.',
    });
    const sd = parse('<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]');
    expect(sd).toMatchObject({
      structured_data: { 'exampleSDID@32473': { iut: '3', eventSource: 'Application', eventID: '1011' }, 'examplePriority@32473': { class: 'high' } },
      message: '',
    });
  });

  it('unescapes PARAM-VALUEs, keeps every value of a name given twice, and leaves other backslashes alone', () => {
    expect(parse('<13>1 - h a - - [x@1 v="a\\"b\\\\c\\]d\\ne" v="2" v="3"] m')).toMatchObject({
      structured_data: { 'x@1': { v: ['a"b\\c]d\\ne', '2', '3'] } }, message: 'm',
    });
  });

  it('reads a malformed RFC 5424 header as RFC 3164, as rsyslog does, rather than losing the message', () => {
    expect(parse('<13>1 2026-12-07 10:00:00 h a - - - m')).toMatchObject({ format: 'rfc3164', message: expect.stringMatching(/2026-12-07 10:00:00 h a - - - m$/) });
    expect(parse('<13>1 2026-12-07T10:00:00Z h a - - [broken m')).toMatchObject({ format: 'rfc3164' });
  });

  it('reads the examples of RFC 3164 and what local senders write: time without year (UTC, this year), host, tag and PID', () => {
    expect(parse('<34>Oct 11 22:14:15 mymachine su: \'su root\' failed for lonvick on /dev/pts/8')).toEqual({
      format: 'rfc3164', facility: 'auth', facility_code: 4, severity: 'crit', severity_code: 2, time: '2026-10-11T22:14:15Z',
      hostname: 'mymachine', app_name: 'su', message: '\'su root\' failed for lonvick on /dev/pts/8',
    });
    expect(parse('<86>Dec  7 10:41:20 node-3 sudo[912]: alice : COMMAND=/bin/sh')).toMatchObject({ time: '2026-12-07T10:41:20Z', hostname: 'node-3', app_name: 'sudo', proc_id: '912', message: 'alice : COMMAND=/bin/sh' });
    // From /dev/log (no host name) and with rsyslog's RFC 3339 timestamp (RSYSLOG_ForwardFormat).
    expect(parse('<38>Dec  7 10:41:20 sshd[42]: Accepted key')).toMatchObject({ app_name: 'sshd', proc_id: '42', message: 'Accepted key' });
    expect(parse('<38>Dec  7 10:41:20 sshd[42]: Accepted key')).not.toHaveProperty('hostname');
    expect(parse('<38>2026-12-07T10:41:20.123456+01:00 node-1 sshd[42]: x')).toMatchObject({ time: '2026-12-07T10:41:20.123456+01:00', hostname: 'node-1', app_name: 'sshd' });
    // No timestamp at all: a tag and a message.
    expect(parse('<14>falco: 10:41:21.000000000: Critical x')).toMatchObject({ app_name: 'falco', message: '10:41:21.000000000: Critical x' });
  });

  it('dates a December message received in January in the year before', () => {
    expect(parse('<13>Dec 31 23:59:59 h t: m', new Date('2027-01-01T00:00:10Z'))).toMatchObject({ time: '2026-12-31T23:59:59Z' });
  });

  it('refuses what has no valid PRI, saying why', () => {
    expect(parse('hello')).toEqual({ problem: 'no <PRI> at the start (found "hello")' });
    expect(parse('<192>1 - - - - - - m')).toEqual({ problem: 'bad PRI <192>' });
    expect(parse('<013>x')).toEqual({ problem: 'bad PRI <013>' });
    expect(parse('<191>x')).toMatchObject({ facility: 'local7', severity: 'debug' });
  });
});
