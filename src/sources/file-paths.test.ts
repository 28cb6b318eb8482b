// Which matches of a files source's patterns are live files, which directory a pattern watches, and a pod's files.
import { describe, expect, it } from 'vitest';
import { configSchema } from '../config/schema.ts';
import { BackupNames } from './backup-names.ts';
import { fixedDirOf, liveFilesOf, podOfPath } from './file-paths.ts';

describe('files source paths', () => {
  it('takes rotated names (logrotate numbered and dated, kubelet, lumberjack) and .gz files for backups, not live files', () => {
    const matches = [
      '/l/access.log', '/l/access.log.1', '/l/access.log.2.gz', '/l/error.log', '/l/error.log-20261207', '/l/error.log-20261206.gz',
      '/l/app.log', '/l/app-2026-12-07T10-41-17.000.log', '/l/0.log', '/l/0.log.20261207-104117', '/l/error-2.log', '/m/access.log.1',
    ];
    expect(liveFilesOf(matches)).toEqual(['/l/0.log', '/l/access.log', '/l/app.log', '/l/error-2.log', '/l/error.log', '/m/access.log.1']);
    // The live file renamed away for a moment while it rotates: its backup is still not a live file of its own.
    expect(liveFilesOf(['/l/access.log.1'], ['/l/access.log'])).toEqual([]);
  });

  it('orders logrotate\'s numbered backups oldest (highest number) first, other names by name', () => {
    const names = new BackupNames('access', '.log', 'any');
    expect(['/l/access.log.1', '/l/access.log.10', '/l/access.log.2'].sort((a, b) => names.compare(a, b))).toEqual(['/l/access.log.10', '/l/access.log.2', '/l/access.log.1']);
    expect(['/l/access.log-20261207', '/l/access.log-20261206'].sort((a, b) => names.compare(a, b))).toEqual(['/l/access.log-20261206', '/l/access.log-20261207']);
  });

  it('watches where a pattern\'s fixed part ends', () => {
    expect(fixedDirOf('/var/log/nginx/*.log')).toBe('/var/log/nginx');
    expect(fixedDirOf('/var/lib/kubelet/pods/*/volumes/*/*/*.log')).toBe('/var/lib/kubelet/pods');
    expect(fixedDirOf('/var/log/syslog')).toBe('/var/log');
    expect(fixedDirOf('/*.log')).toBe('/');
  });

  it('reads the pod\'s uid, and the volume, of a file under kubelet\'s pods directory wherever it is mounted', () => {
    const uid = '457a7cb1-aa47-4d00-9125-f4a427a4fb70';
    expect(podOfPath(`/host/var/lib/kubelet/pods/${uid}/volumes/kubernetes.io~empty-dir/app-logs/trail.log`)).toEqual({ pod_uid: uid, volume: 'app-logs' });
    expect(podOfPath(`/var/lib/kubelet/pods/${uid}/etc-hosts`)).toEqual({ pod_uid: uid });
    expect(podOfPath('/var/log/nginx/access.log')).toBeUndefined();
    expect(podOfPath('/var/lib/kubelet/pods/not-a-uid/volumes/x/y/z.log')).toBeUndefined();
  });
});

describe('files source config', () => {
  const parse = (source: Record<string, unknown>) => configSchema.safeParse({ sources: { host: { kind: 'files', ...source } } });
  const message = (source: Record<string, unknown>) => {
    const r = parse(source);
    return r.success ? undefined : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  };

  it('takes patterns with their defaults, and refuses what cannot work, naming the field', () => {
    expect(parse({ paths: ['/var/log/nginx/*.log'] }).data?.sources.host).toMatchObject({ format: 'auto', read_from: 'head', exclude: [] });
    expect(message({ paths: [] })).toBe('sources.host.paths: expected at least one file pattern');
    expect(message({})).toMatch(/^sources\.host\.paths: /);
    expect(message({ paths: ['/var/log/nginx/'] })).toBe('sources.host.paths.0: expected a file pattern such as /var/log/nginx/*.log, not a directory');
    expect(message({ paths: ['/l/*.log'], format: 'text', message_field: 'msg' })).toBe('sources.host.format: time_field and message_field read JSON lines: set format to auto or json, or remove them');
    expect(message({ paths: ['/l/*.log'], format: 'yaml' })).toMatch(/^sources\.host\.format: /);
  });
});
