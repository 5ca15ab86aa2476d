-- For a full rebuild's scan: which batches must the scan leave out?
-- A batch still pending will be counted by its commit; a batch committed
-- since the rebuild started is in the delta already. Every other batch was
-- counted before the rebuild started and is counted by the scan.
-- KEYS: 1 pending, 2 batches applied during the rebuild
-- ARGV: batch ids. Returns 1 (leave out) or 0 (count) for each.
local out = {}
for i = 1, #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 or redis.call('SISMEMBER', KEYS[2], ARGV[i]) == 1 then
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
