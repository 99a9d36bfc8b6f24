// The Lua side of the Redis store: the same arithmetic as window.ts,
// circuit.ts and memory-store.ts, run atomically in Redis so every replica
// sees one state. Each decision is one script, one round trip.

/**
 * Bucketed running windows, as in window.ts. A window is a hash: bucket index
 * → amount, and two fields of its own: TOTAL, what the live buckets hold,
 * and LOW, the oldest bucket held. Reading a window is then one HMGET; the
 * pass over every bucket happens only when the oldest has expired (at most
 * once a bucket's width, 0.5 s of a minute) or when a request does not fit.
 * The two fields are named as buckets long expired, so a gateway of an
 * earlier version sharing the Redis drops them on its next pass over the
 * window, and the window is read by the pass again until they are back.
 */
const WINDOW = `
local BUCKETS = 120
local TOTAL, LOW = '-1', '-2'
local function num(s) return string.format('%.17g', s) end
local function wexpiry(b, w) return (b + 1) * (w / BUCKETS) + w end
-- the pass: drops expired buckets, sets TOTAL and LOW again; what is held, and the live buckets
local function wscan(key, w, now)
  local all = redis.call('HGETALL', key)
  local live, dead, used, low = {}, {}, 0, nil
  for i = 1, #all, 2 do
    local b, v = tonumber(all[i]), tonumber(all[i + 1])
    if b and b >= 0 then
      if wexpiry(b, w) > now then
        used = used + v
        if v > 0 then live[#live + 1] = { b, v } end
        if low == nil or b < low then low = b end
      else
        dead[#dead + 1] = all[i]
      end
    end
  end
  if #dead > 0 then redis.call('HDEL', key, unpack(dead)) end
  if low == nil then redis.call('HDEL', key, TOTAL, LOW)
  else redis.call('HSET', key, TOTAL, num(used), LOW, string.format('%d', low)) end
  return used, live
end
local function wused(key, w, now)
  local v = redis.call('HMGET', key, TOTAL, LOW)
  local low = tonumber(v[2])
  if low == nil or wexpiry(low, w) <= now then return (wscan(key, w, now)) end
  return tonumber(v[1])
end
-- ms until \`amount\` fits (0: now), and what the window holds
local function wwait(key, cap, w, amount, now)
  local used = wused(key, w, now)
  if used + amount <= cap then return 0, used end
  local _, live = wscan(key, w, now)
  table.sort(live, function(x, y) return x[1] < y[1] end)
  local freed = 0
  for _, e in ipairs(live) do
    freed = freed + e[2]
    if used - freed + amount <= cap then return wexpiry(e[1], w) - now, used end
  end
  return w, used
end
-- TOTAL follows every change while it is there; when it is not, the next read makes it
local function wtotal(key, b, delta)
  local v = redis.call('HMGET', key, TOTAL, LOW)
  if v[2] then
    redis.call('HINCRBYFLOAT', key, TOTAL, delta)
    if b < tonumber(v[2]) then redis.call('HSET', key, LOW, string.format('%d', b)) end
  end
end
local function wadd(key, w, amount, at)
  local b = math.floor(at / (w / BUCKETS))
  redis.call('HINCRBYFLOAT', key, string.format('%d', b), amount)
  wtotal(key, b, amount)
  redis.call('PEXPIRE', key, math.ceil(w * 2 + 1000))
end
local function wadjust(key, w, delta, at)
  local b = math.floor(at / (w / BUCKETS))
  local f = string.format('%d', b)
  local v = tonumber(redis.call('HGET', key, f))
  if v then
    local next = math.max(0, v + delta)
    redis.call('HSET', key, f, num(next))
    wtotal(key, b, next - v)
  end
end
`;

/** A target: its hash (cooldown, drain, circuit) and its windows; the view of targets(). */
const TARGET = `
-- circuit states: 0 closed, 1 open, 2 half-open
local function circuit(h, now)
  local v = redis.call('HMGET', h, 'cs', 'ou', 'tu')
  local cs, ou, tu = tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0
  if cs == 1 and now >= ou then
    cs, tu = 2, 0
    redis.call('HSET', h, 'cs', 2, 'tu', 0)
  end
  return cs, ou, tu
end
-- keys: hash, tokens, requests, evenly; caps: tokCap, tokWin, reqCap, reqWin, evenCap, evenWin (0: none)
local function view(h, ktok, kreq, keven, c, cost, now)
  local tokCap, tokWin, reqCap, reqWin, evenCap, evenWin = c[1], c[2], c[3], c[4], c[5], c[6]
  local headroom, wait = -1, 0
  if tokWin > 0 then
    local w, used = wwait(ktok, tokCap, tokWin, cost, now)
    headroom, wait = math.max(0, tokCap - used), w
  end
  local hv = redis.call('HMGET', h, 'cd', 'dr')
  if hv[2] == '1' then return 'inf', 'drained', headroom end
  local at, cond = now, 'available'
  local cs, ou, tu = circuit(h, now)
  if cs == 1 and ou > at then at, cond = ou, 'circuit-open' end
  if cs == 2 and tu > now and tu > at then at, cond = tu, 'half-open' end
  local cd = tonumber(hv[1]) or 0
  if cd > at then at, cond = cd, 'cooling' end
  if reqWin > 0 then wait = math.max(wait, (wwait(kreq, reqCap, reqWin, 1, now))) end
  if evenWin > 0 then wait = math.max(wait, (wwait(keven, evenCap, evenWin, cost, now))) end
  if wait > 0 and now + wait > at then at, cond = now + wait, 'over-budget' end
  return num(at), cond, headroom
end
`;

/** KEYS: 4 per target; ARGV: now, cost, then 6 caps per target. Returns at, condition, headroom per target. */
export const TARGETS = `${WINDOW}${TARGET}
local now, cost = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
for i = 0, #KEYS / 4 - 1 do
  local c = {}
  for j = 1, 6 do c[j] = tonumber(ARGV[2 + i * 6 + j]) end
  local at, cond, headroom = view(KEYS[i * 4 + 1], KEYS[i * 4 + 2], KEYS[i * 4 + 3], KEYS[i * 4 + 4], c, cost, now)
  out[#out + 1] = at
  out[#out + 1] = cond
  out[#out + 1] = num(headroom)
end
return out
`;

/**
 * KEYS: 4 per target of the pool; ARGV: now, cost, index (0-based), trialLeaseMs, then 6 caps per target.
 * Reserves target \`index\` if it is available; returns reserved (0/1), then at, condition, headroom per target.
 */
export const RESERVE = `${WINDOW}${TARGET}
local now, cost, index, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local out, chosen = { 0 }, nil
for i = 0, #KEYS / 4 - 1 do
  local c = {}
  for j = 1, 6 do c[j] = tonumber(ARGV[4 + i * 6 + j]) end
  local at, cond, headroom = view(KEYS[i * 4 + 1], KEYS[i * 4 + 2], KEYS[i * 4 + 3], KEYS[i * 4 + 4], c, cost, now)
  out[#out + 1] = at
  out[#out + 1] = cond
  out[#out + 1] = num(headroom)
  if i == index and cond == 'available' then chosen = c end
end
if chosen then
  local k = index * 4
  if chosen[2] > 0 then wadd(KEYS[k + 2], chosen[2], cost, now) end
  if chosen[4] > 0 then wadd(KEYS[k + 3], chosen[4], 1, now) end
  if chosen[6] > 0 then wadd(KEYS[k + 4], chosen[6], cost, now) end
  if circuit(KEYS[k + 1], now) == 2 then redis.call('HSET', KEYS[k + 1], 'tu', now + lease) end
  out[1] = 1
end
return out
`;

/**
 * KEYS: hash, calls, failures. ARGV: now, outcome (success|failure|abandoned),
 * coolMs (or ''), retryAfterMs (or ''), threshold, percent (0/1),
 * minimumCalls, windowMs, tripMs, acceptRetryAfter (0/1).
 */
export const REPORT = `${WINDOW}${TARGET}
local now, outcome = tonumber(ARGV[1]), ARGV[2]
local h = KEYS[1]
if ARGV[3] ~= '' then
  local until_ = now + tonumber(ARGV[3])
  local cd = tonumber(redis.call('HGET', h, 'cd')) or 0
  if until_ > cd then redis.call('HSET', h, 'cd', until_) end
end
local threshold, percent, minimum, w, trip, accept = tonumber(ARGV[5]), ARGV[6] == '1', tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10] == '1'
local function open()
  local ms = trip
  if accept and ARGV[4] ~= '' then ms = tonumber(ARGV[4]) end
  redis.call('HSET', h, 'cs', 1, 'ou', now + ms, 'tu', 0)
  redis.call('DEL', KEYS[2], KEYS[3])
end
local cs = circuit(h, now)
if cs == 1 then return 0 end
if cs == 2 then
  redis.call('HSET', h, 'tu', 0)
  if outcome == 'failure' then open()
  elseif outcome == 'success' then
    redis.call('HSET', h, 'cs', 0)
    redis.call('DEL', KEYS[2], KEYS[3])
  end
  return 0
end
if outcome == 'abandoned' then return 0 end
wadd(KEYS[2], w, 1, now)
if outcome == 'success' then return 0 end
wadd(KEYS[3], w, 1, now)
local failures, calls = wused(KEYS[3], w, now), wused(KEYS[2], w, now)
local tripped
if percent then tripped = calls >= minimum and failures * 100 / calls >= threshold else tripped = failures >= threshold end
if tripped then open() end
return 0
`;

/**
 * KEYS: requests window, tokens window, leases, quota. ARGV: now, rpm,
 * tpm, concurrent (0: none), tokens, lease, leaseMs, quotaLimit (0: none).
 * Returns ok (0/1), reason, retryAfterMs, remainingRequests, remainingTokens, quotaUsed ('' when not limited).
 */
export const ADMIT = `${WINDOW}
local now, rpm, tpm, conc, tokens = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local lease, leaseMs, qlimit = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
local MIN = 60000
if tpm > 0 then tokens = math.min(tokens, tpm) end
-- One read of each window gives what it holds and when this request would fit.
local wr, wt, usedReq, usedTok, qused = 0, 0, 0, 0, nil
if rpm > 0 then wr, usedReq = wwait(KEYS[1], rpm, MIN, 1, now) end
if tpm > 0 then wt, usedTok = wwait(KEYS[2], tpm, MIN, tokens, now) end
if qlimit > 0 then qused = tonumber(redis.call('GET', KEYS[4])) or 0 end
local function s(v) if v == nil then return '' end return num(v) end
local remReq, remTok = nil, nil
if rpm > 0 then remReq = math.max(0, rpm - usedReq) end
if tpm > 0 then remTok = math.max(0, tpm - usedTok) end
local function refuse(reason, after) return { 0, reason, s(after), s(remReq), s(remTok), s(qused) } end
if qlimit > 0 and qused >= qlimit then return refuse('quota', nil) end
if conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if redis.call('ZCARD', KEYS[3]) >= conc then return refuse('concurrent', nil) end
end
if wr > 0 or wt > 0 then
  if wt > wr then return refuse('tokens', wt) end
  return refuse('requests', math.max(wr, wt))
end
if rpm > 0 then wadd(KEYS[1], MIN, 1, now); remReq = rpm - usedReq - 1 end
if tpm > 0 then wadd(KEYS[2], MIN, tokens, now); remTok = math.max(0, tpm - usedTok - tokens) end
if conc > 0 then
  redis.call('ZADD', KEYS[3], now + leaseMs, lease)
  redis.call('PEXPIRE', KEYS[3], leaseMs + 1000)
end
return { 1, '', '', s(remReq), s(remTok), s(qused) }
`;

/** KEYS: tokens window, leases, quota. ARGV: lease, admittedAt, estimate, actual, tpm (0: none), quota endsAt (0: none). */
export const SETTLE = `${WINDOW}
local lease, at, estimate, actual, tpm, ends = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('ZREM', KEYS[2], lease)
if tpm > 0 then wadjust(KEYS[1], 60000, math.min(actual, tpm) - math.min(estimate, tpm), at) end
if ends > 0 then
  redis.call('INCRBYFLOAT', KEYS[3], actual)
  redis.call('PEXPIREAT', KEYS[3], math.ceil(ends + 86400000))
end
return 0
`;
