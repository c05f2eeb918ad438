"""Load and fault runs (issue 7, "Nothing lost under load and faults").

Plain scripts, not pytest tests: `tests/load/run_load.py` drives gunicorn on 127.0.0.1 with
concurrent respondents, stops PostgreSQL in the middle, closes a wave mid-survey, and checks
that every submission is stored exactly once. `.ci/load_and_faults.sh` runs it with `--short`.
See docs/operations.md, "Behaviour under load and faults".
"""
