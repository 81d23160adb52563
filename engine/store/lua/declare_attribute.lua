-- Declare an attribute: its type joins the types in force, or must equal the one already there.
-- KEYS[1]: attribute types in force, KEYS[2]: declarations, KEYS[3]: catalog version.
-- ARGV[1]: name, ARGV[2]: type, ARGV[3]: the declaration document.
-- Returns the type in force: ARGV[2] once declared, another type when refused (nothing written).
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held and held ~= ARGV[2] then return held end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('INCR', KEYS[3])
return ARGV[2]
