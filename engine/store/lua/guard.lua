-- The frame of every script that writes a customer's keys (the store wraps each one in it).
-- The store appends two KEYS: the customer's erasure tombstone and its index of named keys.
-- While the tombstone exists (an erasure ran) the script does nothing and returns {'erased'},
-- so a write racing an erasure cannot bring anything of the customer back. Otherwise, once the
-- script has run, every key it was given that has a name of its own (a decision record
-- '{c:<id>}:d:<token>', a request replay '{c:<id>}:q:<request id>') is indexed with its expiry,
-- so erasure finds it without scanning the keyspace; expired entries leave the index here.
local index = table.remove(KEYS)
local tombstone = table.remove(KEYS)
if redis.call('EXISTS', tombstone) == 1 then return {'erased'} end
local function body()
--BODY--
end
local result = body()
local now_ms = nil
for _, key in ipairs(KEYS) do
  local suffix = string.match(key, '^{c:[^}]*}:([dq]:.+)$')
  if suffix then
    local ttl = redis.call('PTTL', key)
    if ttl ~= -2 then
      if not now_ms then
        local t = redis.call('TIME')
        now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. now_ms)
      end
      local had = redis.call('PEXPIRETIME', index)
      if ttl == -1 then
        redis.call('ZADD', index, '+inf', suffix)
        redis.call('PERSIST', index)
      else
        local expiry = now_ms + ttl
        redis.call('ZADD', index, expiry, suffix)
        if had == -2 or (had >= 0 and had < expiry) then
          redis.call('PEXPIREAT', index, expiry)
        end
      end
    end
  end
end
return result
