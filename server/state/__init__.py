"""Contest state in Redis: keys, records, the Lua that changes them atomically, pictures."""
