// What a running process cannot take over on reload: the sockets it listens
// on and the services it opened at start. A reload keeps their running
// values and names them, so the operator knows a restart is needed.
import { isDeepStrictEqual } from 'node:util';
import type { Config } from '../config/schema.ts';

/** Bound at start: section → its fields (undefined: the whole section). */
const BOUND: Record<string, readonly string[] | undefined> = {
  listen: ['host', 'port', 'requestTimeoutMs', 'tls'],
  admin: ['host', 'port', 'tls'],
  state: undefined,
  ledger: undefined,
  telemetry: undefined,
};

export function holdBoundFields(current: Config, next: Config): { effective: Config; restartNeeded: string[] } {
  const effective: Record<string, unknown> = { ...next };
  const restartNeeded: string[] = [];
  for (const [section, fields] of Object.entries(BOUND)) {
    const was = (current as Record<string, unknown>)[section] as Record<string, unknown> | undefined;
    const now = (next as Record<string, unknown>)[section] as Record<string, unknown> | undefined;
    if (fields === undefined) {
      if (!isDeepStrictEqual(was, now)) {
        restartNeeded.push(section);
        effective[section] = was;
      }
      continue;
    }
    const kept: Record<string, unknown> = { ...now };
    for (const f of fields) {
      if (isDeepStrictEqual(was?.[f], now?.[f])) continue;
      restartNeeded.push(`${section}.${f}`);
      kept[f] = was?.[f];
    }
    effective[section] = kept;
  }
  return { effective: effective as Config, restartNeeded };
}
