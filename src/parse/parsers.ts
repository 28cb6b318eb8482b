// One parser per source kind: the block's origin names it, so a new source kind is a parser here, not a branch elsewhere.
import { processChunk, type ChunkContext, type ChunkResult } from './chunk.ts';
import { parseContainerBlock, type ContainerOrigin } from './container.ts';
import { parseSyslogBlock, type SyslogOrigin } from './syslog.ts';
import { parseK8sEventBlock, type K8sEventOrigin } from './k8s-event.ts';
import { parseFileBlock, type FileLineOrigin } from './file-line.ts';

/** Where a block comes from, as its parser needs to know (plain data: it crosses threads). Audit blocks need nothing. */
export type BlockOrigin = { parser: 'audit' } | ContainerOrigin | SyslogOrigin | K8sEventOrigin | FileLineOrigin;

const AUDIT: BlockOrigin = { parser: 'audit' };

/** Parses (and, for audit events, redacts and runs detection over) one block of whole lines. */
export function processBlock(data: Uint8Array, ctx: ChunkContext, origin: BlockOrigin = AUDIT): ChunkResult {
  switch (origin.parser) {
    case 'audit': return processChunk(data, ctx);
    case 'containers': return parseContainerBlock(data, ctx, origin);
    case 'syslog': return parseSyslogBlock(data, ctx, origin);
    case 'k8s_events': return parseK8sEventBlock(data, ctx, origin);
    case 'files': return parseFileBlock(data, ctx, origin);
  }
}
