"""User-group members read from Slack (``usergroups.users.list``, Tier 2), cached wherever gates read.

One :class:`GroupCache` holds the rule: members are reused for :data:`GROUP_TTL` seconds, and while
Slack fails transiently, members read earlier beat no members at all. The triggerer keeps one cache
per event loop for all its gates and clicks (:func:`group_members`); a sensor in poke or reschedule
mode keeps one for the pokes of its try (a rescheduled try starts a new process, so it reads again).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from airflow_slack_gate.core.pacing import GROUP_TTL
from airflow_slack_gate.hooks.errors import SlackGateError
from airflow_slack_gate.hooks.loops import PerLoop
from airflow_slack_gate.hooks.slack import SlackGateHook

__all__ = ["GROUP_TTL", "GroupCache", "group_members"]

_Entry = tuple[float, frozenset[str]]


class GroupCache:
    """Members of user groups per (connection, group), read at most once per :data:`GROUP_TTL`."""

    def __init__(self) -> None:
        self._read: dict[tuple[str, str], _Entry] = {}

    def members(self, hook: SlackGateHook, groups: Sequence[str]) -> frozenset[str]:
        """The members of ``groups`` (:meth:`SlackGateHook.expand_usergroups` when not fresh)."""
        members: set[str] = set()
        for group in groups:
            key, cached = self._lookup(hook, group)
            if cached is None or self._stale(cached):
                try:
                    cached = self._store(key, hook.expand_usergroups([group]))
                except SlackGateError as error:
                    cached = self._fall_back(hook, group, cached, error)
            members |= cached[1]
        return frozenset(members)

    async def amembers(self, hook: SlackGateHook, groups: Sequence[str]) -> frozenset[str]:
        """Async :meth:`members` (:meth:`SlackGateHook.aexpand_usergroups`)."""
        members: set[str] = set()
        for group in groups:
            key, cached = self._lookup(hook, group)
            if cached is None or self._stale(cached):
                try:
                    cached = self._store(key, await hook.aexpand_usergroups([group]))
                except SlackGateError as error:
                    cached = self._fall_back(hook, group, cached, error)
            members |= cached[1]
        return frozenset(members)

    def _lookup(self, hook: SlackGateHook, group: str) -> tuple[tuple[str, str], _Entry | None]:
        key = (hook.slack_conn_id, group)
        return key, self._read.get(key)

    @staticmethod
    def _stale(cached: _Entry) -> bool:
        return time.monotonic() - cached[0] > GROUP_TTL

    def _store(self, key: tuple[str, str], members: frozenset[str]) -> _Entry:
        entry = self._read[key] = (time.monotonic(), members)
        return entry

    @staticmethod
    def _fall_back(hook: SlackGateHook, group: str, cached: _Entry | None, error: SlackGateError) -> _Entry:
        """Slack is failing for a while: members read a few minutes ago beat no members at all."""
        if cached is None or error.is_permanent:
            raise error
        hook.log.warning(
            "Could not refresh the members of user group %s, using those read %.0fs ago: %s",
            group,
            time.monotonic() - cached[0],
            error,
        )
        return cached


_LOOP_CACHES: PerLoop[GroupCache] = PerLoop(GroupCache)


async def group_members(hook: SlackGateHook, groups: Sequence[str]) -> frozenset[str]:
    """Members of the user groups, read once per :data:`GROUP_TTL` per event loop for all gates."""
    cache = _LOOP_CACHES.get()
    return await cache.amembers(hook, groups)
