// A cached answer as the store keeps it: one line of metadata (JSON), a
// newline, then the answer's body as upstream sent it. The body is not
// re-encoded inside the metadata, so it costs its own size, not an escaped one.

export interface CacheEntry {
  /** when it was stored (ms since the epoch) */
  readonly storedAt: number;
  /** the target that made it: endpoint name and the deployment's name there */
  readonly endpoint: string;
  readonly upstreamDeployment: string;
  readonly contentType: string;
  /** the model upstream reported */
  readonly model: string | undefined;
  /** tokens the answer cost upstream: what a hit saves */
  readonly totalTokens: number;
  /** the answer's JSON body */
  readonly body: string;
}

interface Meta {
  v: 1;
  at: number;
  ep: string;
  dep: string;
  ct: string;
  m?: string;
  tok: number;
}

export function encodeEntry(e: CacheEntry): string {
  const meta: Meta = { v: 1, at: e.storedAt, ep: e.endpoint, dep: e.upstreamDeployment, ct: e.contentType, tok: e.totalTokens };
  if (e.model !== undefined) meta.m = e.model;
  return `${JSON.stringify(meta)}\n${e.body}`;
}

/** The entry, or undefined for anything that is not one this version wrote (read as a miss). */
export function decodeEntry(s: string): CacheEntry | undefined {
  const nl = s.indexOf('\n');
  if (nl === -1) return undefined;
  let meta: Partial<Meta>;
  try {
    meta = JSON.parse(s.slice(0, nl)) as Partial<Meta>;
  } catch {
    return undefined;
  }
  if (meta.v !== 1 || typeof meta.at !== 'number' || typeof meta.ep !== 'string' || typeof meta.dep !== 'string' || typeof meta.ct !== 'string') {
    return undefined;
  }
  return {
    storedAt: meta.at,
    endpoint: meta.ep,
    upstreamDeployment: meta.dep,
    contentType: meta.ct,
    model: typeof meta.m === 'string' ? meta.m : undefined,
    totalTokens: typeof meta.tok === 'number' ? meta.tok : 0,
    body: s.slice(nl + 1),
  };
}
