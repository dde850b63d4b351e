"""The Redis backend's Lua scripts: every write (and every read that slides a TTL) is one
script, so checks and writes are atomic across workers and instances (PROTOCOL.md 5.2.1:
an idempotent producer's validation and its append in one step).

Keys, under ``streamer:ds:{ds}:`` (one hash tag: a fork's script touches its source's keys,
so every durable key lives on one Redis Cluster slot):

- ``m:<path>`` — the metadata hash: ``ct`` (content type), ``nct`` (it normalized), ``tail``,
  ``closed``, ``owner`` (the creator's key id), ``ttl``, ``exp_at``/``exp_ts`` (the expiry
  as sent / as a Unix time), ``soft`` (soft-deleted), ``from``/``fork_at``/``fork_sub`` (a
  fork's source), ``forks`` (live forks of this stream), ``sseq`` (the last ``Stream-Seq``),
  ``cby`` (the producer tuple that closed it), ``touched`` (ms, Redis's clock: the sliding
  TTL's start).
- ``d:<path>`` — a list of messages, each the 33-byte offset where it ends then its bytes;
  offsets grow, so "after offset X" is a binary search.
- ``p:<path>`` — producer id -> ``epoch:seq``.

Expiry is checked on every access (the protocol's clock); the keys also get a Redis expiry a
minute past it, so a stream nobody touches again is still removed, except while it has forks
(a soft-deleted source keeps its data for them). Every change ``PUBLISH``es the path on
``streamer:ds:changed``, which wakes waiting readers in every process.
"""

from __future__ import annotations

PREFIX = "streamer:ds:{ds}:"
CHANNEL = "streamer:ds:changed"
OFFSET_LEN = 33

_PRELUDE = """
local P = '@PREFIX@'
local CH = '@CHANNEL@'
local OL = @OFFSET_LEN@
local FRAME = 5
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function keys(path) return P .. 'm:' .. path, P .. 'd:' .. path, P .. 'p:' .. path end
local function field(m, name)
  local v = redis.call('HGET', m, name)
  if v then return v end
  return ''
end
local function set_expiry(path)
  local m, d, p = keys(path)
  if (tonumber(field(m, 'forks')) or 0) > 0 then
    redis.call('PERSIST', m); redis.call('PERSIST', d); redis.call('PERSIST', p)
    return
  end
  local ttl, exp_ts = field(m, 'ttl'), field(m, 'exp_ts')
  local at = nil
  if ttl ~= '' then at = tonumber(field(m, 'touched')) + tonumber(ttl) * 1000 end
  if exp_ts ~= '' then
    local e = math.floor(tonumber(exp_ts) * 1000)
    if at == nil or e < at then at = e end
  end
  if at ~= nil then
    at = at + 60000
    redis.call('PEXPIREAT', m, at); redis.call('PEXPIREAT', d, at); redis.call('PEXPIREAT', p, at)
  end
end
local function remove(path)
  while path do
    local m, d, p = keys(path)
    local parent = redis.call('HGET', m, 'from')
    redis.call('DEL', m, d, p)
    redis.call('PUBLISH', CH, path)
    if not parent then return end
    local pm = P .. 'm:' .. parent
    if redis.call('EXISTS', pm) == 0 then return end
    local n = redis.call('HINCRBY', pm, 'forks', -1)
    if n < 0 then redis.call('HSET', pm, 'forks', 0); n = 0 end
    if n > 0 then return end
    if field(pm, 'soft') ~= '1' then set_expiry(parent); return end
    path = parent
  end
end
local function expired(m, now)
  local exp_ts, ttl = field(m, 'exp_ts'), field(m, 'ttl')
  if exp_ts ~= '' and now >= tonumber(exp_ts) * 1000 then return true end
  if ttl ~= '' and now >= tonumber(field(m, 'touched')) + tonumber(ttl) * 1000 then return true end
  return false
end
-- 'missing', 'soft' or 'ok'; an expired stream is removed, or soft-deleted if forked.
local function state(path, now)
  local m = P .. 'm:' .. path
  if redis.call('EXISTS', m) == 0 then return 'missing' end
  if field(m, 'soft') == '1' then return 'soft' end
  if expired(m, now) then
    if (tonumber(field(m, 'forks')) or 0) > 0 then
      redis.call('HSET', m, 'soft', '1'); redis.call('PUBLISH', CH, path)
      return 'soft'
    end
    remove(path)
    return 'missing'
  end
  return 'ok'
end
local META = {'ct', 'tail', 'closed', 'ttl', 'exp_at', 'exp_ts', 'soft', 'from', 'fork_at',
  'fork_sub', 'owner'}
local function meta(path)
  local m = P .. 'm:' .. path
  local out = {}
  for i, name in ipairs(META) do out[i] = field(m, name) end
  return out
end
local function next_offset(tail, size)
  local seq, pos = string.match(tail, '^(%d+)_(%d+)$')
  return string.format('%016d_%016d', tonumber(seq), tonumber(pos) + FRAME + size)
end
local function write(path, data)
  local m, d = keys(path)
  local offset = next_offset(redis.call('HGET', m, 'tail'), #data)
  redis.call('RPUSH', d, offset .. data)
  redis.call('HSET', m, 'tail', offset)
  return offset
end
"""
_PRELUDE = (
    _PRELUDE.replace("@PREFIX@", PREFIX)
    .replace("@CHANNEL@", CHANNEL)
    .replace("@OFFSET_LEN@", str(OFFSET_LEN))
)

# ARGV: path, ct, nct, ttl, exp_at, exp_ts, closed, from, fork_at, fork_sub, prefix, data, owner
# -> {'created'|'exists', meta...} or {error kind}
CREATE = (
    _PRELUDE
    + """
local path = ARGV[1]
local now = now_ms()
local st = state(path, now)
if st == 'soft' then return {'conflict_soft'} end
if st == 'ok' then
  local out = meta(path); table.insert(out, 1, 'exists'); return out
end
local ct, nct, ttl, exp_at, exp_ts = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local from, at = ARGV[8], ARGV[9]
if from ~= '' then
  local s = state(from, now)
  if s == 'missing' then return {'source_missing'} end
  if s == 'soft' then return {'source_gone'} end
  local sm = P .. 'm:' .. from
  if nct ~= '' and nct ~= field(sm, 'nct') then return {'type_mismatch'} end
  local stail = field(sm, 'tail')
  if at == '' then at = stail end
  if at > stail then return {'bad_offset'} end
  ct, nct = field(sm, 'ct'), field(sm, 'nct')
  if ttl == '' and exp_at == '' then
    ttl, exp_at, exp_ts = field(sm, 'ttl'), field(sm, 'exp_at'), field(sm, 'exp_ts')
  end
  redis.call('HINCRBY', sm, 'forks', 1)
  set_expiry(from)
else
  at = '0000000000000000_0000000000000000'
end
local m = P .. 'm:' .. path
redis.call('HSET', m, 'ct', ct, 'nct', nct, 'tail', at, 'touched', now, 'forks', 0)
if ttl ~= '' then redis.call('HSET', m, 'ttl', ttl) end
if exp_at ~= '' then redis.call('HSET', m, 'exp_at', exp_at, 'exp_ts', exp_ts) end
if ARGV[7] == '1' then redis.call('HSET', m, 'closed', '1') end
if ARGV[13] ~= '' then redis.call('HSET', m, 'owner', ARGV[13]) end
if from ~= '' then redis.call('HSET', m, 'from', from, 'fork_at', at, 'fork_sub', ARGV[10]) end
if ARGV[11] ~= '' then write(path, ARGV[11]) end
if ARGV[12] ~= '' then write(path, ARGV[12]) end
set_expiry(path)
redis.call('PUBLISH', CH, path)
local out = meta(path); table.insert(out, 1, 'created'); return out
"""
)

# ARGV: path, data, nct ('' none), has_seq, seq, has_producer, pid, epoch, pseq, close
# -> {status, tail, closed, last_seq, epoch, expected, received}
APPEND = (
    _PRELUDE
    + """
local path, data, nct = ARGV[1], ARGV[2], ARGV[3]
local has_p, pid, epoch, pseq = ARGV[6] == '1', ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9])
local close = ARGV[10] == '1'
local now = now_ms()
local st = state(path, now)
if st == 'missing' then return {'not_found', '', '', '', '', '', ''} end
if st == 'soft' then return {'gone', '', '', '', '', '', ''} end
local m, d, p = keys(path)
redis.call('HSET', m, 'touched', now)
set_expiry(path)
local tail = field(m, 'tail')
local tuple = ''
if has_p then tuple = pid .. '\\n' .. ARGV[8] .. '\\n' .. ARGV[9] end
if field(m, 'closed') == '1' then
  if has_p and field(m, 'cby') == tuple then
    return {'duplicate', tail, '1', ARGV[9], '', '', ''}
  end
  if data == '' and not has_p then return {'ok', tail, '1', '', '', '', ''} end
  return {'closed', tail, '1', '', '', '', ''}
end
if data ~= '' and nct ~= '' and nct ~= field(m, 'nct') then
  return {'type_mismatch', tail, '', '', '', '', ''}
end
if has_p then
  local s = redis.call('HGET', p, pid)
  if not s then
    if pseq ~= 0 then return {'seq_gap', tail, '', '', '', '0', ARGV[9]} end
  else
    local se, sq = string.match(s, '^(%d+):(%d+)$')
    se, sq = tonumber(se), tonumber(sq)
    if epoch < se then return {'stale_epoch', tail, '', '', tostring(se), '', ''} end
    if epoch > se then
      if pseq ~= 0 then return {'bad_epoch_seq', tail, '', '', '', '', ''} end
    elseif pseq <= sq then
      return {'duplicate', tail, '', tostring(sq), '', '', ''}
    elseif pseq ~= sq + 1 then
      return {'seq_gap', tail, '', '', '', tostring(sq + 1), ARGV[9]}
    end
  end
end
if ARGV[4] == '1' then
  local last = redis.call('HGET', m, 'sseq')
  if last and ARGV[5] <= last then return {'seq_conflict', tail, '', '', '', '', ''} end
end
if data ~= '' then tail = write(path, data) end
if has_p then redis.call('HSET', p, pid, ARGV[8] .. ':' .. ARGV[9]); set_expiry(path) end
if ARGV[4] == '1' then redis.call('HSET', m, 'sseq', ARGV[5]) end
local closed = ''
if close then
  redis.call('HSET', m, 'closed', '1')
  if has_p then redis.call('HSET', m, 'cby', tuple) end
  closed = '1'
end
redis.call('PUBLISH', CH, path)
return {'ok', tail, closed, ARGV[9], '', '', ''}
"""
)

# ARGV: path, offset, cap ('' none), max_bytes, touch ('1': a client's read), soft_ok
# -> {status, meta..., offset1, data1, ...}: the stream's own messages after offset
READ = (
    _PRELUDE
    + """
local path, offset, cap = ARGV[1], ARGV[2], ARGV[3]
local max_bytes = tonumber(ARGV[4])
local now = now_ms()
local st = state(path, now)
if st == 'missing' or (st == 'soft' and ARGV[6] ~= '1') then return {st} end
local m, d = keys(path)
if ARGV[5] == '1' and st == 'ok' then
  redis.call('HSET', m, 'touched', now)
  set_expiry(path)
end
local out = meta(path)
table.insert(out, 1, st)
if max_bytes <= 0 then return out end
local lo, hi = 0, redis.call('LLEN', d)
while lo < hi do
  local mid = math.floor((lo + hi) / 2)
  if string.sub(redis.call('LINDEX', d, mid), 1, OL) <= offset then lo = mid + 1 else hi = mid end
end
local total = 0
while true do
  local batch = redis.call('LRANGE', d, lo, lo + 63)
  if #batch == 0 then return out end
  for _, item in ipairs(batch) do
    local at = string.sub(item, 1, OL)
    if cap ~= '' and at > cap then return out end
    table.insert(out, at)
    table.insert(out, string.sub(item, OL + 1))
    total = total + #item - OL
    if total >= max_bytes then return out end
  end
  lo = lo + #batch
end
"""
)

# ARGV: path -> 'not_found' | 'gone' | 'deleted'
DELETE = (
    _PRELUDE
    + """
local path = ARGV[1]
local st = state(path, now_ms())
if st == 'missing' then return 'not_found' end
if st == 'soft' then return 'gone' end
local m = P .. 'm:' .. path
if (tonumber(field(m, 'forks')) or 0) > 0 then
  redis.call('HSET', m, 'soft', '1')
  redis.call('PUBLISH', CH, path)
else
  remove(path)
end
return 'deleted'
"""
)
