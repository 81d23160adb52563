-- Upsert profile attributes and remember when the customer was first seen.
-- KEYS[1]: attribute hash, KEYS[2]: activity hash.
-- ARGV[1]: now (epoch seconds), ARGV[2]: n fields to set, then n name/value pairs, then names to delete.
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local i = 3
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
return n
