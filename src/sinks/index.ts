// The sink registry: config `kind` → sink kind. Adding a sink is adding its file and one line here.
import { elasticsearchSink } from './elasticsearch.ts';
import { fileSink } from './file.ts';
import { httpSink } from './http.ts';
import { lokiSink } from './loki.ts';
import { slsSink } from './sls.ts';
import { stdoutSink } from './stdout.ts';
import { syslogSink } from './syslog.ts';
import type { SinkKind } from './types.ts';

export const sinkKinds = {
  stdout: stdoutSink,
  file: fileSink,
  http: httpSink,
  syslog: syslogSink,
  elasticsearch: elasticsearchSink,
  loki: lokiSink,
  sls: slsSink,
} satisfies Record<string, SinkKind<any>>;

export type SinkKindName = keyof typeof sinkKinds;
