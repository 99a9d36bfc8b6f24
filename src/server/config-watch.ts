// Reloading when the config file changes. Polling stat, not inotify: it
// follows editors that save by renaming and Kubernetes' ConfigMap symlink
// swaps. Editors write in several steps: the reload waits for things to settle.
import { type Stats, unwatchFile, watchFile } from 'node:fs';

/** Calls `onChange` 200 ms after the file at `path` last changed; returns the function that stops watching. */
export function watchConfigFile(path: string, onChange: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const changed = (cur: Stats, prev: Stats) => {
    if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size && cur.ino === prev.ino) return;
    clearTimeout(timer);
    timer = setTimeout(onChange, 200);
    timer.unref();
  };
  watchFile(path, { interval: 500, persistent: false }, changed);
  return () => {
    clearTimeout(timer);
    unwatchFile(path, changed);
  };
}
