"""The demo's DAG folder, shipped in the package so ``airflow-slack-gate demo`` runs from a pip install
(``example_dags/slack_approve_deploy.py`` of a checkout links to the file here)."""
