// Lints the Dockerfile with the rules that matter for this image (hadolint's, in spirit): pinned bases, a non-root
// user, no remote ADD, explicit owners, exec-form entry point, no shell needed at run time, no HEALTHCHECK, labels.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { copyArgs, execForm, readDockerfile, REPO } from './dockerfile.ts';

const dockerfile = readDockerfile();
const runtime = dockerfile.stages.at(-1)!;
const stageNames = new Set(dockerfile.stages.map((s) => s.name).filter((n) => n !== undefined));
const all = dockerfile.stages.flatMap((s) => s.instructions);
const last = (keyword: string) => runtime.instructions.filter((i) => i.keyword === keyword).at(-1);

describe('Dockerfile', () => {
  it('is multi-stage, every base image pinned to a version or digest, never latest', () => {
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
    for (const { image } of dockerfile.stages) {
      if (stageNames.has(image)) continue;
      expect(image, `FROM ${image}`).not.toMatch(/:latest$|^[^:@]+$/);
      expect(image, `FROM ${image}`).toMatch(/@sha256:[0-9a-f]{64}$|:[^:@]*\d+\.\d+\.\d+[^:@]*$/);
    }
  });

  it('runs on the Node.js release the project pins and tests with', () => {
    const pinned = (JSON.parse(readFileSync(`${REPO}package.json`, 'utf8')) as { devDependencies: Record<string, string> }).devDependencies.node;
    expect(runtime.image).toMatch(new RegExp(`^node:${pinned.replaceAll('.', '\\.')}-`));
    expect(pinned.split('.')[0]).toBe('24');
  });

  it('ends as a non-root user, given by number', () => {
    const user = last('USER');
    expect(user, 'USER in the final stage').toBeDefined();
    const [uid, gid] = user!.args.split(':');
    expect(uid).toMatch(/^\d+$/);
    expect(Number(uid)).toBeGreaterThan(0);
    if (gid !== undefined) expect(Number(gid)).toBeGreaterThan(0);
  });

  it('uses COPY with explicit owners, never ADD or RUN chown', () => {
    expect(all.filter((i) => i.keyword === 'ADD').map((i) => `line ${i.line}: ADD ${i.args}`)).toEqual([]);
    expect(all.filter((i) => i.keyword === 'RUN' && /\bchown\b/.test(i.args)).map((i) => `line ${i.line}`)).toEqual([]);
    for (const copy of runtime.instructions.filter((i) => i.keyword === 'COPY')) {
      expect(copyArgs(copy.args).flags.chown, `line ${copy.line}: COPY ${copy.args}`).toMatch(/^\d+:\d+$/);
    }
  });

  it('needs no shell at run time: exec-form ENTRYPOINT and CMD, no RUN in the final stage, no HEALTHCHECK', () => {
    expect(execForm(last('ENTRYPOINT')), `ENTRYPOINT ${last('ENTRYPOINT')?.args}`).toBeDefined();
    if (last('CMD') !== undefined) expect(execForm(last('CMD')), `CMD ${last('CMD')?.args}`).toBeDefined();
    expect(runtime.instructions.filter((i) => i.keyword === 'RUN').map((i) => `line ${i.line}: RUN ${i.args}`)).toEqual([]);
    expect(all.filter((i) => i.keyword === 'HEALTHCHECK')).toEqual([]);
  });

  it('sets WORKDIR to absolute paths only', () => {
    for (const w of all.filter((i) => i.keyword === 'WORKDIR')) expect(w.args, `line ${w.line}`).toMatch(/^\//);
  });

  it('carries the OCI labels', () => {
    const labels = runtime.instructions.filter((i) => i.keyword === 'LABEL').map((i) => i.args).join(' ');
    for (const key of ['title', 'description', 'licenses', 'version', 'revision']) {
      expect(labels).toContain(`org.opencontainers.image.${key}=`);
    }
  });
});
