-- A memory-hungry Lua workload for pagescope (programs/runs.txt): each round builds an array of
-- 100,000 integers, a hash table of 25,000 keys holding small tables and strings, and one large
-- string grown by concatenation, then drops them all and collects, so the heap grows by several
-- MiB and shrinks again three times. It prints only values that depend on the script alone (no
-- addresses, times or table traversal orders), so its output is the same on every run.
local ROUNDS, ARRAY_LENGTH, HASH_KEYS = 3, 100000, 25000

local function build_round(round)
  local array = {}
  for i = 1, ARRAY_LENGTH do array[i] = i * round end
  local hash = {}
  for i = 1, HASH_KEYS do hash["key" .. i] = { i, tostring(i * round) } end
  local pieces = {}
  for i = 1, HASH_KEYS do pieces[i] = hash["key" .. i][2] end
  local joined = table.concat(pieces, ",")
  return array, hash, joined
end

local total = 0
for round = 1, ROUNDS do
  local array, hash, joined = build_round(round)
  local sum = 0
  for i = 1, ARRAY_LENGTH do sum = sum + array[i] end
  local digits = 0
  for i = 1, HASH_KEYS do digits = digits + #hash["key" .. i][2] end
  print(string.format("round %d: array sum %d, digits %d, joined length %d", round, sum, digits, #joined))
  total = total + sum
  array, hash, joined = nil, nil, nil
  collectgarbage("collect")
end
print(string.format("total %d", total))
