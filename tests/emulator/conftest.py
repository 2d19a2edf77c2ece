"""Fixtures for the emulator tests: real slack_sdk clients talking HTTP to `slack_emulator`."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.web.async_client import AsyncWebClient

from airflow_slack_gate.testing.emulator import DemoWorkspace, SlackEmulator


@pytest.fixture
def ws(slack_emulator: SlackEmulator) -> DemoWorkspace:
    """The seeded workspace's ids."""
    return slack_emulator.workspace


@pytest.fixture
def client(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> WebClient:
    """A sync WebClient with the seeded bot's token and no retry handlers."""
    return WebClient(token=ws.bot_token, base_url=slack_emulator.base_url, retry_handlers=[])


@pytest.fixture
def async_client(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> AsyncWebClient:
    """An AsyncWebClient with the seeded bot's token and no retry handlers."""
    return AsyncWebClient(token=ws.bot_token, base_url=slack_emulator.base_url, retry_handlers=[])
