-- Commit one sink batch to the view: count its records once, atomically with
-- removing the batch's intent. A batch whose intent is gone was committed
-- already (by its sink or by the repair) and counts nothing.
-- KEYS: 1 agg, 2 latest, 3 rate counter of this second, 4 days, 5 pending,
--       6 rebuild state, 7 agg delta, 8 days delta, 9 batches applied during a rebuild
-- ARGV: 1 now_ms, 2 changed channel, 3 batch id, 4 records counted,
--       5 number of agg (field, increment) pairs, 6 number of day pairs,
--       7 latest kept, 8 seconds a rate counter lives, 9 records counted in
--       the public figures (not test records: the rate), then the agg pairs,
--       the day pairs, and the latest records' JSON, oldest first.
if redis.call('HDEL', KEYS[5], ARGV[3]) == 0 then
  return -1
end
local n = tonumber(ARGV[4])
if n == 0 then
  return 0
end
local rebuilding = redis.call('HEXISTS', KEYS[6], 'started') == 1
local na, nd = tonumber(ARGV[5]), tonumber(ARGV[6])
local i = 10
for _ = 1, na do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
  if rebuilding then
    redis.call('HINCRBY', KEYS[7], ARGV[i], ARGV[i + 1])
  end
  i = i + 2
end
for _ = 1, nd do
  redis.call('HINCRBY', KEYS[4], ARGV[i], ARGV[i + 1])
  if rebuilding then
    redis.call('HINCRBY', KEYS[8], ARGV[i], ARGV[i + 1])
  end
  i = i + 2
end
if rebuilding then
  redis.call('SADD', KEYS[9], ARGV[3])
end
if i <= #ARGV then
  for j = i, #ARGV do
    redis.call('LPUSH', KEYS[2], ARGV[j])
  end
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[7]) - 1)
end
redis.call('INCRBY', KEYS[3], tonumber(ARGV[9]))
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[8]))
if tonumber(ARGV[9]) > 0 then
  redis.call('HSET', KEYS[1], 'updated_at', ARGV[1])
end
redis.call('PUBLISH', ARGV[2], redis.call('HGET', KEYS[1], 'total'))
return n
