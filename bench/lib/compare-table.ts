// The suite's markdown: the figures table, the same figures as ratios to
// nginx and to the bare undici proxy, the streams table, the soak line, the
// aims with what was measured, and how it ran; and writing it into README.md
// between the bench:compare markers.
import { readFileSync, writeFileSync } from 'node:fs';
import type { RpsRow } from './compare-rps.ts';
import type { StreamsRow } from './compare-streams.ts';
import type { SoakResult } from './compare-soak.ts';

export const START = '<!-- bench:compare:start -->';
export const END = '<!-- bench:compare:end -->';

export interface Report {
  readonly rps: RpsRow[];
  readonly streams: StreamsRow[];
  readonly soak: SoakResult | undefined;
  readonly concurrency: number;
  readonly meta: string[];
}

const ms = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '—' : `${v.toFixed(3)}`);
const int = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(0));
/** v / base; "—" when either is unknown or not above `floor` (an added latency at or below zero has no ratio) */
const ratio = (v: number | undefined, base: number | undefined, floor = 0) =>
  v === undefined || base === undefined || !Number.isFinite(v) || !Number.isFinite(base) || base <= floor || (floor > 0 && v <= floor) ? '—' : `${(v / base).toFixed(2)}x`;

type Figure = { key: keyof RpsRow; head: string; fmt: (v: number | undefined) => string; floor: number };

function figures(c: number): Figure[] {
  return [
    { key: 'rps', head: `req/s c=${c}`, fmt: int, floor: 0 },
    { key: 'addedP50c1', head: 'added p50 c=1 (ms)', fmt: ms, floor: 0.001 },
    { key: 'addedP99c1', head: 'added p99 c=1 (ms)', fmt: ms, floor: 0.001 },
    { key: 'addedP50cN', head: `added p50 c=${c} (ms)`, fmt: ms, floor: 0.001 },
    { key: 'addedP99cN', head: `added p99 c=${c} (ms)`, fmt: ms, floor: 0.001 },
    { key: 'cpuUs', head: 'CPU µs/req (proxy)', fmt: int, floor: 0 },
  ];
}

const absolute: Partial<Record<keyof RpsRow, keyof RpsRow>> = { addedP50c1: 'p50c1', addedP99c1: 'p99c1', addedP50cN: 'p50cN', addedP99cN: 'p99cN' };

function rpsTables(rows: RpsRow[], c: number): string[] {
  const figs = figures(c);
  const head = `| request | path | ${figs.map((f) => f.head).join(' | ')} |`;
  const rule = `|---|---|${figs.map(() => '---:').join('|')}|`;
  const values = [head, rule];
  const ratios = [`| request | path | ${figs.map((f) => f.head.replace(' (ms)', '')).join(' | ')} |`, rule];
  for (const mode of ['plain', 'stream'] as const) {
    const mine = rows.filter((r) => r.mode === mode);
    const nginx = mine.find((r) => r.id === 'nginx' && !r.na);
    const bare = mine.find((r) => r.id === 'bare' && !r.na);
    for (const r of mine) {
      if (r.na) {
        values.push(`| ${mode} | ${r.name} | ${r.na} |${figs.slice(1).map(() => '').join(' |')} |`);
        continue;
      }
      const cells = figs.map((f) => {
        // the direct row: its own latency, in italics (nothing is added to it)
        const abs = absolute[f.key];
        if (r.id === 'direct' && abs) return `*${f.fmt(r[abs] as number)}*`;
        return f.fmt(r[f.key] as number | undefined);
      });
      values.push(`| ${mode} | ${r.name} | ${cells.join(' | ')} |`);
      if (r.id === 'direct') continue;
      const rc = figs.map((f) => {
        const v = r[f.key] as number | undefined;
        return `${ratio(v, nginx?.[f.key] as number | undefined, f.floor)} · ${ratio(v, bare?.[f.key] as number | undefined, f.floor)}`;
      });
      ratios.push(`| ${mode} | ${r.name} | ${rc.join(' | ')} |`);
    }
  }
  return [
    ...values,
    '',
    `*Italics*: the simulator's own latency (direct). Added latency = the path's p50/p99 minus direct's, both from the same round, median over rounds.`,
    '',
    'The same figures as ratios, **vs nginx · vs the bare undici proxy** ("—" for an added latency at or below zero on either side):',
    '',
    ...ratios,
  ];
}

function streamsTable(rows: StreamsRow[]): string[] {
  if (!rows.length) return [];
  const nginx = rows.find((r) => r.id === 'nginx' && !r.na);
  const bare = rows.find((r) => r.id === 'bare' && !r.na);
  const direct = rows.find((r) => r.id === 'direct' && !r.na);
  const out = [
    '| path | streams ok / opened | open at once (peak) | proxy RSS idle → peak (MB) | relay p50 (ms) | relay p99 (ms) | relay max (ms) | added p99 vs direct (ms) | CPU µs per chunk | peak RSS vs nginx · bare | relay p99 vs nginx · bare |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    if (r.na) {
      out.push(`| ${r.name} | ${r.na} ||||||||||`);
      continue;
    }
    const isDirect = r.id === 'direct';
    out.push(
      `| ${r.name} | ${r.ok} / ${r.streams}${r.failed ? ` (${r.failed} failed: ${r.reasons?.join('; ')})` : ''} | ${r.peakOpen} | ${isDirect ? '—' : `${int(r.rssIdleMB)} → ${int(r.rssPeakMB)}`} | ${ms(r.relayP50)} | ${ms(r.relayP99)} | ${r.relayMax?.toFixed(1)} | ${isDirect ? '—' : ms((r.relayP99 ?? NaN) - (direct?.relayP99 ?? NaN))} | ${isDirect ? '—' : r.cpuPerChunkUs?.toFixed(1)} | ${isDirect ? '—' : `${ratio(r.rssPeakMB, nginx?.rssPeakMB)} · ${ratio(r.rssPeakMB, bare?.rssPeakMB)}`} | ${isDirect ? '—' : `${ratio(r.relayP99, nginx?.relayP99)} · ${ratio(r.relayP99, bare?.relayP99)}`} |`,
    );
  }
  return out;
}

function soakLine(s: SoakResult | undefined): string[] {
  if (!s) return [];
  if (s.na || !s.plan) return [`Soak: ${s.na ?? 'not run'}.`];
  const mins = s.plan.durationMs / 60_000;
  return [
    `**Soak** (${s.target}, ${s.plan.ratePerSecond} req/s at a fixed rate, every other one streamed, ${mins >= 1 ? `${mins} min` : `${s.plan.durationMs / 1000} s`}, RSS sampled every ${s.plan.sampleMs / 1000} s): ` +
      `RSS ${s.rssAfterWarmupMB?.toFixed(1)} MB after the ${s.plan.warmupMs / 1000} s warm-up, ${s.rssEndMB?.toFixed(1)} MB at the end (${(s.growthPct ?? 0) >= 0 ? '+' : ''}${s.growthPct?.toFixed(1)}%), at most ${s.rssMaxMB?.toFixed(1)} MB; ` +
      `${s.sent} requests, ${s.errors} not answered 200${s.errors ? ` (${JSON.stringify(s.statuses)} ${s.reasons?.join(', ')})` : ''}; latency p50 ${ms(s.p50)} ms, p99 ${ms(s.p99)} ms.`,
  ];
}

interface Aim {
  readonly text: string;
  readonly measured: string;
  readonly met: boolean | undefined;
}

function aims(r: Report): Aim[] {
  const row = (id: string, mode: string) => r.rps.find((x) => x.id === id && x.mode === mode && !x.na);
  const out: Aim[] = [];
  const both = (f: (mode: 'plain' | 'stream') => number | undefined, limit: number, fmt: (v: number) => string, below = true) => {
    const vs = (['plain', 'stream'] as const).map(f);
    const known = vs.every((v) => v !== undefined && Number.isFinite(v));
    return { measured: `plain ${known ? fmt(vs[0]!) : '—'}, stream ${known ? fmt(vs[1]!) : '—'}`, met: known ? vs.every((v) => (below ? v! <= limit : v! >= limit)) : undefined };
  };
  const x = (v: number) => `${v.toFixed(2)}x`;
  const cpuVsNginx = (id: string) => (mode: 'plain' | 'stream') => (row(id, mode)?.cpuUs ?? NaN) / (row('nginx', mode)?.cpuUs ?? NaN);
  out.push({ text: 'CPU per request, everything on ≤ 2.5x nginx', ...both(cpuVsNginx('gw-all'), 2.5, x) });
  out.push({ text: 'CPU per request, default ≤ 2x nginx', ...both(cpuVsNginx('gw-default'), 2, x) });
  for (const [id, label] of [['gw-default', 'default'], ['gw-all', 'everything on']]) {
    out.push({ text: `added latency p50 at c=1 ≤ 0.5 ms (${label})`, ...both((m) => row(id, m)?.addedP50c1, 0.5, (v) => `${v.toFixed(3)} ms`) });
    out.push({ text: `added latency p99 at c=1 ≤ 2 ms (${label})`, ...both((m) => row(id, m)?.addedP99c1, 2, (v) => `${v.toFixed(3)} ms`) });
  }
  for (const [id, label] of [['gw-default', 'default'], ['gw-all', 'everything on']]) {
    out.push({ text: `throughput ≥ 5x Portkey's (${label})`, ...both((m) => (row(id, m)?.rps ?? NaN) / (row('portkey', m)?.rps ?? NaN), 5, x, false) });
  }
  for (const id of ['gw-default', 'gw-all']) {
    const s = r.streams.find((y) => y.id === id && !y.na);
    const label = id === 'gw-all' ? 'everything on' : 'default';
    out.push({
      text: `${s?.streams ?? 'N'} concurrent streams in < 400 MB RSS, relay p99 ≤ 2 ms, none failed (${label})`,
      measured: s ? `${int(s.rssPeakMB)} MB, p99 ${ms(s.relayP99)} ms, ${s.failed} failed` : '—',
      met: s ? (s.rssPeakMB ?? Infinity) < 400 && (s.relayP99 ?? Infinity) <= 2 && s.failed === 0 : undefined,
    });
  }
  const s = r.soak;
  if (s && !s.na && s.growthPct !== undefined) {
    out.push({ text: 'soak: RSS after warm-up grows < 5%, no error', measured: `${s.growthPct.toFixed(1)}%, ${s.errors} errors`, met: s.growthPct < 5 && s.errors === 0 });
  }
  const one = row('gw-all', 'plain');
  const two = row('gw-all-2w', 'plain');
  const twoS = row('gw-all-2w', 'stream');
  out.push({
    text: 'scaling from 1 to 2 workers (everything on, req/s at c=50)',
    measured: two && one ? `plain ${x(two.rps! / one.rps!)}, stream ${twoS && row('gw-all', 'stream') ? x(twoS.rps! / row('gw-all', 'stream')!.rps!) : '—'}` : (r.rps.find((y) => y.id === 'gw-all-2w')?.na ?? '—'),
    met: undefined,
  });
  return out;
}

export function render(r: Report): string {
  const aimLines = aims(r).map((a) => `| ${a.text} | ${a.measured} | ${a.met === undefined ? '—' : a.met ? 'met' : '**missed**'} |`);
  return [
    ...rpsTables(r.rps, r.concurrency),
    '',
    ...streamsTable(r.streams),
    '',
    ...soakLine(r.soak),
    '',
    '| aim | measured | |',
    '|---|---|---|',
    ...aimLines,
    '',
    ...r.meta,
  ].join('\n');
}

/** Writes `md` between the markers; false (and nothing written) when README.md has no markers. */
export function writeReadme(path: string, md: string): boolean {
  const text = readFileSync(path, 'utf8');
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a === -1 || b === -1 || b < a) return false;
  writeFileSync(path, `${text.slice(0, a + START.length)}\n${md}\n${text.slice(b)}`);
  return true;
}
