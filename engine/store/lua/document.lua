-- Write or delete one catalog document only if its stored version is the one the writer read,
-- so two editors can never overwrite each other unseen (check and write are one atomic step).
-- KEYS[1]: the documents hash, KEYS[2]: their versions hash, KEYS[3]: the catalog version,
-- KEYS[4] (optional): ids that may not be created again.
-- ARGV[1]: id, ARGV[2]: expected version ('' any, '0' absent), ARGV[3]: 'put' or 'delete',
-- ARGV[4]: the document (put), or '1' to add the id to KEYS[4] (delete); ARGV[5] (optional):
-- the catalog version the writer judged against (an experiment starting: its overlap and layer
-- checks read every other experiment), '' for none.
-- Versions count on across a delete, so a re-created document never repeats a version (ETag);
-- a document stored before versions were kept counts as version 1.
-- Returns {status, version}: 'ok' with the new version (put) or the deleted one (delete),
-- 'stale' with the stored version (0: absent), 'missing' (delete of nothing), 'retired'.
local id = ARGV[1]
local exists = redis.call('HEXISTS', KEYS[1], id) == 1
local counted = redis.call('HGET', KEYS[2], id)
local version = 0
if exists then version = tonumber(counted or '1') end
local expected = ARGV[2]
if expected ~= '' and tonumber(expected) ~= version then return {'stale', version} end
if ARGV[5] and ARGV[5] ~= '' and tonumber(redis.call('GET', KEYS[3]) or '0') ~= tonumber(ARGV[5]) then
  return {'stale', version}
end
if ARGV[3] == 'delete' then
  if not exists then return {'missing', 0} end
  redis.call('HDEL', KEYS[1], id)
  if not counted then redis.call('HSET', KEYS[2], id, version) end
  if KEYS[4] and ARGV[4] == '1' then redis.call('SADD', KEYS[4], id) end
  redis.call('INCR', KEYS[3])
  return {'ok', version}
end
if not exists and KEYS[4] and redis.call('SISMEMBER', KEYS[4], id) == 1 then
  return {'retired', 0}
end
if exists and not counted then redis.call('HSET', KEYS[2], id, 1) end
local new = redis.call('HINCRBY', KEYS[2], id, 1)
redis.call('HSET', KEYS[1], id, ARGV[4])
redis.call('INCR', KEYS[3])
return {'ok', new}
