"""The store adapter: every byte to or from Redis or Valkey passes through this package (keys,
Lua scripts, the Redis client, the embedded server)."""
