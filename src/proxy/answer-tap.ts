// A look at a successful answer on its way to the client, for what the
// gateway must know before the client has all of it (the ids of objects the
// answer created: src/affinity). The relay calls it; it never changes what
// a stream carries.

export interface AnswerTap {
  /**
   * A whole JSON answer (held until it ended, up to 1 MiB), before it is
   * sent. A promise holds the answer back until it settles; it may give a
   * body to send instead (a list with only the consumer's objects).
   */
  json(body: Buffer): Promise<Buffer | undefined> | undefined;
  /** Whole SSE events, as they pass. */
  events(events: Buffer): void;
  /** The stream ended upstream; a promise holds its end back until it settles. */
  end(): Promise<void> | undefined;
}
