// The agent's own log: pino JSON lines on stderr (stdout may be a sink), levels as words ("level":"warn") for grep.
import { pino, type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { name: 'kaudit' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }, pino.destination({ fd: 2, sync: true }));
}
