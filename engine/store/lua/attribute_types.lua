-- Fix the types of attributes that customer writes introduce, within the cap on undeclared ones.
-- KEYS[1]: attribute types in force, KEYS[2]: declarations, KEYS[3]: catalog version.
-- ARGV[1]: the most undeclared attributes allowed, then name/type pairs.
-- Every declared attribute has its type in KEYS[1], so HLEN difference counts the undeclared.
-- Returns {0, name} when name would pass the cap (nothing is written), else {1, type in force
-- of each name, in order}; an existing type is never changed (the first writer wins).
local limit = tonumber(ARGV[1])
local undeclared = redis.call('HLEN', KEYS[1]) - redis.call('HLEN', KEYS[2])
local fresh = {}
for i = 2, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then
    undeclared = undeclared + 1
    if undeclared > limit then return {0, ARGV[i]} end
    fresh[#fresh + 1] = i
  end
end
for _, i in ipairs(fresh) do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if #fresh > 0 then redis.call('INCR', KEYS[3]) end
local out = {1}
for i = 2, #ARGV, 2 do out[#out + 1] = redis.call('HGET', KEYS[1], ARGV[i]) end
return out
