// What the agent needs of a source's reader, whatever its kind: the audit FileSet, the containers source.
import type { FileSet } from './file-set.ts';

export type SourceReader = Pick<FileSet, 'start' | 'stop' | 'caughtUp' | 'liveProblems' | 'liveReadable' | 'problemsSeen' | 'lag'>;
