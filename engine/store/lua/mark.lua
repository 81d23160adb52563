-- Set fields of a decision record only while the record exists: a late write (a sweep or an
-- event recorded after the record expired or was erased) must not create a record without an
-- expiry. KEYS[1]: the decision record; ARGV: field/value pairs.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
