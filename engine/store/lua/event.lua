-- Join one feedback event to its decision, exactly once, and update contact history.
-- KEYS[1..3]: the customer's attribute, activity and contact-history hashes; KEYS[4]: decision;
-- KEYS[5]: the customer's experiment assignments (unit-level metric state per experiment).
-- ARGV[1]: retention seconds, ARGV[2]: event id, ARGV[3]: offer id, ARGV[4]: kind
-- (i impression, k click, c conversion, x dismiss), ARGV[5]: value, ARGV[6]: event time,
-- ARGV[7]: now, ARGV[8]: seconds after which an unrecorded join may be taken over (below),
-- ARGV[9]: reward definition (k click, c conversion, v conversion value), ARGV[10]: the
-- request's nonce (its own join resent by the store client after a timeout is not another
-- request's), ARGV[11]: the event body's fingerprint (engine.idempotency).
-- Returns {status, reward, x, scope, spec version, decision time, policy, channel, experiment,
-- variant, assignment record, first conversion, first click, revenue before, rejoined};
-- status is 'unknown', 'conflict' (the event id was seen with another body: nothing written),
-- 'duplicate', 'not_served', 'late' or 'accepted'; reward is '' unless this
-- event is the first reward of that offer in that decision (then the caller sends it to the
-- learner).
-- The caller records the event in a second step that sets 'w:<event id>' (recorded). An event
-- joined before but never recorded (the store failed between the two steps) is not a
-- duplicate: its join outcome, kept in 'e:<event id>', is returned again with rejoined = '1'
-- and nothing is counted twice, so the caller can record it now. Within ARGV[8] seconds of the
-- join another request may still be recording it: 'in_progress' (send it again later).
local d = KEYS[4]
local event_id, offer, kind = ARGV[2], ARGV[3], ARGV[4]
local fp = ARGV[11] or ''
if redis.call('EXISTS', d) == 0 then return {'unknown'} end
local served = redis.call('HGET', d, 'o:' .. offer)
local sep = '\31'
local info = redis.call('HMGET', d, 'ts', 'x', 'sc', 'sv', 'pol', 'win', 'ch', 'exp', 'var')
local experiment = info[8]
local ax = nil
if experiment and experiment ~= '' and KEYS[5] then ax = KEYS[5] end
local function answer(status, reward, record, first_conversion, first_click, revenue_before,
    rejoined)
  return {status, reward, info[2] or '', info[3] or '', info[4] or '', info[1] or '',
    info[5] or '', info[7] or '', info[8] or '', info[9] or '', record, first_conversion,
    first_click, revenue_before, rejoined}
end
-- the event id first, as an idempotency key: a retry is answered as the first delivery was,
-- another body under the same id is refused (a join kept before fingerprints were has none)
local seen = redis.call('HGET', d, 'e:' .. event_id)
if seen then
  local kept = {}
  for part in string.gmatch(seen .. sep, '([^' .. sep .. ']*)' .. sep) do kept[#kept + 1] = part end
  if (kept[9] or '') ~= '' and kept[9] ~= fp then return {'conflict'} end
  if not served then return {'not_served'} end
  if redis.call('HEXISTS', d, 'w:' .. event_id) == 1 then return {'duplicate'} end
  if kept[8] ~= ARGV[10] and tonumber(ARGV[7]) < tonumber(kept[7] or '0') + tonumber(ARGV[8]) then
    return {'in_progress'}
  end
  local record = ''
  if ax then record = redis.call('HGET', ax, experiment) or '' end
  return answer(kept[2], kept[3], record, kept[4], kept[5], kept[6], '1')
end
if not served then return {'not_served'} end
local decided_at = tonumber(info[1])
local event_time = tonumber(ARGV[6])
local late = event_time > decided_at + tonumber(info[6] or '0')
local h = KEYS[3]
local o = offer .. '|'
redis.call('HINCRBY', h, o .. kind, 1)
if kind == 'x' then redis.call('HSET', h, o .. 'xt', ARGV[7]) end
redis.call('HINCRBY', d, 'n:' .. kind .. ':' .. offer, 1)
local reward = ''
if late then
  redis.call('HINCRBY', d, 'late', 1)
else
  local definition = ARGV[9]
  local value = nil
  if definition == 'k' and (kind == 'k' or kind == 'c') then value = '1' end
  if definition == 'c' and kind == 'c' then value = '1' end
  if definition == 'v' and kind == 'c' then value = ARGV[5] end
  if value and redis.call('HSETNX', d, 'r:' .. offer, value) == 1 then reward = value end
end
-- unit-level experiment state: first conversion, first click, revenue so far
local record, first_conversion, first_click, revenue_before = '', '0', '0', '0'
if ax then
  record = redis.call('HGET', ax, experiment) or ''
  if record ~= '' then
    if kind == 'c' then
      first_conversion = tostring(redis.call('HSETNX', ax, experiment .. '|c', 1))
      revenue_before = redis.call('HGET', ax, experiment .. '|r') or '0'
      redis.call('HINCRBYFLOAT', ax, experiment .. '|r', ARGV[5])
    elseif kind == 'k' then
      first_click = tostring(redis.call('HSETNX', ax, experiment .. '|k', 1))
    end
  end
end
local ttl = tonumber(ARGV[1])
if ttl > 0 then
  for k = 1, 3 do redis.call('EXPIRE', KEYS[k], ttl) end
end
local status = 'accepted'
if late then status = 'late' end
-- the join's outcome, for a later delivery should this event's recording fail
redis.call('HSET', d, 'e:' .. event_id,
  table.concat({kind, status, reward, first_conversion, first_click, revenue_before, ARGV[7],
    ARGV[10], fp}, sep))
return answer(status, reward, record, first_conversion, first_click, revenue_before, '0')
