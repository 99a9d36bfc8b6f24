// What the simulator's object routes share: their answer, the file object,
// bounded maps, and Azure's error and list shapes.
import { azureError } from './shapes.ts';

export interface SimAnswer {
  readonly status: number;
  /** a JSON answer */
  readonly json?: unknown;
  /** or bytes with their content type (a file's content) */
  readonly bytes?: Buffer;
  readonly contentType?: string;
}

export interface SimFile {
  readonly id: string;
  readonly object: 'file';
  readonly bytes: number;
  readonly created_at: number;
  readonly filename: string;
  readonly purpose: string;
  readonly status: 'processed';
  readonly status_details: null;
}

/** At most this many objects of each kind; the oldest go first. */
export const MAX_OBJECTS = 1000;

/** A Map that forgets its oldest entries past MAX_OBJECTS. */
export class Bounded<V> extends Map<string, V> {
  override set(key: string, value: V): this {
    super.set(key, value);
    while (this.size > MAX_OBJECTS) this.delete(this.keys().next().value as string);
    return this;
  }
}

export const notFound = (what: string, oid: string): SimAnswer => ({
  status: 404,
  json: azureError('NotFound', `No ${what} with id '${oid}' was found on this resource.`),
});
export const badRequest = (message: string, param: string | null = null): SimAnswer => ({
  status: 400,
  json: { error: { code: 'invalid_request_error', type: 'invalid_request_error', message, param } },
});
export const now = (): number => Math.floor(Date.now() / 1000);

export function list(data: readonly { id: string }[]) {
  return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: false };
}

