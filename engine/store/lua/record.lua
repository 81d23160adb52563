-- Write the record of a decision made without the store (a fallback during an outage), once
-- the store is back: its events can then join it. It runs in the customer frame (guard.lua),
-- so an erased customer gets no record back and erasure finds the record in the index.
-- KEYS[1]: the decision record; ARGV[1]: its expiry (unix seconds); ARGV[2..]: field/value pairs.
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIREAT', KEYS[1], ARGV[1])
return 1
