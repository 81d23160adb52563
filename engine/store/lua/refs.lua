-- Remember the customer's items outside its slot (log and reward stream entries, attribution
-- queue members), so erasure visits exactly those; drop references to items already gone.
-- KEYS[1]: the customer's reference index (members ordered lexicographically, score 0).
-- ARGV[1]: seconds the index outlives its latest addition (0: no expiry), the customer's
-- retention, so a customer who never comes back leaves no index behind; ARGV[2]: n ranges,
-- then n (from, below) pairs whose references are stale (entries before a stream's first one,
-- queue members long due), then the references to add.
local ttl = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local i = 3
for _ = 1, n do
  redis.call('ZREMRANGEBYLEX', KEYS[1], '[' .. ARGV[i], '(' .. ARGV[i + 1])
  i = i + 2
end
local added = 0
for j = i, #ARGV do
  added = added + redis.call('ZADD', KEYS[1], 0, ARGV[j])
end
if ttl > 0 and redis.call('EXISTS', KEYS[1]) == 1 then redis.call('EXPIRE', KEYS[1], ttl) end
return added
