// Types for the part of the official SLS Node SDK (@alicloud/log, plain JavaScript) the tests use to cross-check the fake SLS.
declare module '@alicloud/log' {
  import type { Agent } from 'node:http';

  interface ClientConfig {
    accessKeyId: string;
    accessKeySecret: string;
    securityToken?: string;
    /** `host[:port]`, or with `http://` / `https://`; requests go to `<project>.<endpoint>`. */
    endpoint: string;
  }

  interface PutLogsData {
    logs: Array<{ timestamp: number; timestampNsPart?: number; content: Record<string, string> }>;
    topic?: string;
    source?: string;
    tags?: Array<Record<string, string>>;
  }

  /** An error the service answered: `code` is SLS's errorCode. */
  interface SlsSdkError extends Error {
    code: string;
  }

  export default class Client {
    constructor(config: ClientConfig);
    postLogStoreLogs(project: string, logstore: string, data: PutLogsData, options?: { agent?: Agent; timeout?: number }): Promise<unknown>;
  }
  export type { SlsSdkError };
}
