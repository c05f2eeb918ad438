"""The load scripts are run by .ci/load_and_faults.sh, never collected by the normal pytest run
(they need their own database, gunicorn, and permission to stop PostgreSQL)."""

collect_ignore_glob = ["*.py"]
