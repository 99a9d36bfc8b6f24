// Several worker processes' Prometheus scrapes made one: what a scraper of
// the admin port sees is the whole gateway, not a random worker. Counters
// and histograms add up; gauges add up where they count things in each
// process (in flight, waiting, queued records) and otherwise agree or take
// the most cautious value (a store is up only if it is up everywhere; the
// remaining tokens an upstream reported: the lowest).

/** Gauges that count something held by each process: summed. */
const SUMMED_GAUGES = new Set(['aoai_gateway_requests_in_flight', 'aoai_gateway_queue_length', 'aoai_gateway_ledger_pending_records']);

function gaugeMerge(name: string): (a: number, b: number) => number {
  if (SUMMED_GAUGES.has(name)) return (a, b) => a + b;
  if (name.endsWith('_up') || name.startsWith('reverseproxy_azure_openai_remaining_')) return Math.min;
  return Math.max;
}

export function mergePrometheus(texts: readonly string[]): string {
  /** metric family → its comment lines, and sample line key → value */
  const families = new Map<string, { meta: string[]; type: string; samples: Map<string, number> }>();
  let family: { meta: string[]; type: string; samples: Map<string, number> } | undefined;
  for (const text of texts) {
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const meta = /^# (HELP|TYPE|UNIT) (\S+)(?: (.*))?$/.exec(line);
      if (meta) {
        const name = meta[2];
        family = families.get(name);
        if (!family) families.set(name, (family = { meta: [], type: 'untyped', samples: new Map() }));
        if (!family.meta.includes(line)) family.meta.push(line);
        if (meta[1] === 'TYPE') family.type = meta[3] ?? 'untyped';
        continue;
      }
      if (line.startsWith('#')) continue;
      const space = line.lastIndexOf(' ');
      const key = line.slice(0, space);
      const value = Number(line.slice(space + 1));
      if (!family) families.set('', (family = { meta: [], type: 'untyped', samples: new Map() }));
      const before = family.samples.get(key);
      if (before === undefined) family.samples.set(key, value);
      else family.samples.set(key, family.type === 'gauge' ? gaugeMerge(sampleName(key))(before, value) : before + value);
    }
  }
  const out: string[] = [];
  for (const f of families.values()) {
    out.push(...f.meta);
    for (const [key, value] of f.samples) out.push(`${key} ${value}`);
  }
  return `${out.join('\n')}\n`;
}

function sampleName(key: string): string {
  const brace = key.indexOf('{');
  return brace === -1 ? key : key.slice(0, brace);
}
