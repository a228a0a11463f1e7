"""The Redis engine: every operation is one Lua script, so each runs atomically on the server.

Keys share the hash tag `{name}` so the scripts also run on Redis Cluster. The lease is
a key `EPOCH:NODE` with a millisecond expiry that the server enforces; the epoch comes
from a counter that only grows (INCR), so a new holder always fences the old one out.
"""

from __future__ import annotations

import json
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from supervisor.cluster.engine import ClaimResult, EngineError
from supervisor.cluster.lease import Grant
from supervisor.cluster.slots import MISSED_REASONS, ScheduleRecord
from supervisor.config.cluster import ClusterConfig

# KEYS lease, epoch counter; ARGV node, lease ms, our epoch or 0.
_ACQUIRE = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local epoch, holder = string.match(cur, '^(%d+):(.*)$')
  if holder == ARGV[1] and (ARGV[3] == '0' or ARGV[3] == epoch) then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {1, tonumber(epoch), holder, -1}
  end
  return {0, tonumber(epoch), holder, redis.call('PTTL', KEYS[1])}
end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], epoch .. ':' .. ARGV[1], 'PX', ARGV[2])
return {1, epoch, ARGV[1], -1}
"""
# KEYS lease; ARGV node, epoch.
_RESIGN = """
if redis.call('GET', KEYS[1]) == ARGV[2] .. ':' .. ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
# KEYS lease, schedule record, schedule names; ARGV node, epoch, slot, outage slot, schedule.
# The same rule as ScheduleRecord.claim, in Lua.
_CLAIM = """
if redis.call('GET', KEYS[1]) ~= ARGV[2] .. ':' .. ARGV[1] then return {'fenced'} end
local slot = tonumber(ARGV[3])
local rec = redis.call('HMGET', KEYS[2], 'last', 'epoch', 'confirmed', 'first')
local last = tonumber(rec[1])
if last == nil then
  redis.call('HSET', KEYS[2], 'first', slot, 'last', slot, 'epoch', ARGV[2], 'node', ARGV[1],
             'fired', 0, 'confirmed', -1)
  redis.call('SADD', KEYS[3], ARGV[5])
  return {'won', slot, 0, ''}
end
if last >= slot then return {'taken', tonumber(rec[4])} end
local missed = slot - last - 1
if tonumber(rec[3]) ~= last then missed = missed + 1 end
local reason
if tonumber(ARGV[4]) > last then reason = 'no_lease'
elseif rec[2] == ARGV[2] then reason = 'late'
else reason = 'failover' end
if missed > 0 then redis.call('HINCRBY', KEYS[2], 'missed_' .. reason, missed) end
redis.call('HSET', KEYS[2], 'last', slot, 'epoch', ARGV[2], 'node', ARGV[1])
return {'won', tonumber(rec[4]), missed, reason}
"""
# KEYS schedule record; ARGV node, epoch, slot.
_CONFIRM = """
local rec = redis.call('HMGET', KEYS[1], 'last', 'epoch', 'node', 'confirmed')
if rec[1] == ARGV[3] and rec[2] == ARGV[2] and rec[3] == ARGV[1] and rec[4] ~= ARGV[3] then
  redis.call('HSET', KEYS[1], 'confirmed', ARGV[3])
  redis.call('HINCRBY', KEYS[1], 'fired', 1)
  return 1
end
return 0
"""
# KEYS members, expiries; ARGV node, record json (or '' to only read), ttl ms.
_MEMBERS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  redis.call('HDEL', KEYS[1], gone)
  redis.call('ZREM', KEYS[2], gone)
end
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
  return {}
end
return redis.call('HVALS', KEYS[1])
"""


class RedisEngine:
    def __init__(self, config: ClusterConfig) -> None:
        assert config.name
        self.lease_ms = max(1, round(config.lease * 1000))
        self.prefix = f"zs:{{{config.name}}}:"
        # No library retries: a timed-out call is reported at once and the next one reconnects.
        self.client = redis.Redis(host=config.host, port=config.port, db=config.db,
                                  socket_timeout=config.timeout,
                                  socket_connect_timeout=config.timeout,
                                  retry=Retry(NoBackoff(), 0), protocol=2)
        self.scripts = {name: self.client.register_script(body) for name, body in
                        (("acquire", _ACQUIRE), ("resign", _RESIGN), ("claim", _CLAIM),
                         ("confirm", _CONFIRM), ("members", _MEMBERS))}

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        try:
            return self.scripts[name](keys=keys, args=args)
        except redis.RedisError as exc:
            self.client.connection_pool.disconnect()
            raise EngineError(f"redis: {type(exc).__name__}: {exc}") from None

    def acquire(self, node: str, epoch: int | None, now: float) -> Grant:
        mine, current, holder, pttl = self._run(
            "acquire", [self._key("lease"), self._key("epoch")], [node, self.lease_ms, epoch or 0])
        retry = None if pttl < 0 else pttl / 1000
        return Grant(holder=_text(holder), epoch=int(current), mine=bool(mine), retry_in=retry)

    def resign(self, node: str, epoch: int) -> bool:
        return bool(self._run("resign", [self._key("lease")], [node, epoch]))

    def claim(self, schedule: str, slot: int, node: str, epoch: int,
              outage_slot: int) -> ClaimResult:
        reply = self._run("claim", [self._key("lease"), self._key("schedule", schedule),
                                    self._key("schedules")],
                          [node, epoch, slot, outage_slot, schedule])
        result = _text(reply[0])
        if result == "won":
            return ClaimResult("won", int(reply[1]), int(reply[2]), _text(reply[3]))
        return ClaimResult(result, int(reply[1]) if len(reply) > 1 else 0)

    def confirm(self, schedule: str, slot: int, node: str, epoch: int) -> bool:
        return bool(self._run("confirm", [self._key("schedule", schedule)], [node, epoch, slot]))

    def put_member(self, node: str, record: dict[str, Any], ttl: float) -> None:
        self._run("members", [self._key("members"), self._key("member-expiry")],
                  [node, json.dumps(record), max(1, round(ttl * 1000))])

    def members(self) -> list[dict[str, Any]]:
        values = self._run("members", [self._key("members"), self._key("member-expiry")],
                           ["", "", 0])
        return [record for value in values if isinstance(record := _json(value), dict)]

    def schedules(self) -> dict[str, ScheduleRecord]:
        try:
            names = sorted(_text(n) for n in self.client.smembers(self._key("schedules")))
            out = {}
            for name in names:
                raw = {_text(k): _text(v) for k, v in
                       self.client.hgetall(self._key("schedule", name)).items()}
                missed = {r: raw.get(f"missed_{r}", 0) for r in MISSED_REASONS}
                out[name] = ScheduleRecord.from_dict({**raw, "missed": missed})
            return out
        except redis.RedisError as exc:
            raise EngineError(f"redis: {type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        self.client.close()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _json(value: Any) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return None
