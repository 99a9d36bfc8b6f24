// Reloading when the config file changes. Polling stat, not inotify: it
// follows editors that save by renaming and Kubernetes' ConfigMap symlink
// swaps. Editors write in several steps: the reload waits for things to settle.
import { type Stats, statSync, unwatchFile, watchFile } from 'node:fs';

const INTERVAL_MS = 500;

const same = (a: Stats | undefined, b: Stats | undefined) =>
  a === undefined || b === undefined ? a === b : a.mtimeMs === b.mtimeMs && a.size === b.size && a.ino === b.ino;

/** Calls `onChange` 200 ms after the file at `path` last changed; returns the function that stops watching. */
export function watchConfigFile(path: string, onChange: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, 200);
    timer.unref();
  };
  const changed = (cur: Stats, prev: Stats) => {
    if (!same(cur, prev)) soon();
  };
  // watchFile compares with its own first stat, taken a little later: a
  // change in between would go unseen, so compare once with this one.
  const atStart = stat(path);
  watchFile(path, { interval: INTERVAL_MS, persistent: false }, changed);
  const check = setTimeout(() => {
    if (!same(atStart, stat(path))) soon();
  }, INTERVAL_MS * 2);
  check.unref();
  return () => {
    clearTimeout(timer);
    clearTimeout(check);
    unwatchFile(path, changed);
  };
}

function stat(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}
