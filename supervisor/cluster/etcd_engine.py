"""The etcd engine: the v3 gRPC-gateway JSON API over one keep-alive HTTP connection.

Plain `http.client` rather than a client library: the five calls used here (range, txn,
lease grant, keepalive, revoke) are a few lines each, and it keeps the etcd extra free of
dependencies (see docs/scaling.md for the measurement).

The lease is the key `lease`; its fencing epoch is the key's create_revision, which etcd
makes globally unique and increasing, so a key taken over is deleted and created anew.
etcd's own leases cannot be shorter than about two seconds and expire only in coarse
steps, so the holder's liveness is its renewals: followers take over after a full lease
without a new revision, timed on their own clocks (`SilenceWatch`). Schedule records are
JSON values updated by compare-and-swap on their mod_revision.
"""

from __future__ import annotations

import base64
import http.client
import json
import math
from typing import Any

from supervisor.cluster.engine import ClaimResult, EngineError
from supervisor.cluster.lease import Grant, SilenceWatch
from supervisor.cluster.slots import ScheduleRecord, first_claim
from supervisor.config.cluster import ClusterConfig

_RELEASED = ""
_MEMBER_TTL_MIN = 2  # etcd's smallest lease with its default election timeout


def _b64(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return base64.b64encode(data).decode()


def _unb64(text: str | None) -> bytes:
    return base64.b64decode(text or "")


def _prefix_end(prefix: str) -> str:
    data = bytearray(prefix.encode())
    data[-1] += 1
    return _b64(bytes(data))


class EtcdEngine:
    def __init__(self, config: ClusterConfig) -> None:
        assert config.name
        self.host, self.port, self.timeout = config.host, config.port, config.timeout
        self.prefix = f"/zmq-supervisor/{config.name}/"
        self.watch = SilenceWatch(config.lease)
        self.conn: http.client.HTTPConnection | None = None
        self.records: dict[str, tuple[int, ScheduleRecord | None]] = {}
        self.member_lease: int | None = None

    # --- transport ---

    def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self.conn.request("POST", path, json.dumps(body),
                              {"Content-Type": "application/json"})
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise EngineError(f"etcd: {type(exc).__name__}: {exc}") from None
        try:
            reply = json.loads(data)
        except ValueError:
            reply = None
        if response.status != 200 or not isinstance(reply, dict):
            raise EngineError(f"etcd: {path}: HTTP {response.status}: {data[:200]!r}")
        return reply

    def _key(self, *parts: str) -> str:
        return self.prefix + "/".join(parts)

    def _range(self, key: str) -> dict[str, Any] | None:
        kvs = self._call("/v3/kv/range", {"key": _b64(key)}).get("kvs") or []
        return kvs[0] if kvs else None

    def _txn(self, compare: list, success: list, failure: list | None = None) -> dict:
        return self._call("/v3/kv/txn", {"compare": compare, "success": success,
                                         "failure": failure or []})

    @staticmethod
    def _put(key: str, value: str, lease: int | None = None) -> dict:
        put = {"key": _b64(key), "value": _b64(value)}
        if lease:
            put["lease"] = str(lease)
        return {"request_put": put}

    # --- the lease ---

    def acquire(self, node: str, epoch: int | None, now: float) -> Grant:
        key = self._key("lease")
        if epoch:
            renewed = self._txn([_cmp(key, "create_revision", epoch),
                                 _cmp(key, "value", _b64(node))],
                                [self._put(key, node)])
            if renewed.get("succeeded"):
                return Grant(node, epoch, True)
        current = self._range(key)
        if current is None:
            return self._create(key, node)
        holder = _unb64(current.get("value")).decode()
        created, revision = int(current["create_revision"]), int(current["mod_revision"])
        if holder == node and epoch is None:
            return self.acquire(node, created, now)  # ours from before a restart
        self.watch.observe(revision, now)
        if holder == _RELEASED or self.watch.silent(now):
            gone = self._txn([_cmp(key, "mod_revision", revision)],
                             [{"request_delete_range": {"key": _b64(key)}}])
            self.watch.forget()
            if gone.get("succeeded"):
                return self._create(key, node)
            return Grant(None, created, False, 0.0)
        # Look again soon: silence is timed from when we saw the last write, so a
        # follower that looks more often than the holder renews takes over sooner.
        return Grant(holder, created, False, min(self.watch.takeover_in(now),
                                                 self.watch.lease / 6))

    def _create(self, key: str, node: str) -> Grant:
        made = self._txn([_cmp(key, "create_revision", 0)], [self._put(key, node)])
        if made.get("succeeded"):
            return Grant(node, int(made["header"]["revision"]), True)
        return Grant(None, 0, False, 0.0)

    def resign(self, node: str, epoch: int) -> bool:
        key = self._key("lease")
        done = self._txn([_cmp(key, "create_revision", epoch),
                          _cmp(key, "value", _b64(node))], [self._put(key, _RELEASED)])
        return bool(done.get("succeeded"))

    # --- claims ---

    def _record(self, schedule: str, fresh: bool) -> tuple[int, ScheduleRecord | None]:
        """The schedule's record and its mod_revision (0: none), from our cache unless `fresh`."""
        if fresh or schedule not in self.records:
            kv = self._range(self._key("schedules", schedule))
            record = None if kv is None else ScheduleRecord.from_dict(
                json.loads(_unb64(kv.get("value"))))
            self.records[schedule] = (0 if kv is None else int(kv["mod_revision"]), record)
        return self.records[schedule]

    def _swap(self, schedule: str, revision: int, record: ScheduleRecord,
              fence: tuple[str, int] | None) -> bool:
        """Write `record` if the stored one is still at `revision` (and, with `fence`, the
        lease still has that holder and epoch); remember the new revision."""
        key = self._key("schedules", schedule)
        compare = [_cmp(key, "mod_revision", revision)]
        if fence is not None:
            lease = self._key("lease")
            compare += [_cmp(lease, "create_revision", fence[1]),
                        _cmp(lease, "value", _b64(fence[0]))]
        done = self._txn(compare, [self._put(key, json.dumps(record.as_dict()))])
        if done.get("succeeded"):
            self.records[schedule] = (int(done["header"]["revision"]), record)
            return True
        self.records.pop(schedule, None)
        return False

    def claim(self, schedule: str, slot: int, node: str, epoch: int,
              outage_slot: int) -> ClaimResult:
        for fresh in (False, True):
            revision, record = self._record(schedule, fresh)
            if record is None:
                updated, missed, reason = first_claim(slot, node, epoch), 0, ""
            else:
                updated, missed, reason = record.claim(slot, node, epoch, outage_slot)
                if updated is None:
                    return ClaimResult("taken", record.first)
            if self._swap(schedule, revision, updated, (node, epoch)):
                return ClaimResult("won", updated.first, missed, reason)
            lease = self._range(self._key("lease"))
            if lease is None or int(lease["create_revision"]) != epoch or \
                    _unb64(lease.get("value")).decode() != node:
                return ClaimResult("fenced")
        return ClaimResult("taken", 0)

    def confirm(self, schedule: str, slot: int, node: str, epoch: int) -> bool:
        for fresh in (False, True):
            revision, record = self._record(schedule, fresh)
            updated = None if record is None else record.confirm(slot, node, epoch)
            if updated is None:
                if fresh:
                    return False
                continue
            if self._swap(schedule, revision, updated, None):
                return True
        return False

    def schedules(self) -> dict[str, ScheduleRecord]:
        prefix = self._key("schedules", "")
        reply = self._call("/v3/kv/range", {"key": _b64(prefix), "range_end": _prefix_end(prefix)})
        out = {}
        for kv in reply.get("kvs") or []:
            name = _unb64(kv["key"]).decode()[len(prefix):]
            try:
                out[name] = ScheduleRecord.from_dict(json.loads(_unb64(kv.get("value"))))
            except ValueError:
                continue
        return out

    # --- members ---

    def put_member(self, node: str, record: dict[str, Any], ttl: float) -> None:
        for _ in range(2):
            if self.member_lease is None:
                granted = self._call("/v3/lease/grant",
                                     {"TTL": str(max(_MEMBER_TTL_MIN, math.ceil(ttl)))})
                self.member_lease = int(granted["ID"])
            else:
                alive = self._call("/v3/lease/keepalive", {"ID": str(self.member_lease)})
                if int((alive.get("result") or alive).get("TTL", 0)) <= 0:
                    self.member_lease = None
                    continue
            self._txn([], [self._put(self._key("members", node), json.dumps(record),
                                     self.member_lease)])
            return

    def members(self) -> list[dict[str, Any]]:
        prefix = self._key("members", "")
        reply = self._call("/v3/kv/range", {"key": _b64(prefix), "range_end": _prefix_end(prefix)})
        out = []
        for kv in reply.get("kvs") or []:
            try:
                record = json.loads(_unb64(kv.get("value")))
            except ValueError:
                continue
            if isinstance(record, dict):
                out.append(record)
        return out

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


_TARGETS = {"value": "VALUE", "create_revision": "CREATE", "mod_revision": "MOD"}


def _cmp(key: str, field: str, value: Any) -> dict[str, Any]:
    """One txn equality test; `value` is base64 for `value`, else a revision."""
    return {"key": _b64(key), "result": "EQUAL", "target": _TARGETS[field],
            field: value if field == "value" else str(value)}
