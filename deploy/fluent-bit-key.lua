-- Fluent Bit Lua filter: set `vigil_key` (the Kafka message key) to the caller identity of a Vault
-- audit line, without parsing or re-serialising the line: auth.entity_id, else auth.display_name,
-- else request.remote_address. Vault writes the "auth" object before "request", so the first
-- "entity_id"/"display_name" in the line is the caller's. Lines without any get no key.

local function field(line, name)
  local value = string.match(line, '"' .. name .. '"%s*:%s*"([^"]+)"')
  if value ~= nil and value ~= '' then
    return value
  end
  return nil
end

function vigil_key(tag, timestamp, record)
  local line = record['log']
  if type(line) ~= 'string' then
    return 0, timestamp, record
  end
  local key = field(line, 'entity_id') or field(line, 'display_name') or field(line, 'remote_address')
  if key == nil then
    return 0, timestamp, record
  end
  record['vigil_key'] = key
  -- 2: record modified, timestamp unchanged.
  return 2, timestamp, record
end
