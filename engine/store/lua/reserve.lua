-- Check contact policy and count the contact for several offers, atomically, for one customer;
-- for a decision, also write its record and idempotency key in the same atomic step.
-- KEYS[1..3]: the customer's attribute, activity and contact-history hashes (one hash tag);
-- KEYS[4], KEYS[5] (decisions only): the decision hash and the experiment-assignment hash;
-- KEYS[6] (optional): the request's idempotency key.
-- ARGV[1]: retention seconds (0: keep), ARGV[2]: now (epoch seconds), ARGV[3]: day number,
-- ARGV[4]: channel code, ARGV[5]: all-or-nothing (0/1), ARGV[6]: n offers,
-- then per offer 6 values: id, per_day, per_week, lifetime, cooldown seconds, suppress after
-- conversion (0/1); -1 means no limit.
-- Decisions add: decision ttl, idempotency ttl, the answer to keep under KEYS[6] (the request
-- body's fingerprint, then the response JSON; see engine.idempotency), that fingerprint alone,
-- n fields, then field/value pairs,
-- then an experiment id and its assignment record ('' when none; kept from first exposure).
-- Returns {status, reasons...}: status 'ok' (also when this decision was committed already),
-- 'refused' (all-or-nothing, nothing written), 'replay' with the stored answer (fingerprint
-- then response) when the idempotency key already exists for the same body, or 'conflict'
-- (nothing written) when it exists for another body.
-- Serves per day live in 7 slots "<id>|w<day mod 7>" = "<day>:<count>": bounded memory, no pruning.
local h = KEYS[3]
local decision = KEYS[4]
local assignments = KEYS[5]
local idem = KEYS[6]
if idem then
  local stored = redis.call('GET', idem)
  if stored then
    -- an answer kept before fingerprints were (it starts with '{') replays as it always did
    local fp = ARGV[10 + 6 * tonumber(ARGV[6])]  -- after the offers and three decision values
    if string.sub(stored, 1, 1) ~= '{' and string.sub(stored, 1, #fp) ~= fp then
      return {'conflict'}
    end
    return {'replay', stored}
  end
end
-- a decision's token is new for each decision: its record exists only if this very commit ran
-- already (the client resent it after a timeout), which must not count the contact twice
if decision and redis.call('EXISTS', decision) == 1 then return {'ok'} end
local now = tonumber(ARGV[2])
local day = tonumber(ARGV[3])
local ch = ARGV[4]
local all_or_nothing = ARGV[5] == '1'
local n = tonumber(ARGV[6])
local reasons = {}
local updates = {}
local refused = false
local i = 7
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
    updates[#updates + 1] = {o, today}
  else
    refused = true
  end
  reasons[k] = reason
end
if all_or_nothing and refused then
  table.insert(reasons, 1, 'refused')
  return reasons
end
for _, u in ipairs(updates) do
  redis.call('HSET', h, u[1] .. 'w' .. (day % 7), day .. ':' .. (u[2] + 1), u[1] .. 's' .. ch, now)
  redis.call('HINCRBY', h, u[1] .. 'n', 1)
end
if decision then
  local decision_ttl = tonumber(ARGV[i])
  local idem_ttl = tonumber(ARGV[i + 1])
  local response = ARGV[i + 2]
  local nf = tonumber(ARGV[i + 4])
  local j = i + 5
  if nf > 0 then redis.call('HSET', decision, unpack(ARGV, j, j + 2 * nf - 1)) end
  j = j + 2 * nf
  redis.call('EXPIRE', decision, decision_ttl)
  local experiment = ARGV[j]
  if experiment and experiment ~= '' then
    redis.call('HSET', assignments, experiment, ARGV[j + 1])
  end
  if idem then redis.call('SET', idem, response, 'EX', idem_ttl) end
end
local ttl = tonumber(ARGV[1])
if ttl > 0 and (#updates > 0 or decision) then
  for k = 1, 3 do redis.call('EXPIRE', KEYS[k], ttl) end
  if assignments then redis.call('EXPIRE', assignments, ttl) end
end
table.insert(reasons, 1, 'ok')
return reasons
