"""Demo data and its commands: ``seed_demo`` (users, accounts, contracts, assignments;
``demo.accounts``) and ``seed_demo_workspace`` (segments, playbooks and the renewal queue
on top; ``demo.workspace``). Top of the dependency graph: it may use every app, and no
app imports it."""
