-- Check contact policy and count the contact for several offers, atomically, for one customer.
-- KEYS: the customer's attribute, activity and contact-history hashes (one hash tag).
-- ARGV[1]: retention seconds (0: keep), ARGV[2]: now (epoch seconds), ARGV[3]: day number,
-- ARGV[4]: channel code, ARGV[5]: n offers,
-- then per offer 6 values: id, per_day, per_week, lifetime, cooldown seconds, suppress after
-- conversion (0/1); -1 means no limit. Returns one reason per offer, '' when granted.
-- Serves per day live in 7 slots "<id>|w<day mod 7>" = "<day>:<count>": bounded memory, no pruning.
local h = KEYS[3]
local now = tonumber(ARGV[2])
local day = tonumber(ARGV[3])
local ch = ARGV[4]
local n = tonumber(ARGV[5])
local out = {}
local i = 6
local granted = false
for k = 1, n do
  local id = ARGV[i]
  local per_day = tonumber(ARGV[i + 1])
  local per_week = tonumber(ARGV[i + 2])
  local lifetime = tonumber(ARGV[i + 3])
  local cooldown = tonumber(ARGV[i + 4])
  local suppress = ARGV[i + 5] == '1'
  i = i + 6
  local o = id .. '|'
  local v = redis.call('HMGET', h, o .. 'w0', o .. 'w1', o .. 'w2', o .. 'w3', o .. 'w4', o .. 'w5',
    o .. 'w6', o .. 'n', o .. 'xt', o .. 'c')
  local today, week = 0, 0
  for s = 1, 7 do
    if v[s] then
      local sd, c = string.match(v[s], '^(%d+):(%d+)$')
      sd = tonumber(sd)
      c = tonumber(c)
      if sd > day - 7 and sd <= day then
        week = week + c
        if sd == day then today = c end
      end
    end
  end
  local served = tonumber(v[8] or '0')
  local dismissed_at = tonumber(v[9] or '-1')
  local conversions = tonumber(v[10] or '0')
  local reason = ''
  if suppress and conversions > 0 then
    reason = 'already_converted'
  elseif cooldown >= 0 and dismissed_at >= 0 and now - dismissed_at < cooldown then
    reason = 'cooling_down'
  elseif lifetime >= 0 and served >= lifetime then
    reason = 'lifetime_cap_reached'
  elseif per_week >= 0 and week >= per_week then
    reason = 'weekly_cap_reached'
  elseif per_day >= 0 and today >= per_day then
    reason = 'daily_cap_reached'
  end
  if reason == '' then
    redis.call('HSET', h, o .. 'w' .. (day % 7), day .. ':' .. (today + 1), o .. 's' .. ch, now)
    redis.call('HINCRBY', h, o .. 'n', 1)
    granted = true
  end
  out[k] = reason
end
local ttl = tonumber(ARGV[1])
if granted and ttl > 0 then
  for _, key in ipairs(KEYS) do redis.call('EXPIRE', key, ttl) end
end
return out
