-- wrk script for the notes API: `wrk -s notes.lua URL -- READ_PERCENT`.
-- Reads: 80 % GET /notes/{random id}, 20 % GET /notes?after=N&limit=20.
-- Writes: half POST /notes, half PUT /notes/{random id}.
local read_pct = 100
local counter = 0
local headers = { ["Content-Type"] = "application/json" }

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

function init(args)
  read_pct = tonumber(args[1]) or 100
  math.randomseed(os.time() * 1000 + (tid or 0))
end

function request()
  if math.random(100) <= read_pct then
    if math.random(10) <= 8 then
      return wrk.format("GET", "/notes/" .. math.random(1, 10000))
    end
    return wrk.format("GET", "/notes?after=" .. math.random(0, 9980) .. "&limit=20")
  end
  local body = '{"title":"t' .. math.random(1, 1000000) .. '","body":"written by wrk ' .. math.random(1, 1000000) .. '"}'
  if math.random(2) == 1 then
    return wrk.format("POST", "/notes", headers, body)
  end
  return wrk.format("PUT", "/notes/" .. math.random(1, 10000), headers, body)
end
