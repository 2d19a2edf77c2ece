"""Airflow notifiers: ``SlackHITLNotifier`` asks Airflow's own HITL requests in Slack."""
