"""The test kit: the Slack emulator, its pytest plugin, and the real-Airflow runner of the demo and the
end-to-end tests. Shipped in the wheel for users' own tests; nothing outside this package imports it."""
