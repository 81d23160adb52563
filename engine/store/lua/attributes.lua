-- Upsert profile attributes and remember when the customer was first seen.
-- KEYS: the customer's attribute, activity and contact-history hashes (one hash tag).
-- ARGV[1]: retention seconds (0: keep), ARGV[2]: now (epoch seconds), ARGV[3]: n fields to set,
-- then n name/value pairs, then names to delete.
local now = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local i = 4
for _ = 1, n do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i <= #ARGV do
  redis.call('HDEL', KEYS[1], ARGV[i])
  i = i + 1
end
local fs = tonumber(redis.call('HGET', KEYS[2], 'fs') or '-1')
if fs < 0 or now < fs then redis.call('HSET', KEYS[2], 'fs', now) end
local ttl = tonumber(ARGV[1])
if ttl > 0 then
  for _, key in ipairs(KEYS) do redis.call('EXPIRE', key, ttl) end
end
return n
