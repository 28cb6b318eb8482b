// Benchmark: the elasticsearch sink against the fake Elasticsearch (`npm run bench:sink:elasticsearch`; see sink-bench.ts).
import { runSinkBench } from './sink-bench.ts';

await runSinkBench({
  kind: 'elasticsearch',
  fake: 'test/utils/fake-elasticsearch.ts',
  config: (url) => ({ url }),
  countField: 'documents',
});
