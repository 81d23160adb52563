-- Count an outcome (impression i, click k, conversion c, dismiss x) of one offer for one customer.
-- KEYS: the customer's attribute, activity and contact-history hashes (one hash tag).
-- ARGV[1]: retention seconds (0: keep), ARGV[2]: offer id, ARGV[3]: kind, ARGV[4]: now.
local h = KEYS[3]
local o = ARGV[2] .. '|'
redis.call('HINCRBY', h, o .. ARGV[3], 1)
if ARGV[3] == 'x' then redis.call('HSET', h, o .. 'xt', ARGV[4]) end
local ttl = tonumber(ARGV[1])
if ttl > 0 then
  for _, key in ipairs(KEYS) do redis.call('EXPIRE', key, ttl) end
end
return 1
