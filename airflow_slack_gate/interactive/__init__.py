"""One-click decisions: the ask's Approve / Reject buttons, and the two ways Slack delivers a click.

- :mod:`~airflow_slack_gate.core.payloads` reads Slack's ``block_actions`` and
  ``view_submission`` payloads into a :class:`~airflow_slack_gate.core.payloads.Click`.
- :mod:`~airflow_slack_gate.runtime.clicks` decides what a click does (record a vote, open the
  reject-reason modal, or tell the person why nothing changed) and does it through Slack.
- :mod:`~airflow_slack_gate.runtime.socket_mode` keeps ONE Socket Mode connection per app token
  per triggerer loop, acks every envelope at once, handles clicks and wakes the channel watchers on
  message and reaction events.
- :mod:`~airflow_slack_gate.interactive.http` is the Request URL endpoint (``/slack-gate/interactions``)
  that :mod:`~airflow_slack_gate.interactive.plugin` mounts on the Airflow API server.

Slack delivers a click to only one of an app's connections, so a click is made durable in Slack
itself: the receiver posts a thread reply by the gate's bot with ``airflow_slack_gate_vote`` message
metadata, which every reader of the thread counts (see
:func:`~airflow_slack_gate.core.protocol.recorded_votes`). Importing this package imports nothing heavy.
"""
