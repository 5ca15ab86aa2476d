-- End a full rebuild: the scanned figures plus what was committed meanwhile
-- replace the view in one step, and the view takes the epoch of the records
-- it was built from.
-- KEYS: 1 agg, 2 agg new, 3 agg delta, 4 days, 5 days new, 6 days delta,
--       7 applied during the rebuild, 8 rebuild state, 9 epoch, 10 lease,
--       11 legacy counted-id set
-- ARGV: 1 epoch, 2 changed channel, 3 lease owner
if redis.call('GET', KEYS[10]) ~= ARGV[3] then
  return redis.error_reply('rebuild lease lost')
end
local function merge(delta, into)
  local kv = redis.call('HGETALL', delta)
  for i = 1, #kv, 2 do
    redis.call('HINCRBY', into, kv[i], kv[i + 1])
  end
end
merge(KEYS[3], KEYS[2])
merge(KEYS[6], KEYS[5])
local old = tonumber(redis.call('HGET', KEYS[1], 'updated_at') or '0')
local new = tonumber(redis.call('HGET', KEYS[2], 'updated_at') or '0')
if old > new then
  redis.call('HSET', KEYS[2], 'updated_at', old)
end
redis.call('HSETNX', KEYS[2], 'total', 0)
redis.call('RENAME', KEYS[2], KEYS[1])
if redis.call('EXISTS', KEYS[5]) == 1 then
  redis.call('RENAME', KEYS[5], KEYS[4])
else
  redis.call('DEL', KEYS[4])
end
redis.call('DEL', KEYS[3], KEYS[6], KEYS[7], KEYS[8], KEYS[10], KEYS[11])
redis.call('SET', KEYS[9], ARGV[1])
redis.call('PUBLISH', ARGV[2], redis.call('HGET', KEYS[1], 'total'))
return redis.call('HGET', KEYS[1], 'total')
