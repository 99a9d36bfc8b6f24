// The text of a request that content safety checks, read from the parsed
// body: chat `messages`, the Responses API's `input` and `instructions`,
// `prompt` (completions, images) and `input` (embeddings, speech), a thread
// message's `content`; of a multipart form, its `prompt` field. Each
// piece is kept with its kind: what the user wrote (Prompt Shields' user
// prompt), what a tool or function returned (Prompt Shields' documents: where
// indirect attacks hide), or the rest (system prompts, earlier answers),
// which only the category analysis reads. Then the pieces are fitted to the
// configured bound and cut into calls of the service's size.

export type PieceKind = 'user' | 'document' | 'other';

export interface Piece {
  readonly kind: PieceKind;
  readonly text: string;
}

/** What one call of the service takes at most (characters), for analyze and for a Prompt Shields user prompt or its documents together. */
export const CALL_CHARS = 10_000;
/** Prompt Shields takes at most five documents per call. */
export const DOCUMENTS_PER_CALL = 5;
const SEPARATOR = '\n\n';

export function promptPieces(body: Readonly<Record<string, unknown>>): Piece[] {
  const out: Piece[] = [];
  push(out, 'other', body.instructions);
  if (Array.isArray(body.messages)) items(out, body.messages);
  // one message on its own: an Assistants thread's new message
  else if (typeof body.role === 'string' && body.content !== undefined) items(out, [body]);
  for (const field of ['prompt', 'input'] as const) {
    const v = body[field];
    if (typeof v === 'string') push(out, 'user', v);
    else if (Array.isArray(v)) {
      // strings (embeddings, completions), else Responses items; token arrays carry no text
      if (v.some((x) => x !== null && typeof x === 'object' && !Array.isArray(x))) items(out, v);
      else for (const x of v) push(out, 'user', x);
    }
  }
  return out;
}

function items(out: Piece[], list: readonly unknown[]): void {
  for (const raw of list) {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) continue;
    const m = raw as Record<string, unknown>;
    if (m.type === 'function_call_output' || m.type === 'custom_tool_call_output') {
      push(out, 'document', m.output);
      continue;
    }
    const kind: PieceKind = m.role === 'tool' || m.role === 'function' ? 'document' : m.role === 'user' || m.role === undefined ? 'user' : 'other';
    content(out, kind, m.content);
  }
}

function content(out: Piece[], kind: PieceKind, c: unknown): void {
  if (typeof c === 'string') return push(out, kind, c);
  if (!Array.isArray(c)) return;
  for (const part of c) {
    if (typeof part === 'string') push(out, kind, part);
    else if (part !== null && typeof part === 'object') push(out, kind, (part as { text?: unknown }).text);
  }
}

function push(out: Piece[], kind: PieceKind, v: unknown): void {
  if (typeof v === 'string' && v.trim() !== '') out.push({ kind, text: v });
}

/** A multipart form's `prompt` (image edits, transcriptions). */
export function formPieces(prompt: string | undefined): Piece[] {
  const out: Piece[] = [];
  push(out, 'user', prompt);
  return out;
}

export function totalChars(pieces: readonly Piece[]): number {
  let n = 0;
  for (const p of pieces) n += p.text.length;
  return n + Math.max(0, pieces.length - 1) * SEPARATOR.length;
}

/**
 * The newest `maxChars` characters of the pieces: a conversation's earlier
 * turns were the newest of an earlier request, and checked then.
 */
export function newest(pieces: readonly Piece[], maxChars: number): Piece[] {
  const kept: Piece[] = [];
  let room = maxChars;
  for (let i = pieces.length - 1; i >= 0 && room > 0; i--) {
    const p = pieces[i];
    if (p.text.length <= room) {
      kept.push(p);
      room -= p.text.length + SEPARATOR.length;
    } else {
      kept.push({ kind: p.kind, text: p.text.slice(safeCut(p.text, p.text.length - room, 1)) });
      room = 0;
    }
  }
  return kept.reverse();
}

/** The text joined and cut into pieces of at most `size` characters, preferring to cut at white space. */
export function chunks(text: string, size = CALL_CHARS): string[] {
  const out: string[] = [];
  let at = 0;
  while (text.length - at > size) {
    let end = at + size;
    const space = text.lastIndexOf(' ', end - 1);
    const newline = text.lastIndexOf('\n', end - 1);
    const ws = Math.max(space, newline);
    if (ws > end - 500 && ws > at) end = ws + 1;
    end = safeCut(text, end, -1);
    out.push(text.slice(at, end));
    at = end;
  }
  if (at < text.length) out.push(text.slice(at));
  return out;
}

export function joined(pieces: readonly Piece[], kinds?: ReadonlySet<PieceKind>): string {
  return pieces
    .filter((p) => !kinds || kinds.has(p.kind))
    .map((p) => p.text)
    .join(SEPARATOR);
}

export interface ShieldCall {
  readonly userPrompt: string | undefined;
  readonly documents: readonly string[];
}

/** Prompt Shields calls: the user text in calls of 10,000 characters, documents packed five and 10,000 characters to a call. */
export function shieldCalls(pieces: readonly Piece[]): ShieldCall[] {
  const user = chunks(joined(pieces, USER));
  const docs = pieces.filter((p) => p.kind === 'document').flatMap((p) => chunks(p.text));
  const calls: ShieldCall[] = [];
  let u = 0;
  let d = 0;
  while (u < user.length || d < docs.length) {
    const documents: string[] = [];
    let size = 0;
    while (d < docs.length && documents.length < DOCUMENTS_PER_CALL && size + docs[d].length <= CALL_CHARS) {
      size += docs[d].length;
      documents.push(docs[d++]);
    }
    calls.push({ userPrompt: user[u++], documents });
  }
  return calls;
}

const USER: ReadonlySet<PieceKind> = new Set(['user']);

/** Never between the two halves of a surrogate pair: moves the cut by `step` when it would be. */
function safeCut(text: string, at: number, step: 1 | -1): number {
  const c = text.charCodeAt(at);
  return c >= 0xdc00 && c <= 0xdfff ? at + step : at;
}
