// Benchmark: the loki sink against the fake Loki (`npm run bench:sink:loki`; see sink-bench.ts).
import { runSinkBench } from './sink-bench.ts';

await runSinkBench({
  kind: 'loki',
  fake: 'test/utils/fake-loki.ts',
  config: (url) => ({ url }),
  countField: 'entries',
});
