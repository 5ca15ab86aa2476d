-- Count records into the view, each id at most once.
-- KEYS: agg hash, counted set, latest list, this second's rate counter.
-- ARGV: now_ms, changed channel, mode ("live" or "rebuild"),
--       then 7 per record: id, department code, vaccine, dose, age band, route, latest JSON.
local agg, counted, latest, rate = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local live = ARGV[3] == 'live'
local n = 0
local fresh = {}
for i = 4, #ARGV, 7 do
  if redis.call('SADD', counted, ARGV[i]) == 1 then
    local dose = ARGV[i + 3]
    redis.call('HINCRBY', agg, 'total', 1)
    redis.call('HINCRBY', agg, 'd:' .. ARGV[i + 1] .. ':' .. dose, 1)
    redis.call('HINCRBY', agg, 'v:' .. ARGV[i + 2], 1)
    redis.call('HINCRBY', agg, 'n:' .. dose, 1)
    redis.call('HINCRBY', agg, 'a:' .. ARGV[i + 4], 1)
    redis.call('HINCRBY', agg, 'r:' .. ARGV[i + 5], 1)
    n = n + 1
    if live and ARGV[i + 6] ~= '' then
      fresh[#fresh + 1] = ARGV[i + 6]
    end
  end
end
if n > 0 and live then
  local from = math.max(1, #fresh - 4)
  for j = from, #fresh do
    redis.call('LPUSH', latest, fresh[j])
  end
  redis.call('LTRIM', latest, 0, 4)
  redis.call('INCRBY', rate, n)
  redis.call('EXPIRE', rate, 120)
  redis.call('HSET', agg, 'updated_at', ARGV[1])
  redis.call('PUBLISH', ARGV[2], redis.call('HGET', agg, 'total'))
end
return n
