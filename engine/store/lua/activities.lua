-- Record a batch of activities for one customer, atomically.
-- KEYS: the customer's attribute, activity and contact-history hashes (one hash tag).
-- ARGV[1]: retention seconds (0: keep), ARGV[2]: today's day number (UTC days since epoch),
-- ARGV[3]: window in days, ARGV[4]: n rows, ARGV[5]: now (epoch seconds), ARGV[6]: seconds an
-- activity id is remembered,
-- then per row 10 values: ts, day, visit(0/1), purchase(0/1), support(0/1), channel code, cents,
-- activity type, activity id ('' for none), fingerprint of the activity's body.
-- KEYS[4] (optional): experiment assignments; for every experiment the customer
-- was exposed to before an activity, the first activity of each type after exposure is flagged
-- and returned as {experiment, type, assignment record} triples (unit-level activity metrics).
-- KEYS[5] (optional): the activity ids seen, id -> "<seen at>|<fingerprint>". A row whose id
-- was seen within ARGV[6] seconds (or earlier in the batch) with the same body is a duplicate
-- and counts nothing; with another body the whole batch is refused and nothing is written.
-- Returns {'ok', duplicates, triples...} or {'conflict', the row's 1-based index}.
-- Day buckets "<day>:<metric>" make rolling windows exact whatever order timestamps arrive in.
local h = KEYS[2]
local now_day = tonumber(ARGV[2])
local floor_day = now_day - tonumber(ARGV[3]) + 1
local n = tonumber(ARGV[4])
local now = tonumber(ARGV[5])
local ids, ids_ttl = KEYS[5], tonumber(ARGV[6])
local width = 10
-- every id is checked before anything is written: a conflict anywhere leaves all untouched
local apply, fresh, fresh_prints, duplicates = {}, {}, {}, 0
local r = 7
for k = 1, n do
  local id, fp = ARGV[r + 8], ARGV[r + 9]
  apply[k] = true
  if ids and id ~= '' then
    local kept = fresh[id]
    if not kept then
      local stored = redis.call('HGET', ids, id)
      if stored then
        local at, stored_fp = string.match(stored, '^(%d+)|(.*)$')
        if at and tonumber(at) + ids_ttl > now then kept = stored_fp end
      end
    end
    if kept then
      if kept ~= fp then return {'conflict', k} end
      apply[k] = false
      duplicates = duplicates + 1
    else
      fresh[id] = fp
      fresh_prints[#fresh_prints + 1] = id
      fresh_prints[#fresh_prints + 1] = ARGV[5] .. '|' .. fp
    end
  end
  r = r + width
end
if n > 0 and duplicates == n then return {'ok', duplicates} end
local i = 7
local cur = redis.call('HMGET', h, 'la', 'lv', 'lp', 'fs')
local la = tonumber(cur[1] or '-1')
local lv = tonumber(cur[2] or '-1')
local lp = tonumber(cur[3] or '-1')
local fs = tonumber(cur[4] or '-1')
local lc = nil
for k = 1, n do
  local ts = tonumber(ARGV[i])
  local day = tonumber(ARGV[i + 1])
  local visit = ARGV[i + 2] == '1'
  local purchase = ARGV[i + 3] == '1'
  local support = ARGV[i + 4] == '1'
  local ch = ARGV[i + 5]
  local cents = tonumber(ARGV[i + 6])
  i = i + width
  if apply[k] then  -- a duplicate was applied when its id was first seen
    if day >= floor_day then
      local p = day .. ':'
      redis.call('HINCRBY', h, p .. ch, 1)
      if visit then redis.call('HINCRBY', h, p .. 'v', 1) end
      if purchase then
        redis.call('HINCRBY', h, p .. 'p', 1)
        if cents > 0 then redis.call('HINCRBY', h, p .. 'r', cents) end
      end
      if support then redis.call('HINCRBY', h, p .. 's', 1) end
    end
    if ts >= la then la = ts; lc = ch end
    if visit and ts > lv then lv = ts end
    if purchase then
      if ts > lp then lp = ts end
      redis.call('HINCRBY', h, 'tp', 1)
      if cents > 0 then redis.call('HINCRBY', h, 'tr', cents) end
    end
    if fs < 0 or ts < fs then fs = ts end
  end
end
redis.call('HSET', h, 'la', la, 'fs', fs)
if lc then redis.call('HSET', h, 'lc', lc) end
if lv >= 0 then redis.call('HSET', h, 'lv', lv) end
if lp >= 0 then redis.call('HSET', h, 'lp', lp) end
-- Drop buckets that left the longest window, at most once a day per customer.
local pd = tonumber(redis.call('HGET', h, 'pd') or '-1')
if pd < now_day then
  local fields = redis.call('HKEYS', h)
  for _, f in ipairs(fields) do
    local d = string.match(f, '^(%d+):')
    if d and tonumber(d) < floor_day then redis.call('HDEL', h, f) end
  end
  if ids then  -- ids past their time too, so the hash holds at most a day more than that
    local seen = redis.call('HGETALL', ids)
    for a = 1, #seen, 2 do
      local at = tonumber(string.match(seen[a + 1], '^(%d+)|') or '0')
      if at + ids_ttl <= now then redis.call('HDEL', ids, seen[a]) end
    end
  end
  redis.call('HSET', h, 'pd', now_day)
end
local ttl = tonumber(ARGV[1])
if ttl > 0 then
  for k = 1, math.min(#KEYS, 4) do redis.call('EXPIRE', KEYS[k], ttl) end
end
if #fresh_prints > 0 then
  redis.call('HSET', ids, unpack(fresh_prints))
  redis.call('EXPIRE', ids, ids_ttl)  -- every id in it was seen by now: all expire by then
end
local flagged = {'ok', duplicates}
local ax = KEYS[4]
if ax then
  local assigned = redis.call('HGETALL', ax)
  for a = 1, #assigned, 2 do
    local experiment, record = assigned[a], assigned[a + 1]
    if not string.find(experiment, '|', 1, true) then
      local exposed_at = math.floor(tonumber(cjson.decode(record)['at']) or 0)
      r = 7
      for k = 1, n do
        local ts, kind = tonumber(ARGV[r]), ARGV[r + 7]
        if apply[k] and kind ~= '' and ts >= exposed_at then
          if redis.call('HSETNX', ax, experiment .. '|a:' .. kind, 1) == 1 then
            flagged[#flagged + 1] = experiment
            flagged[#flagged + 1] = kind
            flagged[#flagged + 1] = record
          end
        end
        r = r + width
      end
    end
  end
end
return flagged
