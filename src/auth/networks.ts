// Client networks: which address a request comes from (X-Forwarded-For is
// believed only from configured trusted proxies), and whether it lies in a
// consumer's allowed networks. CIDR matching is node:net's BlockList.
import type { IncomingHttpHeaders } from 'node:http';
import { BlockList, isIP } from 'node:net';

/** X-Forwarded-For entries read at most, from the right. */
const MAX_HOPS = 32;

/** Why a CIDR (or a single address) is not one, or undefined. */
export function cidrProblem(s: string): string | undefined {
  const [address, bits, extra] = s.split('/');
  const family = isIP(address);
  if (!family || extra !== undefined) return `"${s}" is not an address or a CIDR like 10.0.0.0/8 or 2001:db8::/32`;
  if (bits === undefined) return undefined;
  const n = Number(bits);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(bits) || n > max) return `"${s}": the prefix length must be 0 to ${max}`;
  return undefined;
}

export class NetworkList {
  readonly #list = new BlockList();

  /** `cidrs` are valid (the config checked them with cidrProblem). */
  constructor(cidrs: readonly string[]) {
    for (const c of cidrs) {
      const [address, bits] = c.split('/');
      const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.#list.addAddress(address, type);
      else this.#list.addSubnet(address, Number(bits), type);
    }
  }

  has(ip: string | undefined): boolean {
    if (ip === undefined) return false;
    const family = isIP(ip);
    if (!family) return false;
    return this.#list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
  }
}

/** An IPv4 address as IPv4, also when a dual-stack socket reports it as ::ffff:a.b.c.d. */
export function normalizeIp(ip: string | undefined): string | undefined {
  if (ip === undefined) return undefined;
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/**
 * The client's address: the peer's, unless the peer is a trusted proxy; then
 * the right-most X-Forwarded-For entry that is not a trusted proxy (entries
 * left of it could be written by anyone). A malformed entry ends the walk
 * at the last address a trusted proxy vouched for.
 */
export function clientAddress(peer: string | undefined, headers: IncomingHttpHeaders, trusted: NetworkList | undefined): string | undefined {
  let ip = normalizeIp(peer);
  if (!trusted || !trusted.has(ip)) return ip;
  const raw = headers['x-forwarded-for'];
  if (raw === undefined) return ip;
  const hops = (Array.isArray(raw) ? raw.join(',') : raw).split(',');
  for (let i = hops.length - 1, n = 0; i >= 0 && n < MAX_HOPS; i--, n++) {
    const hop = normalizeIp(unbracket(hops[i].trim()));
    if (hop === undefined || !isIP(hop)) return ip;
    ip = hop;
    if (!trusted.has(hop)) return hop;
  }
  return ip;
}

/** `[2001:db8::1]` or `[2001:db8::1]:443` → the address; `1.2.3.4:5678` → 1.2.3.4. */
function unbracket(s: string): string {
  if (s.startsWith('[')) return s.slice(1, s.indexOf(']') === -1 ? undefined : s.indexOf(']'));
  const colon = s.indexOf(':');
  return colon !== -1 && colon === s.lastIndexOf(':') ? s.slice(0, colon) : s;
}
